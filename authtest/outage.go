package authtest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// Outage takes the user store of a TestOutage run down and brings it back:
// stop its server or cut its connection, then restore it. Up returns once
// the store answers again.
type Outage struct {
	Down func(t *testing.T)
	Up   func(t *testing.T)
}

// TestOutage checks that an outage of the user store locks nobody out:
// with the store down, twice the lockout threshold of logins with the
// right password fail as unavailable, never as locked, and once the store
// is back the next login succeeds; with Stores.ActionTokens, password-reset
// requests that sent nothing do not spend the per-address limit either. Judged attempts still count: wrong
// passwords lock the account as before. limiter is the Limiter under test
// (nil: the Authenticator's own). A nil outage simulates one by making
// st.Users fail with auth.ErrUnavailable.
func TestOutage(t *testing.T, st Stores, limiter auth.Limiter, outage *Outage) {
	ctx := context.Background()
	if outage == nil {
		down := &downUsers{UserStore: st.Users}
		st.Users = down
		outage = &Outage{Down: func(*testing.T) { down.down.Store(true) }, Up: func(*testing.T) { down.down.Store(false) }}
	}
	lockout := auth.Limit{Burst: 5, Period: time.Hour}
	box := &Outbox{}
	cfg := auth.Config{Limiter: limiter, Limits: auth.Limits{LoginPerAccount: lockout}}
	if st.ActionTokens != nil {
		cfg.ActionTokens, cfg.Notifier = st.ActionTokens, box
	}
	a := NewAuthenticator(t, st, nil, cfg)
	login := func(email, pw string) error {
		_, _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: pw})
		return err
	}

	t.Run("RightPasswordDuringOutage", func(t *testing.T) {
		email := randomEmail()
		_, err := a.Register(ctx, auth.RegisterRequest{Email: email, Password: password})
		require.NoError(t, err)
		outage.Down(t)
		for i := range 2 * lockout.Burst {
			err := login(email, password)
			require.ErrorIs(t, err, auth.ErrUnavailable, "attempt %d during the outage", i+1)
			require.NotErrorIs(t, err, auth.ErrRateLimited, "attempt %d: an outage is no judged failure", i+1)
		}
		outage.Up(t)
		require.NoError(t, login(email, password), "the owner signs in as soon as the store is back")
	})

	resetRequests := func(t *testing.T) {
		email := randomEmail()
		_, err := a.Register(ctx, auth.RegisterRequest{Email: email, Password: password})
		require.NoError(t, err)
		outage.Down(t)
		for i := range 5 { // the per-address limit is 3 an hour
			require.ErrorIs(t, a.RequestPasswordReset(ctx, email, auth.ClientInfo{}), auth.ErrUnavailable, "request %d", i+1)
		}
		outage.Up(t)
		require.NoError(t, a.RequestPasswordReset(ctx, email, auth.ClientInfo{}), "a request that sent nothing costs nothing")
		_, ok := box.Last(email, auth.MessageResetPassword)
		require.True(t, ok)
	}
	if st.ActionTokens != nil {
		t.Run("ResetRequestsDuringOutage", resetRequests)
	}

	t.Run("WrongPasswordsStillLock", func(t *testing.T) {
		email := randomEmail()
		_, err := a.Register(ctx, auth.RegisterRequest{Email: email, Password: password})
		require.NoError(t, err)
		outage.Down(t)
		for range 2 * lockout.Burst {
			require.ErrorIs(t, login(email, "wrong "+password), auth.ErrUnavailable)
		}
		outage.Up(t)
		for i := range lockout.Burst {
			require.ErrorIs(t, login(email, "wrong "+password), auth.ErrInvalidCredentials, "judged attempt %d", i+1)
		}
		var rl *auth.RateLimitError
		require.ErrorAs(t, login(email, password), &rl, "judged failures lock the account")
	})
}

// downUsers is a UserStore that answers auth.ErrUnavailable while down.
type downUsers struct {
	auth.UserStore
	down atomic.Bool
}

var errStoreDown = errors.Join(errors.New("authtest: user store is down"), auth.ErrUnavailable)

func (d *downUsers) User(ctx context.Context, id string) (*auth.User, error) {
	if d.down.Load() {
		return nil, errStoreDown
	}
	return d.UserStore.User(ctx, id)
}

func (d *downUsers) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	if d.down.Load() {
		return nil, errStoreDown
	}
	return d.UserStore.UserByEmail(ctx, email)
}

func (d *downUsers) UpdateUser(ctx context.Context, tenantID, id string, u auth.UserUpdate) (*auth.User, error) {
	if d.down.Load() {
		return nil, errStoreDown
	}
	return d.UserStore.UpdateUser(ctx, tenantID, id, u)
}
