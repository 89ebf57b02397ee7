package sqlitetest_test

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/maestro-ml/auth/store/bunstore/internal/dbtest"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// recommended are the settings the bunstore documentation recommends.
const recommended = "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// open opens path with the given query string; the pool is closed when
// the test ends.
func open(t testing.TB, path, query string) *bun.DB {
	t.Helper()
	sqldb, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+query)
	require.NoError(t, err)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// fresh creates an empty database file in the test's temporary directory.
func fresh(t testing.TB) dbtest.Opener {
	path := filepath.Join(t.TempDir(), "auth.db")
	return func(t testing.TB) *bun.DB { return open(t, path, recommended) }
}

func TestStore(t *testing.T) {
	dbtest.Store(t, fresh(t))
}

func TestMigrations(t *testing.T) {
	dbtest.Migrations(t, fresh)
}

func TestSingleConnection(t *testing.T) {
	// The fallback the documentation gives for heavy write contention: no
	// call may wait for a second connection.
	ctx := context.Background()
	db := fresh(t)(t)
	db.SetMaxOpenConns(1)
	require.NoError(t, migrate.Up(ctx, db, migrate.WithLogger(dbtest.Logger())))
	st, err := bunstore.New(db, bunstore.WithLogger(dbtest.Logger()))
	require.NoError(t, err)
	defer st.Close()
	stores := authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st, ActionTokens: st}
	authtest.TestUserStore(t, stores)
	authtest.TestSessionStore(t, stores)
	authtest.TestActionTokenStore(t, stores)
	authtest.TestAuditLog(t, st)
}

func TestForeignKeysRequired(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "auth.db"), "_pragma=journal_mode(WAL)")
	_, err := bunstore.New(db)
	require.ErrorContains(t, err, "foreign_keys")
}

func TestUnreachableFile(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "no", "such", "dir", "auth.db"), recommended)
	_, err := bunstore.New(db)
	dbtest.RequireClean(t, err, auth.ErrUnavailable)
}

func TestTimesAreIntegerMilliseconds(t *testing.T) {
	ctx := context.Background()
	db := fresh(t)(t)
	require.NoError(t, migrate.Up(ctx, db, migrate.WithLogger(dbtest.Logger())))
	st, err := bunstore.New(db, bunstore.WithSweepInterval(0), bunstore.WithLogger(dbtest.Logger()))
	require.NoError(t, err)
	defer st.Close()
	at := time.Date(2031, 5, 6, 7, 8, 9, 123_456_789, time.UTC)
	id := "0190d6a2-0000-7000-8000-000000000001"
	require.NoError(t, st.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: id, At: at, ExpiresAt: at.Add(time.Hour)}))
	var typ string
	var ms int64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT typeof(revoked_at), revoked_at FROM auth_revocations WHERE id = ?", id).Scan(&typ, &ms))
	require.Equal(t, "integer", typ)
	require.Equal(t, at.UnixMilli(), ms)

	// The migrations' defaults write the same representation.
	_, err = db.ExecContext(ctx, "INSERT INTO auth_tenants (id, name, slug) VALUES ('0190d6a2-0000-7000-8000-000000000002', 't', 'defaults')")
	require.NoError(t, err)
	tn, err := st.Tenant(ctx, "0190d6a2-0000-7000-8000-000000000002")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), tn.CreatedAt, 5*time.Second)
}

func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	db := fresh(t)(t)
	require.NoError(t, migrate.Up(ctx, db, migrate.WithLogger(dbtest.Logger())))
	plan := func(t *testing.T, q string) string {
		t.Helper()
		rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q)
		require.NoError(t, err)
		var plan strings.Builder
		for rows.Next() {
			var id, parent, notused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
			plan.WriteString(detail + "\n")
		}
		require.NoError(t, rows.Err())
		return plan.String()
	}
	for q, index := range map[string]string{
		"SELECT * FROM auth_users WHERE email = 'a@b.c'":                                                                                      "auth_users_email_key",
		"SELECT * FROM auth_users WHERE tenant_id = 'x' AND id > 'y' ORDER BY id LIMIT 3":                                                     "auth_users_tenant_id_idx",
		"SELECT * FROM auth_sessions WHERE refresh_hash = X'00'":                                                                              "auth_sessions_refresh_hash_key",
		"SELECT s.* FROM auth_session_hashes h JOIN auth_sessions s ON s.id = h.session_id WHERE h.hash = X'00'":                              "USING PRIMARY KEY",
		"SELECT * FROM auth_sessions WHERE user_id = 'x' ORDER BY created_at DESC":                                                            "auth_sessions_user_id_idx",
		"SELECT id FROM auth_sessions WHERE idle_expires_at <= 1 OR expires_at <= 1 LIMIT 10":                                                 "auth_sessions_expires_at_idx",
		"SELECT kind, id FROM auth_revocations WHERE expires_at <= 1 LIMIT 10":                                                                "auth_revocations_expires_at_idx",
		"SELECT kind, revoked_at FROM auth_revocations WHERE ((kind = 1 AND id = 'a') OR (kind = 2 AND id = 'b') OR (kind = 3 AND id = 'c'))": "USING PRIMARY KEY",
		"DELETE FROM auth_action_tokens WHERE hash = X'00' AND purpose = 'verify_email' AND expires_at > 1 RETURNING *":                       "USING PRIMARY KEY",
		"DELETE FROM auth_action_tokens WHERE user_id = 'x' AND purpose = 'verify_email'":                                                     "auth_action_tokens_user_id_idx",
		"SELECT hash FROM auth_action_tokens WHERE expires_at <= 1 LIMIT 10":                                                                  "auth_action_tokens_expires_at_idx",
		"SELECT id FROM auth_audit_events WHERE id < '01a00000-0000-7000-8000-000000000000' LIMIT 10":                                         "sqlite_autoindex_auth_audit_events_1",
	} {
		p := plan(t, q)
		require.Contains(t, p, index, q)
		require.NotContains(t, p, "SCAN auth_", q)
	}

	// The queries AuditEvents sends, for a page of 50.
	now := time.Now()
	queries := dbtest.AuditQueries(t, db, "00000000-0000-0000-0000-000000000101", "u20", now.Add(-time.Hour), now)
	for name, indexes := range map[string][]string{
		"tenant": {"auth_audit_events_tenant_id_idx"},
		"cursor": {"auth_audit_events_tenant_id_idx"},
		"user":   {"auth_audit_events_user_id_idx", "auth_audit_events_actor_id_idx"},
		"type":   {"auth_audit_events_type_idx"},
		"time":   {"auth_audit_events_time_idx"},
	} {
		p := plan(t, queries[name])
		t.Logf("%s: %s\n%s", name, queries[name], p)
		for _, index := range indexes {
			require.Contains(t, p, index, name)
		}
		require.NotContains(t, p, "SCAN auth_", name)
	}
}
