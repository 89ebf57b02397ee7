package integration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/maestro-ml/auth/store/redisstore"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// postgres returns a migrated database handle on a schema of its own,
// dropped when the test ends. An unreachable server fails the test.
func postgres(t *testing.T) *bun.DB {
	t.Helper()
	dsn := env("AUTH_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	open := func(searchPath string) *bun.DB {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		if searchPath != "" {
			q := u.Query()
			q.Set("search_path", searchPath)
			u.RawQuery = q.Encode()
		}
		return bun.NewDB(sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(u.String()))), pgdialect.New())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := open("")
	require.NoError(t, admin.PingContext(ctx), "PostgreSQL is required")
	schema := "auth_it_" + randomHex(6)
	_, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	db := open(schema)
	t.Cleanup(func() {
		_ = db.Close()
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		_ = admin.Close()
	})
	require.NoError(t, migrate.Up(ctx, db))
	return db
}

// redis returns a revocation store and limiter on the shared Redis with a
// prefix of its own and opts. An unreachable server fails the test.
func redis(t *testing.T, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env("AUTH_TEST_REDIS_ADDR", "127.0.0.1:6379")}})
	require.NoError(t, err, "Redis is required")
	t.Cleanup(c.Close)
	s, err := redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix("auth-it-" + randomHex(6) + ":")}, opts...)...)
	require.NoError(t, err)
	return s
}

// TestPostgresWithRedis runs every flow unchanged over bunstore for users,
// tenants and sessions with redisstore for revocations.
func TestPostgresWithRedis(t *testing.T) {
	db := postgres(t)
	pg, err := bunstore.New(db)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	rs := redis(t)
	st := authtest.Stores{Users: pg, Tenants: pg, Sessions: pg, Revocations: rs}
	if tokens, ok := any(pg).(auth.ActionTokenStore); ok {
		st.ActionTokens = tokens
	}
	t.Run("Flows", func(t *testing.T) { authtest.TestFlows(t, st) })
	if st.ActionTokens != nil {
		t.Run("Lifecycle", func(t *testing.T) { authtest.TestLifecycle(t, st) })
	}
	t.Run("LimiterOnRedis", func(t *testing.T) {
		ctx := context.Background()
		a := authtest.NewAuthenticator(t, st, nil, auth.Config{Limiter: rs})
		_, err := a.Register(ctx, auth.RegisterRequest{Email: "it@example.com", Password: "correct horse battery staple"})
		require.NoError(t, err)
		for range 5 {
			_, _, err = a.Login(ctx, auth.LoginRequest{Email: "it@example.com", Password: "wrong password!!"})
			require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		}
		_, _, err = a.Login(ctx, auth.LoginRequest{Email: "it@example.com", Password: "correct horse battery staple"})
		require.ErrorIs(t, err, auth.ErrRateLimited, "the lockout lives in Redis")
		other := authtest.NewAuthenticator(t, st, nil, auth.Config{Limiter: rs})
		_, _, err = other.Login(ctx, auth.LoginRequest{Email: "it@example.com", Password: "correct horse battery staple"})
		require.ErrorIs(t, err, auth.ErrRateLimited, "and holds for every instance")
	})
}
