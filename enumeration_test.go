package auth_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

func enumerationSetup(t testing.TB) (*auth.Authenticator, *auth.Hasher) {
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	h, err := auth.NewHasher(auth.HasherConfig{})
	require.NoError(t, err)
	off := auth.Limit{Burst: -1}
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil,
		auth.Config{Hasher: h, Limits: auth.Limits{LoginPerIP: off, LoginPerAccount: off}, Events: audit.Nop{}})
	_, err = a.Register(context.Background(), auth.RegisterRequest{Email: "known@example.com", Password: pw})
	require.NoError(t, err)
	return a, h
}

// TestLoginEnumeration checks that an unknown email and a wrong password
// are indistinguishable: the same error value and exactly the same hashing
// work (one argon2id computation at the configured parameters). It also
// measures and reports both latency distributions; the timing itself is
// asserted by the benchmarks, not here.
func TestLoginEnumeration(t *testing.T) {
	ctx := context.Background()
	a, h := enumerationSetup(t)
	try := func(email string) (uint64, time.Duration, error) {
		before := auth.HashCount(h)
		start := time.Now()
		_, _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: "wrong password, surely"})
		return auth.HashCount(h) - before, time.Since(start), err
	}
	var known, unknown []time.Duration
	for range 25 { // interleaved, so drift hits both alike
		n1, d1, err1 := try("known@example.com")
		n2, d2, err2 := try("unknown@example.com")
		require.Equal(t, err1, err2, "the same error value")
		require.Equal(t, auth.ErrInvalidCredentials, err1)
		require.Equal(t, uint64(1), n1, "one argon2id computation for a wrong password")
		require.Equal(t, uint64(1), n2, "and one for an unknown email")
		known, unknown = append(known, d1), append(unknown, d2)
	}
	mk, mu := median(known), median(unknown)
	t.Logf("wrong password: median %v, p10 %v, p90 %v", mk, pct(known, 10), pct(known, 90))
	t.Logf("unknown email:  median %v, p10 %v, p90 %v", mu, pct(unknown, 10), pct(unknown, 90))
	t.Logf("median difference: %.1f%%", 100*float64(mu-mk)/float64(mk))

	n, _, err := try("not an email at all")
	require.Equal(t, auth.ErrInvalidCredentials, err)
	require.Equal(t, uint64(1), n, "malformed input costs the same too")
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// BenchmarkLogin compares a successful login with one argon2id hash at the
// same parameters (BenchmarkHash), and the two failure paths with each
// other: compare them with benchstat.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct{ name, email, password string }{
		{"success", "known@example.com", pw},
		{"wrong-password", "known@example.com", "wrong password, surely"},
		{"unknown-email", "unknown@example.com", "wrong password, surely"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a, _ := enumerationSetup(b)
			b.ReportAllocs()
			for b.Loop() {
				_, _, err := a.Login(ctx, auth.LoginRequest{Email: bc.email, Password: bc.password})
				if (err == nil) != (bc.password == pw) {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEnumerationSafeUnverifiedLogin: with Config.EnumerationSafe, the
// right password of an unverified user (a registration a probe just made)
// gets exactly what a wrong password gets: the same error value, one
// argon2id computation, an attempt counted against the lockout; once the
// address is verified the login succeeds.
func TestEnumerationSafeUnverifiedLogin(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	h, err := auth.NewHasher(auth.HasherConfig{})
	require.NoError(t, err)
	outbox := &authtest.Outbox{}
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil,
		auth.Config{Hasher: h, EnumerationSafe: true, ActionTokens: st, Notifier: outbox, Events: audit.Nop{},
			Limits: auth.Limits{LoginPerIP: auth.Limit{Burst: -1}, LoginPerAccount: auth.Limit{Burst: 3, Period: time.Hour}}})
	u, err := a.Register(ctx, auth.RegisterRequest{Email: "probe@example.com", Password: pw})
	require.NoError(t, err)
	try := func(password string) (uint64, error) {
		before := auth.HashCount(h)
		_, _, err := a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
		return auth.HashCount(h) - before, err
	}
	n1, err1 := try(pw)
	n2, err2 := try("wrong password, surely")
	require.Equal(t, auth.ErrInvalidCredentials, err1, "the right password of an unverified user")
	require.Equal(t, err1, err2)
	require.Equal(t, n1, n2)
	require.Equal(t, uint64(1), n1)
	_, err = try(pw)
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	_, err = try(pw)
	require.ErrorIs(t, err, auth.ErrRateLimited, "each counted against the lockout, like a wrong password")

	_, err = auth.New(auth.Config{Keys: a.Keys(), Users: st, Tenants: st, Sessions: st, Revocations: st, EnumerationSafe: true})
	require.ErrorContains(t, err, "EnumerationSafe needs")

	require.NoError(t, a.Unlock(ctx, u.Email))
	m, ok := outbox.Last(u.Email, auth.MessageVerifyEmail)
	require.True(t, ok, "registration sent the verification message")
	_, err = a.VerifyEmail(ctx, m.Token)
	require.NoError(t, err)
	_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: pw})
	require.NoError(t, err)
}
