package pgtest_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/internal/faultnet"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/maestro-ml/auth/store/bunstore/internal/dbtest"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/schema"
)

// pg is this run's own schema in the test database (postgresURL).
var pg *postgres

func TestMain(m *testing.M) {
	var err error
	if pg, err = newPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, "bunstore tests need PostgreSQL:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "dropping the test schema:", err)
	}
	os.Exit(code)
}

func TestPostgres(t *testing.T) {
	dbtest.Store(t, pg.Open)
}

// TestPostgresMigrations runs the migration checks shared with SQLite
// (the package in ./migrate has PostgreSQL's own).
func TestPostgresMigrations(t *testing.T) {
	dbtest.Migrations(t, pg.Fresh)
}

// TestPostgresQueryPlans checks that every look-up path uses an index.
func TestPostgresQueryPlans(t *testing.T) {
	ctx := context.Background()
	db := pg.Fresh(t)(t)
	require.NoError(t, migrate.Up(ctx, db, migrate.WithLogger(dbtest.Logger())))
	// Enough users, spread over tenants, for the planner to prefer the
	// listing index to the primary key.
	_, err := db.ExecContext(ctx, `INSERT INTO auth_tenants (id, name, slug)
		SELECT ('00000000-0000-0000-0000-0000000001' || lpad(i::text, 2, '0'))::uuid, 't', 't' || i FROM generate_series(1, 20) i`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO auth_users (id, tenant_id, email, password_hash)
		SELECT gen_random_uuid(), ('00000000-0000-0000-0000-0000000001' || lpad((i % 20 + 1)::text, 2, '0'))::uuid, 'u' || i || '@x.y', 'x'
		FROM generate_series(1, 4000) i`)
	require.NoError(t, err)
	// A token of each purpose for each user.
	_, err = db.ExecContext(ctx, `INSERT INTO auth_action_tokens (hash, purpose, user_id, email, expires_at)
		SELECT sha256((u.id::text || p)::bytea), p, u.id, u.email, now() + interval '1 hour'
		FROM auth_users u, unnest(ARRAY['verify_email', 'reset_password', 'change_email']) p`)
	require.NoError(t, err)
	// A session for each user, each rotated ten times.
	_, err = db.ExecContext(ctx, `INSERT INTO auth_sessions (id, user_id, tenant_id, refresh_hash, idle_expires_at, expires_at)
		SELECT gen_random_uuid(), u.id, u.tenant_id, sha256(u.id::text::bytea), now() + interval '1 day', now() + interval '30 days'
		FROM auth_users u`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO auth_session_hashes (hash, session_id)
		SELECT sha256((s.id::text || g)::bytea), s.id FROM auth_sessions s, generate_series(1, 10) g`)
	require.NoError(t, err)
	// 40000 audit events over 20 tenants, one a minute; 1000 users, each in
	// one tenant; an administrator's action every 100th; eight types.
	_, err = db.ExecContext(ctx, `INSERT INTO auth_audit_events (id, type, time, tenant_id, user_id, actor_id)
		SELECT gen_random_uuid(),
			(ARRAY['login.succeeded', 'login.failed', 'token.refreshed', 'session.logout', 'user.registered',
				'password.changed', 'user.role_changed', 'rate_limited'])[i % 8 + 1],
			now() - i * interval '1 minute',
			'00000000-0000-0000-0000-0000000001' || lpad((i % 20 + 1)::text, 2, '0'),
			'u' || (i % 1000),
			CASE WHEN i % 100 = 0 THEN 'admin' || (i % 7) END
		FROM generate_series(1, 40000) i`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "ANALYZE")
	require.NoError(t, err)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "SET enable_seqscan = off")
	require.NoError(t, err)
	h := `'\x00'::bytea`
	for q, index := range map[string]string{
		"SELECT * FROM auth_users WHERE email = 'a@b.c'": "auth_users_email_key",
		"SELECT * FROM auth_users WHERE tenant_id = '00000000-0000-0000-0000-000000000101' AND id > '00000000-0000-0000-0000-000000000000' ORDER BY id LIMIT 21": "auth_users_tenant_id_idx",
		"SELECT * FROM auth_sessions WHERE refresh_hash = " + h:                                                                               "auth_sessions_refresh_hash_key",
		"SELECT s.* FROM auth_session_hashes h JOIN auth_sessions s ON s.id = h.session_id WHERE h.hash = " + h:                               "auth_session_hashes_pkey",
		"SELECT * FROM auth_sessions WHERE user_id = '00000000-0000-0000-0000-000000000101' ORDER BY created_at DESC":                         "auth_sessions_user_id_idx",
		"DELETE FROM auth_sessions WHERE idle_expires_at <= now() OR expires_at <= now()":                                                     "auth_sessions_idle_expires_at_idx",
		"DELETE FROM auth_revocations WHERE expires_at <= now()":                                                                              "auth_revocations_expires_at_idx",
		"SELECT kind, revoked_at FROM auth_revocations WHERE ((kind = 1 AND id = 'a') OR (kind = 2 AND id = 'b') OR (kind = 3 AND id = 'c'))": "auth_revocations_pkey",
		"DELETE FROM auth_action_tokens WHERE hash = " + h + " AND purpose = 'verify_email' AND expires_at > now() RETURNING *":               "auth_action_tokens_pkey",
		"DELETE FROM auth_action_tokens WHERE user_id = '00000000-0000-0000-0000-000000000101' AND purpose = 'verify_email'":                  "auth_action_tokens_user_id_idx",
		"DELETE FROM auth_action_tokens WHERE expires_at <= now()":                                                                            "auth_action_tokens_expires_at_idx",
		"DELETE FROM auth_audit_events WHERE id < '01a00000-0000-7000-8000-000000000000'":                                                     "auth_audit_events_pkey",
	} {
		rows, err := conn.QueryContext(ctx, "EXPLAIN "+q)
		require.NoError(t, err)
		var plan strings.Builder
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan.WriteString(line + "\n")
		}
		require.NoError(t, rows.Err())
		require.Contains(t, plan.String(), index, q)
	}

	// The queries AuditEvents sends, for a page of 50.
	now := time.Now()
	queries := dbtest.AuditQueries(t, db, "00000000-0000-0000-0000-000000000101", "u20",
		now.Add(-20000*time.Minute), now.Add(-19900*time.Minute))
	for name, indexes := range map[string][]string{
		"tenant": {"auth_audit_events_tenant_id_idx"},
		"cursor": {"auth_audit_events_tenant_id_idx"},
		"user":   {"auth_audit_events_user_id_idx", "auth_audit_events_actor_id_idx"},
		"type":   {"auth_audit_events_type_idx"},
		"time":   {"auth_audit_events_time_idx"},
	} {
		rows, err := conn.QueryContext(ctx, "EXPLAIN "+queries[name])
		require.NoError(t, err)
		var plan strings.Builder
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan.WriteString(line + "\n")
		}
		require.NoError(t, rows.Err())
		t.Logf("%s: %s\n%s", name, queries[name], plan.String())
		for _, index := range indexes {
			require.Contains(t, plan.String(), index, name)
		}
		require.NotContains(t, plan.String(), "Seq Scan", name)
	}
}

func TestPostgresUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	db := openPostgres("postgres://postgres@"+addr+"/test?sslmode=disable&dial_timeout=500ms", "")
	defer db.Close()
	st, err := bunstore.New(db, bunstore.WithSweepInterval(0), bunstore.WithLogger(dbtest.Logger()))
	require.NoError(t, err, "New does not touch PostgreSQL")
	defer st.Close()

	ctx := context.Background()
	start := time.Now()
	_, err = st.UserByEmail(ctx, "kate@example.com")
	dbtest.RequireClean(t, err, auth.ErrUnavailable)
	_, err = st.Revoked(ctx, auth.RevocationQuery{TokenID: "t", SessionID: "s", UserID: "u"})
	dbtest.RequireClean(t, err, auth.ErrUnavailable)
	require.ErrorIs(t, st.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: "u", At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}), auth.ErrUnavailable)
	require.Less(t, time.Since(start), 10*time.Second)

	// Through the Authenticator: 503 material, fail closed.
	a, err := auth.New(auth.Config{Keys: mustKeys(t), Users: st, Tenants: st, Sessions: st, Revocations: st, Logger: dbtest.Logger()})
	require.NoError(t, err)
	_, _, err = a.Login(ctx, auth.LoginRequest{Email: "kate@example.com", Password: "correct horse battery staple"})
	dbtest.RequireClean(t, err, auth.ErrUnavailable)
}

// TestPostgresHangingServer: a server that accepts connections and never
// answers is unavailable once the caller's deadline passes.
func TestPostgresHangingServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})

	db := openPostgres("postgres://postgres@"+ln.Addr().String()+"/test?sslmode=disable", "")
	defer db.Close()
	st, err := bunstore.New(db, bunstore.WithSweepInterval(0), bunstore.WithLogger(dbtest.Logger()))
	require.NoError(t, err)
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = st.Revoked(ctx, auth.RevocationQuery{TokenID: "t"})
	dbtest.RequireClean(t, err, auth.ErrUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestPostgresUnsupportedDialectAndNil(t *testing.T) {
	_, err := bunstore.New(nil)
	require.Error(t, err)
	_, err = bunstore.New(bun.NewDB(pg.Open(t).DB, unsupported{pg.Open(t).Dialect()}))
	require.ErrorContains(t, err, "unsupported dialect")
}

func mustKeys(t *testing.T) *auth.KeySet {
	k, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	ks, err := auth.NewKeySet(k)
	require.NoError(t, err)
	return ks
}

// unsupported is a dialect that calls itself MySQL.
type unsupported struct{ schema.Dialect }

func (unsupported) Name() dialect.Name { return dialect.MySQL }

// TestPostgresOutage cuts the store off PostgreSQL (through a fault proxy)
// while users log in with the right password: the attempts fail as
// unavailable, none counts against the lockout, and the owner signs in as
// soon as PostgreSQL is reachable again.
func TestPostgresOutage(t *testing.T) {
	ctx := context.Background()
	st, db, proxy := proxiedStore(t)
	authtest.TestOutage(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st, ActionTokens: st}, nil, &authtest.Outage{
		Down: func(*testing.T) { proxy.Cut() },
		Up: func(t *testing.T) {
			proxy.Restore()
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			require.NoError(t, db.PingContext(ctx))
		},
	})
}

// proxiedStore returns a migrated store whose connections to PostgreSQL
// pass through a fault proxy.
func proxiedStore(t *testing.T) (*bunstore.Store, *bun.DB, *faultnet.Proxy) {
	ctx := context.Background()
	require.NoError(t, migrate.Up(ctx, pg.Open(t), migrate.WithLogger(dbtest.Logger())))
	u, err := url.Parse(postgresURL())
	require.NoError(t, err)
	proxy, err := faultnet.Start(u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	u.Host = proxy.Addr()
	db := openPostgres(u.String(), pg.Schema)
	t.Cleanup(func() { _ = db.Close() })
	st, err := bunstore.New(db, bunstore.WithSweepInterval(0), bunstore.WithLogger(dbtest.Logger()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st, db, proxy
}

// TestPostgresAuditOutage cuts the audit store off PostgreSQL while an
// Authenticator records events through an audit.Async: the flows answer
// without waiting on the outage, and once PostgreSQL is reachable again
// every event is in the table exactly once.
func TestPostgresAuditOutage(t *testing.T) {
	ctx := context.Background()
	st, _, proxy := proxiedStore(t)
	sink, err := audit.NewAsync(st, audit.AsyncConfig{MaxBackoff: 100 * time.Millisecond, Logger: dbtest.Logger()})
	require.NoError(t, err)
	direct, err := bunstore.New(pg.Open(t), bunstore.WithSweepInterval(0), bunstore.WithLogger(dbtest.Logger()))
	require.NoError(t, err)
	defer direct.Close()
	var ids []string
	tenant := uuid.NewString()
	record := func(n int) {
		for range n {
			e := auth.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: auth.EventLoginSucceeded, Time: time.Now(), TenantID: tenant, UserID: uuid.NewString()}
			ids = append(ids, e.ID)
			sink.Record(ctx, e)
		}
	}
	record(20)
	proxy.Cut()
	start := time.Now()
	record(200)
	require.Less(t, time.Since(start), 10*time.Second, "flows do not wait on a failing audit store")
	time.Sleep(300 * time.Millisecond) // a few failed retries
	proxy.Restore()
	record(20)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, sink.Shutdown(sctx))
	require.Zero(t, sink.Dropped())

	got, err := direct.AuditEvents(ctx, auth.EventQuery{TenantID: tenant, Limit: bunstore.MaxAuditPageSize})
	require.NoError(t, err)
	seen := map[string]int{}
	for _, e := range got {
		seen[e.ID]++
	}
	require.Len(t, seen, len(ids))
	for _, id := range ids {
		require.Equal(t, 1, seen[id], "event %s stored exactly once", id)
	}
}
