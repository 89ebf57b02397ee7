package authtest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// Outbox is a Notifier that keeps every message, for tests.
type Outbox struct {
	mu   sync.Mutex
	msgs []auth.Message
}

// Notify implements auth.Notifier.
func (o *Outbox) Notify(_ context.Context, m auth.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

// Messages returns the messages sent to an address, oldest first.
func (o *Outbox) Messages(to string) []auth.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []auth.Message
	for _, m := range o.msgs {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// Last returns the newest message of the kind sent to an address.
func (o *Outbox) Last(to string, kind auth.MessageKind) (auth.Message, bool) {
	msgs := o.Messages(to)
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Kind == kind {
			return msgs[i], true
		}
	}
	return auth.Message{}, false
}

// TestActionTokenStore checks the ActionTokenStore contract: look-up by
// purpose and hash, single use under concurrency, expiry, and deletion of
// a user's tokens of one purpose.
func TestActionTokenStore(t *testing.T, st Stores) {
	ctx := context.Background()
	tokens := st.ActionTokens
	newUser := func(t *testing.T) *auth.User {
		t.Helper()
		n := now()
		u := &auth.User{ID: newID(), TenantID: auth.DefaultTenantID, Email: randomEmail(), PasswordHash: "x", Role: auth.RoleViewer, Active: true, CreatedAt: n, UpdatedAt: n, Meta: json.RawMessage(`{}`)}
		require.NoError(t, st.Users.CreateUser(ctx, u))
		return u
	}
	newToken := func(t *testing.T, userID string, p auth.Purpose, ttl time.Duration) *auth.ActionToken {
		t.Helper()
		n := now()
		tok := &auth.ActionToken{Hash: randomHash(), Purpose: p, UserID: userID, Email: randomEmail(), CreatedAt: n, ExpiresAt: n.Add(ttl)}
		require.NoError(t, tokens.CreateActionToken(ctx, tok))
		return tok
	}

	t.Run("LookupAndConsume", func(t *testing.T) {
		u := newUser(t)
		tok := newToken(t, u.ID, auth.PurposeResetPassword, time.Hour)
		got, err := tokens.ActionToken(ctx, auth.PurposeResetPassword, tok.Hash, now())
		require.NoError(t, err)
		require.Equal(t, tok.UserID, got.UserID)
		require.Equal(t, tok.Email, got.Email)
		require.Equal(t, tok.Hash, got.Hash)
		require.WithinDuration(t, tok.ExpiresAt, got.ExpiresAt, time.Millisecond)
		_, err = tokens.ActionToken(ctx, auth.PurposeVerifyEmail, tok.Hash, now())
		require.ErrorIs(t, err, auth.ErrInvalidToken, "another purpose")
		_, err = tokens.ActionToken(ctx, auth.PurposeResetPassword, randomHash(), now())
		require.ErrorIs(t, err, auth.ErrInvalidToken, "unknown")

		got, err = tokens.ConsumeActionToken(ctx, auth.PurposeResetPassword, tok.Hash, now())
		require.NoError(t, err)
		require.Equal(t, tok.UserID, got.UserID)
		_, err = tokens.ConsumeActionToken(ctx, auth.PurposeResetPassword, tok.Hash, now())
		require.ErrorIs(t, err, auth.ErrInvalidToken, "single use")
		_, err = tokens.ActionToken(ctx, auth.PurposeResetPassword, tok.Hash, now())
		require.ErrorIs(t, err, auth.ErrInvalidToken)
	})

	t.Run("Expiry", func(t *testing.T) {
		u := newUser(t)
		tok := newToken(t, u.ID, auth.PurposeVerifyEmail, time.Minute)
		_, err := tokens.ActionToken(ctx, auth.PurposeVerifyEmail, tok.Hash, tok.ExpiresAt)
		require.ErrorIs(t, err, auth.ErrInvalidToken)
		_, err = tokens.ConsumeActionToken(ctx, auth.PurposeVerifyEmail, tok.Hash, tok.ExpiresAt.Add(time.Second))
		require.ErrorIs(t, err, auth.ErrInvalidToken)
		_, err = tokens.ConsumeActionToken(ctx, auth.PurposeVerifyEmail, tok.Hash, now())
		require.NoError(t, err, "still valid before its expiry")
	})

	t.Run("ConsumeOnce", func(t *testing.T) {
		u := newUser(t)
		tok := newToken(t, u.ID, auth.PurposeChangeEmail, time.Hour)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 20 {
			wg.Go(func() {
				_, err := tokens.ConsumeActionToken(ctx, auth.PurposeChangeEmail, tok.Hash, now())
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else {
					require.ErrorIs(t, err, auth.ErrInvalidToken)
				}
			})
		}
		wg.Wait()
		require.Equal(t, 1, wins)
	})

	t.Run("DeleteByUserAndPurpose", func(t *testing.T) {
		u, other := newUser(t), newUser(t)
		a1 := newToken(t, u.ID, auth.PurposeResetPassword, time.Hour)
		a2 := newToken(t, u.ID, auth.PurposeResetPassword, time.Hour)
		keep := newToken(t, u.ID, auth.PurposeVerifyEmail, time.Hour)
		theirs := newToken(t, other.ID, auth.PurposeResetPassword, time.Hour)
		decoy := newToken(t, "", auth.PurposeResetPassword, time.Hour)
		require.NoError(t, tokens.DeleteActionTokens(ctx, u.ID, auth.PurposeResetPassword))
		for _, gone := range []*auth.ActionToken{a1, a2} {
			_, err := tokens.ActionToken(ctx, gone.Purpose, gone.Hash, now())
			require.ErrorIs(t, err, auth.ErrInvalidToken)
		}
		for _, kept := range []*auth.ActionToken{keep, theirs, decoy} {
			_, err := tokens.ActionToken(ctx, kept.Purpose, kept.Hash, now())
			require.NoError(t, err)
		}
	})
}

// TestLifecycle runs the account-lifecycle flows over st (Tokens included):
// e-mail verification, password reset, password change and e-mail change,
// with expiry and reuse of their tokens.
func TestLifecycle(t *testing.T, st Stores) {
	ctx := context.Background()
	setup := func(t *testing.T, cfg auth.Config) (*auth.Authenticator, *Clock, *Outbox) {
		clock := NewClock(time.Now().UTC().Truncate(time.Millisecond))
		box := &Outbox{}
		cfg.ActionTokens, cfg.Notifier = st.ActionTokens, box
		return NewAuthenticator(t, st, clock, cfg), clock, box
	}
	register := func(t *testing.T, a *auth.Authenticator) *auth.User {
		t.Helper()
		u, err := a.Register(ctx, auth.RegisterRequest{Email: randomEmail(), Password: password})
		require.NoError(t, err)
		return u
	}
	login := func(a *auth.Authenticator, email, pw string) (*auth.TokenPair, error) {
		p, _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: pw})
		return p, err
	}

	t.Run("VerifyEmail", func(t *testing.T) {
		a, clock, box := setup(t, auth.Config{RequireVerifiedEmail: true})
		u := register(t, a)
		m, ok := box.Last(u.Email, auth.MessageVerifyEmail)
		require.True(t, ok, "registration sends a verification message")
		require.Equal(t, u.ID, m.UserID)
		require.NotEmpty(t, m.Token)
		_, err := login(a, u.Email, password)
		require.ErrorIs(t, err, auth.ErrEmailNotVerified)

		got, err := a.VerifyEmail(ctx, m.Token)
		require.NoError(t, err)
		require.True(t, got.Verified)
		_, err = login(a, u.Email, password)
		require.NoError(t, err, "verify, then log in")
		_, err = a.VerifyEmail(ctx, m.Token)
		require.ErrorIs(t, err, auth.ErrInvalidToken, "single use")
		require.NoError(t, a.RequestVerification(ctx, u.ID))
		require.Len(t, box.Messages(u.Email), 1, "a verified user is not sent another")

		u2 := register(t, a)
		first, _ := box.Last(u2.Email, auth.MessageVerifyEmail)
		require.NoError(t, a.RequestVerification(ctx, u2.ID))
		second, _ := box.Last(u2.Email, auth.MessageVerifyEmail)
		require.NotEqual(t, first.Token, second.Token)
		_, err = a.VerifyEmail(ctx, first.Token)
		require.ErrorIs(t, err, auth.ErrInvalidToken, "a new request replaces older tokens")
		clock.Advance(24*time.Hour + time.Second)
		_, err = a.VerifyEmail(ctx, second.Token)
		require.ErrorIs(t, err, auth.ErrInvalidToken, "expired")
		for _, bad := range []string{"", "x", first.Token[:40]} {
			_, err = a.VerifyEmail(ctx, bad)
			require.ErrorIs(t, err, auth.ErrInvalidToken)
		}
	})

	t.Run("PasswordReset", func(t *testing.T) {
		a, clock, box := setup(t, auth.Config{})
		u := register(t, a)
		old, err := login(a, u.Email, password)
		require.NoError(t, err)

		require.NoError(t, a.RequestPasswordReset(ctx, "Ghost-"+randomEmail(), auth.ClientInfo{}), "unknown addresses get the same answer")
		require.NoError(t, a.RequestPasswordReset(ctx, "not an email", auth.ClientInfo{}))
		require.NoError(t, a.RequestPasswordReset(ctx, upper(u.Email), auth.ClientInfo{}))
		m, ok := box.Last(u.Email, auth.MessageResetPassword)
		require.True(t, ok)

		require.ErrorIs(t, a.ResetPassword(ctx, m.Token, "password1"), auth.ErrPasswordCommon)
		const fresh = "a brand new passphrase for kate"
		require.NoError(t, a.ResetPassword(ctx, m.Token, fresh), "a rejected password did not use up the token")
		require.ErrorIs(t, a.ResetPassword(ctx, m.Token, fresh+"!"), auth.ErrInvalidToken, "single use")

		_, err = a.Authenticate(ctx, old.AccessToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked, "every old access token dies")
		_, err = a.Refresh(ctx, auth.RefreshRequest{RefreshToken: old.RefreshToken})
		require.ErrorIs(t, err, auth.ErrInvalidToken, "and every old session")
		_, err = login(a, u.Email, password)
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		clock.Advance(time.Millisecond)
		_, err = login(a, u.Email, fresh)
		require.NoError(t, err)
		_, ok = box.Last(u.Email, auth.MessagePasswordChanged)
		require.True(t, ok, "the user is told")

		require.NoError(t, a.RequestPasswordReset(ctx, u.Email, auth.ClientInfo{}))
		m2, _ := box.Last(u.Email, auth.MessageResetPassword)
		clock.Advance(time.Hour + time.Second)
		require.ErrorIs(t, a.ResetPassword(ctx, m2.Token, "yet another long passphrase"), auth.ErrInvalidToken, "expired")
	})

	t.Run("PasswordResetRateLimited", func(t *testing.T) {
		a, _, _ := setup(t, auth.Config{})
		u := register(t, a)
		for range 3 {
			require.NoError(t, a.RequestPasswordReset(ctx, u.Email, auth.ClientInfo{}))
		}
		require.ErrorIs(t, a.RequestPasswordReset(ctx, u.Email, auth.ClientInfo{}), auth.ErrRateLimited)
	})

	t.Run("ChangePassword", func(t *testing.T) {
		a, clock, _ := setup(t, auth.Config{})
		u := register(t, a)
		here, err := login(a, u.Email, password)
		require.NoError(t, err)
		elsewhere, err := login(a, u.Email, password)
		require.NoError(t, err)
		c, err := a.Authenticate(ctx, here.AccessToken)
		require.NoError(t, err)

		const fresh = "another fine passphrase here"
		require.ErrorIs(t, a.ChangePassword(ctx, c, "not my password", fresh), auth.ErrInvalidCredentials)
		require.ErrorIs(t, a.ChangePassword(ctx, c, password, "short"), auth.ErrPasswordTooShort)
		require.NoError(t, a.ChangePassword(ctx, c, password, fresh))
		_, err = a.Authenticate(ctx, elsewhere.AccessToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked, "other sessions end")
		_, err = a.Authenticate(ctx, here.AccessToken)
		require.NoError(t, err, "this session stays")
		clock.Advance(time.Millisecond)
		_, err = login(a, u.Email, fresh)
		require.NoError(t, err)
	})

	t.Run("ChangeEmail", func(t *testing.T) {
		a, clock, box := setup(t, auth.Config{})
		u, other := register(t, a), register(t, a)
		p, err := login(a, u.Email, password)
		require.NoError(t, err)
		c, err := a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err)

		require.ErrorIs(t, a.RequestEmailChange(ctx, c, password, other.Email), auth.ErrEmailTaken)
		_, ok := box.Last(other.Email, auth.MessageAccountExists)
		require.True(t, ok, "the owner of the taken address is told")
		require.ErrorIs(t, a.RequestEmailChange(ctx, c, "wrong password!", randomEmail()), auth.ErrInvalidCredentials)
		require.ErrorIs(t, a.RequestEmailChange(ctx, c, password, "nope"), auth.ErrInvalidEmail)
		next := randomEmail()
		require.NoError(t, a.RequestEmailChange(ctx, c, password, upper(next)))
		m, ok := box.Last(next, auth.MessageChangeEmail)
		require.True(t, ok, "the token goes to the new address")
		_, ok = box.Last(u.Email, auth.MessageEmailChangeRequested)
		require.True(t, ok, "the old address is told")
		still, err := a.CurrentUser(ctx, c)
		require.NoError(t, err)
		require.Equal(t, u.Email, still.Email, "nothing changes before confirmation")

		got, err := a.ConfirmEmailChange(ctx, m.Token)
		require.NoError(t, err)
		require.Equal(t, next, got.Email)
		require.True(t, got.Verified)
		_, err = a.ConfirmEmailChange(ctx, m.Token)
		require.ErrorIs(t, err, auth.ErrInvalidToken)
		clock.Advance(time.Millisecond)
		_, err = login(a, next, password)
		require.NoError(t, err)
		_, err = login(a, u.Email, password)
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	})

	t.Run("EmailChangeCannotProbeAddresses", func(t *testing.T) {
		a, _, _ := setup(t, auth.Config{})
		u := register(t, a)
		p, err := login(a, u.Email, password)
		require.NoError(t, err)
		c, err := a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err)
		probes := 0
		for range 10 {
			err := a.RequestEmailChange(ctx, c, password, register(t, a).Email)
			if errors.Is(err, auth.ErrRateLimited) {
				break
			}
			require.ErrorIs(t, err, auth.ErrEmailTaken)
			probes++
		}
		require.Equal(t, 3, probes, "whether an address is taken is answered only within the limit")
	})

	t.Run("RecoveryCancelsPendingEmailChange", func(t *testing.T) {
		a, _, box := setup(t, auth.Config{})
		u := register(t, a)
		p, err := login(a, u.Email, password)
		require.NoError(t, err)
		c, err := a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err)
		// An intruder with the password starts moving the account away...
		intruder := randomEmail()
		require.NoError(t, a.RequestEmailChange(ctx, c, password, intruder))
		change, _ := box.Last(intruder, auth.MessageChangeEmail)
		// ...the owner notices and resets the password...
		require.NoError(t, a.RequestPasswordReset(ctx, u.Email, auth.ClientInfo{}))
		reset, _ := box.Last(u.Email, auth.MessageResetPassword)
		require.NoError(t, a.ResetPassword(ctx, reset.Token, "the owner's new passphrase"))
		// ...and the intruder can no longer finish the change.
		_, err = a.ConfirmEmailChange(ctx, change.Token)
		require.ErrorIs(t, err, auth.ErrInvalidToken)
	})

	t.Run("ResetLinkToOldAddressDiesWithIt", func(t *testing.T) {
		a, clock, box := setup(t, auth.Config{})
		u := register(t, a)
		require.NoError(t, a.RequestPasswordReset(ctx, u.Email, auth.ClientInfo{}))
		reset, _ := box.Last(u.Email, auth.MessageResetPassword)
		p, err := login(a, u.Email, password)
		require.NoError(t, err)
		c, err := a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err)
		next := randomEmail()
		require.NoError(t, a.RequestEmailChange(ctx, c, password, next))
		change, _ := box.Last(next, auth.MessageChangeEmail)
		_, err = a.ConfirmEmailChange(ctx, change.Token)
		require.NoError(t, err)
		clock.Advance(time.Minute)
		require.ErrorIs(t, a.ResetPassword(ctx, reset.Token, "someone else's new passphrase"), auth.ErrInvalidToken,
			"a link sent to the old address no longer resets the password")
	})

	t.Run("DuplicateRegistrationNotifiesOwner", func(t *testing.T) {
		a, _, box := setup(t, auth.Config{})
		u := register(t, a)
		_, err := a.Register(ctx, auth.RegisterRequest{Email: upper(u.Email), Password: password})
		require.ErrorIs(t, err, auth.ErrEmailTaken)
		_, ok := box.Last(u.Email, auth.MessageAccountExists)
		require.True(t, ok)
	})
}
