package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

func TestNewValidatesConfig(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	key, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	keys, err := auth.NewKeySet(key)
	require.NoError(t, err)
	full := func() auth.Config {
		return auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st}
	}
	rows := []struct {
		field string
		edit  func(*auth.Config)
	}{
		{"Config.Keys", func(c *auth.Config) { c.Keys = nil }},
		{"Config.Users", func(c *auth.Config) { c.Users = nil }},
		{"Config.Tenants", func(c *auth.Config) { c.Tenants = nil }},
		{"Config.Sessions", func(c *auth.Config) { c.Sessions = nil }},
		{"Config.Revocations", func(c *auth.Config) { c.Revocations = nil }},
		{"Config.SessionIdleTTL", func(c *auth.Config) { c.SessionIdleTTL = 48 * 3600e9; c.SessionTTL = 24 * 3600e9 }},
		{"Config.AccessTTL", func(c *auth.Config) { c.AccessTTL = -1 }},
		{"Config.MaxTokenBytes", func(c *auth.Config) { c.MaxTokenBytes = 10 }},
		{"Config.Roles", func(c *auth.Config) { c.Roles = []auth.Role{"a", "a"} }},
		{"Config.DefaultRole", func(c *auth.Config) { c.DefaultRole = "owner" }},
		{"Config.Limits.LoginPerAccount", func(c *auth.Config) { c.Limits.LoginPerAccount = auth.Limit{Burst: 3} }},
		{"Config.Limits.LoginPerIP", func(c *auth.Config) { c.Limits.LoginPerIP = auth.Limit{Period: time.Minute} }},
		{"Config.Limits.LoginPerIP", func(c *auth.Config) { // the first bad field, in field order, every run
			c.Limits.ResetPerAccount, c.Limits.RefreshPerIP, c.Limits.LoginPerIP = auth.Limit{Burst: 1}, auth.Limit{Burst: 1}, auth.Limit{Burst: 1}
		}},
		{"Config.Skew", func(c *auth.Config) { c.Skew = time.Hour }},
		{"Config.RefreshGrace", func(c *auth.Config) { c.RefreshGrace = time.Hour }},
	}
	for _, r := range rows {
		cfg := full()
		r.edit(&cfg)
		_, err := auth.New(cfg)
		require.ErrorContains(t, err, r.field)
	}
	a, err := auth.New(full())
	require.NoError(t, err)
	require.Equal(t, []auth.Role{auth.RoleViewer, auth.RoleEditor, auth.RoleAdmin}, a.Roles())
	require.True(t, a.RoleAtLeast(auth.RoleAdmin, auth.RoleEditor))
	require.False(t, a.RoleAtLeast(auth.RoleViewer, auth.RoleEditor))
	require.False(t, a.RoleAtLeast("root", auth.RoleViewer), "unknown roles are never enough")
}

func TestConfigIsCopied(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	roles := []auth.Role{"reader", "writer"}
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil, auth.Config{Roles: roles})
	roles[0] = "writer"
	require.Equal(t, []auth.Role{"reader", "writer"}, a.Roles())
	u, err := a.Register(context.Background(), auth.RegisterRequest{Email: "copy@example.com", Password: "correct horse battery staple"})
	require.NoError(t, err)
	require.Equal(t, auth.Role("reader"), u.Role, "the default role is the lowest configured one")
}

func TestFailClosedAndFailOpen(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	down := downRevocations{}
	stores := authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}
	a := authtest.NewAuthenticator(t, stores, nil, auth.Config{})
	ctx := context.Background()
	_, err := a.Register(ctx, auth.RegisterRequest{Email: "fail@example.com", Password: "correct horse battery staple"})
	require.NoError(t, err)
	p, _, err := a.Login(ctx, auth.LoginRequest{Email: "fail@example.com", Password: "correct horse battery staple"})
	require.NoError(t, err)

	stores.Revocations = down
	closed := authtest.NewAuthenticator(t, stores, nil, auth.Config{Keys: a.Keys()})
	_, err = closed.Authenticate(ctx, p.AccessToken)
	require.ErrorIs(t, err, auth.ErrUnavailable, "fails closed by default")

	open := authtest.NewAuthenticator(t, stores, nil, auth.Config{Keys: a.Keys(), FailOpen: true})
	c, err := open.Authenticate(ctx, p.AccessToken)
	require.NoError(t, err, "FailOpen accepts a valid token")
	require.NotEmpty(t, c.UserID)
	_, err = open.Authenticate(ctx, p.AccessToken+"x")
	require.ErrorIs(t, err, auth.ErrInvalidToken, "but never an invalid one")
}

type downRevocations struct{}

func (downRevocations) Revoke(context.Context, auth.Revocation) error { return auth.ErrUnavailable }
func (downRevocations) Revoked(context.Context, auth.RevocationQuery) (auth.RevocationStatus, error) {
	return auth.RevocationStatus{}, auth.ErrUnavailable
}

// BenchmarkAuthenticate measures the hot path on memstore: first-seen tokens
// (cache off: signature check plus deny-list look-up) and repeat tokens.
func BenchmarkAuthenticate(b *testing.B) {
	b.Run("first-seen", func(b *testing.B) { benchAuthenticate(b, -1) })
	b.Run("repeat", func(b *testing.B) { benchAuthenticate(b, 0) })
}

func benchAuthenticate(b *testing.B, cacheSize int) {
	st := memstore.New()
	b.Cleanup(func() { _ = st.Close() })
	a := authtest.NewAuthenticator(b, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil, auth.Config{TokenCacheSize: cacheSize})
	ctx := context.Background()
	if _, err := a.Register(ctx, auth.RegisterRequest{Email: "bench@example.com", Password: "correct horse battery staple"}); err != nil {
		b.Fatal(err)
	}
	p, _, err := a.Login(ctx, auth.LoginRequest{Email: "bench@example.com", Password: "correct horse battery staple"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, p.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerifiedTokenCache(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	clock := authtest.NewClock(time.Now())
	stores := authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}
	a := authtest.NewAuthenticator(t, stores, clock, auth.Config{AccessTTL: time.Minute, Skew: -1})
	_, err := a.Register(ctx, auth.RegisterRequest{Email: "cache@example.com", Password: "correct horse battery staple"})
	require.NoError(t, err)
	p, _, err := a.Login(ctx, auth.LoginRequest{Email: "cache@example.com", Password: "correct horse battery staple"})
	require.NoError(t, err)

	c1, err := a.Authenticate(ctx, p.AccessToken)
	require.NoError(t, err)
	c2, err := a.Authenticate(ctx, p.AccessToken) // from the cache
	require.NoError(t, err)
	require.Equal(t, c1, c2)

	require.NoError(t, a.RevokeToken(ctx, c2))
	_, err = a.Authenticate(ctx, p.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "a cached token is still checked for revocation on every use")

	p2, err := a.Refresh(ctx, auth.RefreshRequest{RefreshToken: p.RefreshToken})
	require.NoError(t, err)
	_, err = a.Authenticate(ctx, p2.AccessToken)
	require.NoError(t, err)
	clock.Advance(time.Minute)
	_, err = a.Authenticate(ctx, p2.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenExpired, "a cached token still expires")

	clock.Advance(-time.Minute)
	key, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	ks, err := auth.NewKeySet(key)
	require.NoError(t, err)
	require.NoError(t, a.SetKeys(ks))
	_, err = a.Authenticate(ctx, p2.AccessToken)
	require.ErrorIs(t, err, auth.ErrInvalidToken, "a cached token of a removed key fails at once")
}
