package migrate_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/migrate"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// These tests run package migrate against PostgreSQL
// (AUTH_TEST_POSTGRES_URL, default below), each in a schema of its own that
// is dropped at the end. The checks shared with SQLite run in the parent
// package (dbtest.Migrations) and in the module store/bunstore/sqlitetest;
// package migrate itself checks the embedded files.

var admin *bun.DB

func pgURL() string {
	if u := os.Getenv("AUTH_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func TestMain(m *testing.M) {
	admin = openPG("")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := admin.PingContext(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "migrate tests need PostgreSQL at", pgURL()+":", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = admin.Close()
	os.Exit(code)
}

func openPG(schema string) *bun.DB {
	u, err := url.Parse(pgURL())
	if err != nil {
		panic(err)
	}
	q := u.Query()
	if schema != "" {
		q.Set("search_path", schema)
	}
	q.Set("dial_timeout", "5s")
	u.RawQuery = q.Encode()
	sqldb := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(u.String())))
	sqldb.SetMaxOpenConns(10)
	return bun.NewDB(sqldb, pgdialect.New())
}

// freshSchema creates an empty schema, dropped when the test ends, and
// returns a function opening pools on it.
func freshSchema(t testing.TB) (string, func() *bun.DB) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "auth_test_" + hex.EncodeToString(b)
	_, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	return schema, func() *bun.DB {
		db := openPG(schema)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
}

var quiet = migrate.WithLogger(slog.New(slog.DiscardHandler))

// migrations is how many migrations the package has.
const migrations = 9

func tables(t *testing.T, db *bun.DB) []string {
	t.Helper()
	var names []string
	require.NoError(t, db.NewRaw("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1").
		Scan(context.Background(), &names))
	return names
}

func applied(t *testing.T, db *bun.DB) []string {
	t.Helper()
	st, err := migrate.Status(context.Background(), db)
	require.NoError(t, err)
	var out []string
	for _, s := range st {
		if s.Applied {
			out = append(out, s.Version)
		}
	}
	return out
}

func TestUpDownStatus(t *testing.T) {
	ctx := context.Background()
	_, open := freshSchema(t)
	db := open()

	st, err := migrate.Status(ctx, db)
	require.NoError(t, err)
	require.Len(t, st, migrations)
	for _, s := range st {
		require.False(t, s.Applied)
		require.Len(t, s.Version, 14)
		require.NotEmpty(t, s.Name)
	}
	require.Empty(t, tables(t, db), "Status changes nothing")

	before := time.Now().Add(-time.Minute)
	require.NoError(t, migrate.Up(ctx, db, quiet))
	require.Equal(t, []string{"auth_action_tokens", "auth_audit_events", "auth_migrations", "auth_recovery_codes", "auth_revocations", "auth_session_hashes", "auth_sessions", "auth_tenants", "auth_totp_secrets", "auth_users"}, tables(t, db))
	st, err = migrate.Status(ctx, db)
	require.NoError(t, err)
	for _, s := range st {
		require.True(t, s.Applied)
		require.Equal(t, int64(1), s.Group)
		require.False(t, s.Unknown)
		require.True(t, s.AppliedAt.After(before), s.AppliedAt)
	}
	var name, slug string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT name, slug FROM auth_tenants WHERE id = ?", auth.DefaultTenantID).Scan(&name, &slug))
	require.Equal(t, "Default", name)
	require.Equal(t, auth.DefaultTenantSlug, slug)

	require.NoError(t, migrate.Up(ctx, db, quiet), "Up twice")
	st2, err := migrate.Status(ctx, db)
	require.NoError(t, err)
	require.Equal(t, st, st2, "the second Up is a no-op")
	var rows int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM auth_migrations").Scan(&rows))
	require.Equal(t, migrations, rows)

	versions := func(n int) []string {
		var out []string
		for _, s := range st[:n] {
			out = append(out, s.Version)
		}
		return out
	}
	require.Equal(t, "fillfactor=80", sessionsOptions(t, db), "sessions' pages keep room for HOT updates")
	require.NoError(t, migrate.Down(ctx, db, quiet))
	require.Equal(t, versions(migrations-1), applied(t, db), "one step down")
	require.Empty(t, sessionsOptions(t, db), "the fillfactor is reset")
	require.NoError(t, migrate.Down(ctx, db, quiet))
	require.Equal(t, versions(migrations-2), applied(t, db), "two steps down")
	require.Contains(t, tables(t, db), "auth_totp_secrets")
	require.NoError(t, migrate.Down(ctx, db, quiet))
	require.Equal(t, versions(migrations-3), applied(t, db), "three steps down")
	require.NotContains(t, tables(t, db), "auth_totp_secrets")
	require.NotContains(t, tables(t, db), "auth_recovery_codes")
	require.Contains(t, tables(t, db), "auth_session_hashes")
	require.NoError(t, migrate.Up(ctx, db, quiet))
	st, err = migrate.Status(ctx, db)
	require.NoError(t, err)
	require.Equal(t, int64(1), st[migrations-4].Group, "left alone by the way down")
	for i := migrations - 3; i < migrations; i++ {
		require.Equal(t, int64(2), st[i].Group, "re-applied by the second Up")
	}
	require.Equal(t, "fillfactor=80", sessionsOptions(t, db))

	require.NoError(t, migrate.DownAll(ctx, db, quiet))
	require.Empty(t, applied(t, db))
	require.Equal(t, []string{"auth_migrations"}, tables(t, db), "every table gone but the history")
	require.NoError(t, migrate.DownAll(ctx, db, quiet), "nothing to roll back")
	require.NoError(t, migrate.Down(ctx, db, quiet), "nothing to roll back")

	require.NoError(t, migrate.Up(ctx, db, quiet), "up after down")
	require.Len(t, applied(t, db), migrations)
	require.NoError(t, db.QueryRowContext(ctx, "SELECT slug FROM auth_tenants WHERE id = ?", auth.DefaultTenantID).Scan(&slug))
}

func TestConcurrentUp(t *testing.T) {
	ctx := context.Background()
	_, open := freshSchema(t)
	const n = 6
	dbs := make([]*bun.DB, n) // separate pools, as separate instances would have
	for i := range dbs {
		dbs[i] = open()
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = migrate.Up(ctx, dbs[i], quiet)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var rows, groups int
	require.NoError(t, dbs[0].QueryRowContext(ctx, "SELECT count(*), count(DISTINCT group_id) FROM auth_migrations").Scan(&rows, &groups))
	require.Equal(t, migrations, rows, "each migration applied once")
	require.Equal(t, 1, groups, "by one of the callers")
	require.Len(t, applied(t, dbs[0]), migrations)
}

func TestUpWaitsForTheLock(t *testing.T) {
	ctx := context.Background()
	schema, open := freshSchema(t)
	db := open()

	// Hold the lock as a migrating instance would.
	holder, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = holder.ExecContext(ctx, "SELECT pg_advisory_xact_lock(1635087464, hashtext(?))", schema)
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = migrate.Up(short, open(), quiet)
	require.ErrorIs(t, err, context.DeadlineExceeded, "Up waits while another holds the lock")
	require.Empty(t, applied(t, db))

	// Another schema has a lock of its own.
	_, other := freshSchema(t)
	require.NoError(t, migrate.Up(ctx, other(), quiet))

	done := make(chan error, 1)
	go func() { done <- migrate.Up(ctx, open(), quiet) }()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, holder.Rollback())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Up did not proceed once the lock was released")
	}
	require.Len(t, applied(t, db), migrations)
}

func TestFailedUpAppliesNothing(t *testing.T) {
	ctx := context.Background()
	_, open := freshSchema(t)
	db := open()
	// A host table in the way of the second migration.
	_, err := db.ExecContext(ctx, "CREATE TABLE auth_sessions (x int)")
	require.NoError(t, err)
	err = migrate.Up(ctx, db, quiet)
	require.ErrorContains(t, err, "create_sessions up")
	require.Equal(t, []string{"auth_sessions"}, tables(t, db), "the first migration was rolled back too")
	require.Empty(t, applied(t, db))
}

func TestUnknownAppliedMigration(t *testing.T) {
	ctx := context.Background()
	_, open := freshSchema(t)
	db := open()
	require.NoError(t, migrate.Up(ctx, db, quiet))
	_, err := db.ExecContext(ctx, "INSERT INTO auth_migrations (name, group_id) VALUES ('29991231000000', 2)")
	require.NoError(t, err)
	st, err := migrate.Status(ctx, db)
	require.NoError(t, err)
	require.Len(t, st, migrations+1)
	require.True(t, st[migrations].Unknown)
	require.Equal(t, "29991231000000", st[migrations].Version)
	require.ErrorContains(t, migrate.Down(ctx, db, quiet), "unknown")
	require.NoError(t, migrate.Up(ctx, db, quiet), "Up leaves a newer schema alone")
	require.Len(t, applied(t, db), migrations+1)
}

// exampleDB returns a *bun.DB on an empty PostgreSQL schema and a function
// that drops it.
func exampleDB() (*bun.DB, func()) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "auth_example_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		panic(err)
	}
	db := openPG(schema)
	return db, func() {
		_ = db.Close()
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	}
}

// sessionsOptions returns the storage options of auth_sessions, joined.
func sessionsOptions(t *testing.T, db *bun.DB) string {
	t.Helper()
	var opts string
	require.NoError(t, db.QueryRowContext(context.Background(),
		`SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class WHERE relname = 'auth_sessions'`).Scan(&opts))
	return opts
}
