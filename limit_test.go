package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

const pw = "correct horse battery staple"

func limitedAuthenticator(t *testing.T, cfg auth.Config) (*auth.Authenticator, *authtest.Clock) {
	t.Helper()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	clock := authtest.NewClock(time.Now())
	return authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, clock, cfg), clock
}

func TestLockout(t *testing.T) {
	ctx := context.Background()
	a, clock := limitedAuthenticator(t, auth.Config{})
	_, err := a.Register(ctx, auth.RegisterRequest{Email: "locked@example.com", Password: pw})
	require.NoError(t, err)
	login := func(email, password string) error {
		_, _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: password})
		return err
	}
	for range 5 {
		require.ErrorIs(t, login("locked@example.com", "wrong password!!"), auth.ErrInvalidCredentials)
	}
	wrong := login("locked@example.com", "wrong password!!")
	right := login("LOCKED@example.com", pw)
	var rl1, rl2 *auth.RateLimitError
	require.ErrorAs(t, wrong, &rl1)
	require.ErrorAs(t, right, &rl2, "a locked account refuses the right password too")
	require.Equal(t, wrong.Error(), right.Error(), "identically")
	require.Equal(t, rl1.RetryAfter, rl2.RetryAfter)
	require.Equal(t, 3*time.Minute, rl1.RetryAfter)

	for range 5 {
		require.ErrorIs(t, login("ghost@example.com", pw), auth.ErrInvalidCredentials)
	}
	ghost := login("ghost@example.com", pw)
	require.ErrorIs(t, ghost, auth.ErrRateLimited, "unknown accounts lock the same way: no enumeration")

	clock.Advance(3 * time.Minute)
	require.NoError(t, login("locked@example.com", pw), "unlocked by time")
	for range 5 {
		require.ErrorIs(t, login("locked@example.com", "wrong password!!"), auth.ErrInvalidCredentials, "success reset the counter")
	}
	require.ErrorIs(t, login("locked@example.com", pw), auth.ErrRateLimited)
	require.NoError(t, a.Unlock(ctx, "Locked@Example.com"))
	require.NoError(t, login("locked@example.com", pw), "unlocked by an administrator")

	// At most 100 failures an hour, whatever the pace.
	failures := 0
	for range 3600 {
		if errors.Is(login("hammer@example.com", "x"), auth.ErrInvalidCredentials) {
			failures++
		}
		clock.Advance(time.Second)
	}
	require.LessOrEqual(t, failures, 100)
	t.Logf("failures admitted in one hour at one attempt per second: %d", failures)
}

func TestLoginRateLimitPerIP(t *testing.T) {
	ctx := context.Background()
	a, _ := limitedAuthenticator(t, auth.Config{Limits: auth.Limits{LoginPerAccount: auth.Limit{Burst: -1}}})
	try := func(ip string, i int) error {
		_, _, err := a.Login(ctx, auth.LoginRequest{Email: fmt.Sprintf("u%d@example.com", i), Password: pw, Client: auth.ClientInfo{IP: ip}})
		return err
	}
	for i := range 20 {
		require.ErrorIs(t, try("203.0.113.7", i), auth.ErrInvalidCredentials)
	}
	require.ErrorIs(t, try("203.0.113.7", 99), auth.ErrRateLimited)
	require.ErrorIs(t, try("203.0.113.8", 99), auth.ErrInvalidCredentials, "another client is not limited")

	for i := range 20 {
		require.ErrorIs(t, try(fmt.Sprintf("2001:db8:1:2::%x", i+1), i), auth.ErrInvalidCredentials)
	}
	require.ErrorIs(t, try("2001:db8:1:2:ffff::1", 99), auth.ErrRateLimited, "IPv6 is limited per /64")
	require.ErrorIs(t, try("2001:db8:1:3::1", 99), auth.ErrInvalidCredentials)
}

func TestRegisterRateLimitPerIP(t *testing.T) {
	ctx := context.Background()
	a, clock := limitedAuthenticator(t, auth.Config{Limits: auth.Limits{RegisterPerIP: auth.Limit{Burst: 2, Period: time.Hour}}})
	reg := func(i int) error {
		_, err := a.Register(ctx, auth.RegisterRequest{Email: fmt.Sprintf("r%d@example.com", i), Password: pw, Client: auth.ClientInfo{IP: "198.51.100.1"}})
		return err
	}
	require.NoError(t, reg(1))
	require.NoError(t, reg(2))
	err := reg(3)
	var rl *auth.RateLimitError
	require.ErrorAs(t, err, &rl)
	require.Equal(t, 30*time.Minute, rl.RetryAfter)
	clock.Advance(30 * time.Minute)
	require.NoError(t, reg(3))
}

func TestLimitsOff(t *testing.T) {
	ctx := context.Background()
	off := auth.Limit{Burst: -1}
	a, _ := limitedAuthenticator(t, auth.Config{Limits: auth.Limits{LoginPerIP: off, LoginPerAccount: off}})
	for range 30 {
		_, _, err := a.Login(ctx, auth.LoginRequest{Email: "x@example.com", Password: "nope", Client: auth.ClientInfo{IP: "192.0.2.1"}})
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	}
}

func TestLimitKeyIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"2001:db8:a:b:c:d:e:f": "2001:db8:a:b::/64",
		"2001:db8:a:b::1":      "2001:db8:a:b::/64",
		"":                     "",
		"not an ip":            "invalid",
		"192.0.2.1:8080":       "invalid",
		"fe80::1%eth0":         "fe80::/64",
	} {
		require.Equal(t, want, auth.LimitKeyIP(in), in)
	}
}

// lostReplies is a Limiter whose replies are lost while lost is set: it
// counts every attempt, then answers ErrUnavailable, as redisstore does
// when its deadline passes after Redis ran the script (a slow link).
type lostReplies struct {
	auth.Limiter
	lost atomic.Bool
}

func (l *lostReplies) Allow(ctx context.Context, key string, lim auth.Limit) (bool, time.Duration, error) {
	ok, retry, err := l.Limiter.Allow(ctx, key, lim)
	if l.lost.Load() {
		return false, 0, fmt.Errorf("limiter reply lost: %w", auth.ErrUnavailable)
	}
	return ok, retry, err
}

// TestLockoutLostLimiterReply: an attempt whose limiter call failed was
// never judged, even if the limiter counted it before its reply was lost;
// a slow Redis must lock nobody out, per account or per address, nor be
// audited as a lock.
func TestLockoutLostLimiterReply(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	limiter := &lostReplies{Limiter: st}
	rec := &recorder{}
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil,
		auth.Config{Limiter: limiter, Events: rec})
	_, err := a.Register(ctx, auth.RegisterRequest{Email: "slow@example.com", Password: pw})
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		client   auth.ClientInfo
		attempts int
	}{
		{"account", auth.ClientInfo{}, 10},                // the lockout: 5 per 15 minutes
		{"address", auth.ClientInfo{IP: "192.0.2.1"}, 25}, // 20 a minute per address
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.take()
			limiter.lost.Store(true)
			for i := range tc.attempts {
				_, _, err := a.Login(ctx, auth.LoginRequest{Email: "slow@example.com", Password: pw, Client: tc.client})
				require.ErrorIs(t, err, auth.ErrUnavailable, "attempt %d", i+1)
			}
			for _, e := range rec.take() {
				require.NotEqual(t, auth.EventLoginLocked, e.Type, "an unavailable limiter is no lock")
				require.NotEqual(t, auth.EventRateLimited, e.Type, "an unavailable limiter is no limit")
			}
			limiter.lost.Store(false)
			_, _, err := a.Login(ctx, auth.LoginRequest{Email: "slow@example.com", Password: pw, Client: tc.client})
			require.NoError(t, err, "the owner signs in as soon as the limiter answers again")
		})
	}
}
