package totp_test

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

// Regression tests for the findings of an adversarial review of the
// second factor; each failed before its fix.

// A session opened with the password before the user enrolled TOTP cannot
// take the factor over: enrolling ends it, and even a password step-up of
// such a session cannot mint recovery codes or disable TOTP.
func TestPreEnrolmentSessionCannotTakeOverTOTP(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)
	attacker, _, err := e.a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	victim, _, err := e.a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	vc, err := e.a.Authenticate(ctx, victim.AccessToken)
	require.NoError(t, err)

	// The victim enrols from their session, as the HTTP endpoints do.
	en, err := e.f.EnrollCaller(ctx, vc)
	require.NoError(t, err)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	require.NoError(t, err)
	conf, pair, err := e.f.ConfirmCaller(ctx, vc, e.code(secret, 0), auth.ClientInfo{})
	require.NoError(t, err)
	require.Len(t, conf.RecoveryCodes, 10)
	nc, err := e.a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	require.True(t, nc.HasMethod(auth.MethodMFA), "the enrolling session becomes multi-factor")
	_, err = e.a.Authenticate(ctx, victim.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "the caller's old session was replaced")

	_, err = e.a.Refresh(ctx, auth.RefreshRequest{RefreshToken: attacker.RefreshToken})
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "every other session ended with the enrolment")
	ac, err := e.a.Authenticate(ctx, attacker.AccessToken)
	if err == nil { // even were it alive: a password step-up does not reach the factor
		np, err := e.a.StepUpPassword(ctx, ac, password, auth.ClientInfo{})
		require.NoError(t, err)
		c2, err := e.a.Authenticate(ctx, np.AccessToken)
		require.NoError(t, err)
		_, err = e.f.RegenerateRecoveryCodes(ctx, c2)
		require.ErrorIs(t, err, auth.ErrInsufficientAuth)
	}
}

// A password step-up of a multi-factor session gives a password-only
// session: it cannot satisfy a challenge for a recent second factor, nor
// disable TOTP.
func TestPasswordStepUpDropsMFA(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)
	secret, _ := e.enrolled(t, u)
	_, _, err := e.a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	var mfa *auth.MFARequiredError
	require.True(t, errors.As(err, &mfa))
	pair, _, err := e.a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: e.code(secret, 30*time.Second)})
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	pair, err = e.a.Refresh(ctx, auth.RefreshRequest{RefreshToken: pair.RefreshToken})
	require.NoError(t, err)
	c, err := e.a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	require.True(t, c.HasMethod(auth.MethodMFA))

	np, err := e.a.StepUpPassword(ctx, c, password, auth.ClientInfo{})
	require.NoError(t, err)
	c2, err := e.a.Authenticate(ctx, np.AccessToken)
	require.NoError(t, err)
	require.Equal(t, []auth.Method{auth.MethodPassword}, c2.AMR, "mfa means a second factor proven at auth_time")
	require.ErrorIs(t, e.a.RequireMFA(c2), auth.ErrInsufficientAuth)
	var ia *auth.InsufficientAuthError
	require.ErrorAs(t, e.f.Disable(ctx, c2), &ia)
	require.Equal(t, "mfa", ia.ACR)

	// A code step-up of the password session is multi-factor again.
	cp, err := e.a.StepUpCode(ctx, c2, "", e.code(secret, 0), auth.ClientInfo{})
	require.NoError(t, err)
	c3, err := e.a.Authenticate(ctx, cp.AccessToken)
	require.NoError(t, err)
	require.Equal(t, []auth.Method{auth.MethodPassword, auth.MethodOTP, auth.MethodMFA}, c3.AMR)
	require.NoError(t, e.f.Disable(ctx, c3))
}

// Confirming an enrolment counts wrong codes against the account's
// second-factor limit, and an abandoned pending secret expires.
func TestConfirmIsLimitedAndPendingExpires(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{Limits: auth.Limits{MFAPerAccount: auth.Limit{Burst: 5, Period: time.Hour}}})
	u := e.user(t)
	pair, _, err := e.a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	c, err := e.a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	en, err := e.f.EnrollCaller(ctx, c)
	require.NoError(t, err)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	require.NoError(t, err)
	good := e.code(secret, 0)
	var tries int
	for i := 0; ; i++ {
		g := fmt.Sprintf("%06d", i)
		if g == good {
			continue
		}
		_, _, err := e.f.ConfirmCaller(ctx, c, g, auth.ClientInfo{})
		if errors.Is(err, auth.ErrRateLimited) {
			break
		}
		require.ErrorIs(t, err, auth.ErrInvalidCode)
		tries++
		require.Less(t, tries, 10, "wrong first codes are limited")
	}
	require.Equal(t, 5, tries)
	_, _, err = e.f.ConfirmCaller(ctx, c, good, auth.ClientInfo{})
	require.ErrorIs(t, err, auth.ErrRateLimited, "locked: even the right code waits")

	// A pending secret older than PendingTTL cannot be confirmed.
	v := e.user(t)
	en, err = e.f.Enroll(ctx, v)
	require.NoError(t, err)
	secret, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	require.NoError(t, err)
	e.clock.Advance(totp.PendingTTL + time.Second)
	_, err = e.f.Confirm(ctx, v, e.code(secret, 0))
	require.ErrorIs(t, err, totp.ErrNoPendingEnrollment)
}

// Sessions whose listing, or recovery codes whose storing, fails.
type listFails struct {
	*memstore.Store
	fail *bool
}

func (l listFails) ListSessions(ctx context.Context, userID string, now time.Time) ([]*auth.Session, error) {
	if *l.fail {
		return nil, auth.ErrUnavailable
	}
	return l.Store.ListSessions(ctx, userID, now)
}

type recoveryFails struct {
	*memstore.Store
	fail *bool
}

func (r recoveryFails) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error {
	if *r.fail {
		return auth.ErrUnavailable
	}
	return r.Store.ReplaceRecoveryCodes(ctx, userID, hashes, at)
}

// failingEnv is an env whose sessions or recovery codes can be made to fail.
func failingEnv(t *testing.T, sessions func(*memstore.Store) auth.SessionStore, rec func(*memstore.Store) totp.RecoveryStore) *env {
	st := memstore.New(memstore.WithSweepInterval(0))
	t.Cleanup(func() { _ = st.Close() })
	clock := authtest.NewClock(t0)
	f, err := totp.New(totp.Config{Store: st, Recovery: rec(st), Keys: []totp.Key{k1}, Issuer: "Example", Now: clock.Now})
	require.NoError(t, err)
	ev := &recorder{}
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: sessions(st), Revocations: st, ActionTokens: st}, clock,
		auth.Config{SecondFactors: []auth.SecondFactor{f}, ActionTokens: st, Events: ev})
	return &env{st: st, f: f, a: a, clock: clock, events: ev}
}

// enrolling logs u in twice (an attacker's session and the caller's) and
// starts the caller's enrolment.
func enrolling(t *testing.T, e *env) (attacker *auth.TokenPair, caller *auth.Claims, secret []byte, u *auth.User) {
	ctx := context.Background()
	u = e.user(t)
	attacker, _, err := e.a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	p, _, err := e.a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	caller, err = e.a.Authenticate(ctx, p.AccessToken)
	require.NoError(t, err)
	en, err := e.f.EnrollCaller(ctx, caller)
	require.NoError(t, err)
	secret, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	require.NoError(t, err)
	return attacker, caller, secret, u
}

// If the other sessions cannot be ended, nothing is enrolled: no factor
// ever protects an account while password-only sessions of it live on.
func TestConfirmCallerEndsSessionsFirst(t *testing.T) {
	ctx := context.Background()
	fail := false
	e := failingEnv(t, func(st *memstore.Store) auth.SessionStore { return listFails{st, &fail} }, func(st *memstore.Store) totp.RecoveryStore { return st })
	attacker, caller, secret, u := enrolling(t, e)
	fail = true
	_, _, err := e.f.ConfirmCaller(ctx, caller, e.code(secret, 0), auth.ClientInfo{})
	require.ErrorIs(t, err, auth.ErrUnavailable)
	ok, err := e.f.Enrolled(ctx, u.ID)
	require.NoError(t, err)
	require.False(t, ok, "not enrolled while the other sessions could not be ended")
	fail = false
	_, err = e.a.Refresh(ctx, auth.RefreshRequest{RefreshToken: attacker.RefreshToken})
	require.NoError(t, err, "and nothing else changed")
}

// A recovery-code store failure after the secret was confirmed leaves the
// user enrolled, and still no password-only session of theirs alive.
func TestConfirmCallerRecoveryStoreFails(t *testing.T) {
	ctx := context.Background()
	fail := false
	e := failingEnv(t, func(st *memstore.Store) auth.SessionStore { return st }, func(st *memstore.Store) totp.RecoveryStore { return recoveryFails{st, &fail} })
	attacker, caller, secret, u := enrolling(t, e)
	fail = true
	_, _, err := e.f.ConfirmCaller(ctx, caller, e.code(secret, 0), auth.ClientInfo{})
	require.ErrorIs(t, err, auth.ErrUnavailable)
	ok, err := e.f.Enrolled(ctx, u.ID)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = e.a.Refresh(ctx, auth.RefreshRequest{RefreshToken: attacker.RefreshToken})
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "the pre-enrolment session ended before the code was checked")
}
