package dbtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
)

// migrations is how many migrations package migrate has, and tables the
// tables they create.
const migrations = 9

var tables = []string{"auth_tenants", "auth_users", "auth_sessions", "auth_revocations", "auth_action_tokens", "auth_audit_events", "auth_session_hashes", "auth_totp_secrets", "auth_recovery_codes"}

// Migrations checks package migrate on the databases fresh creates, each
// empty: up, down one step, down all and up again, Status, Up twice, Up
// from several pools at once, and a failed Up that applies nothing. (The
// PostgreSQL-specific lock tests are in package migrate.)
func Migrations(t *testing.T, fresh func(t testing.TB) Opener) {
	ctx := context.Background()
	quiet := migrate.WithLogger(Logger())
	applied := func(t *testing.T, db *bun.DB) []string {
		t.Helper()
		st, err := migrate.Status(ctx, db)
		require.NoError(t, err)
		var out []string
		for _, s := range st {
			if s.Applied {
				out = append(out, s.Version)
			}
		}
		return out
	}
	hasTable := func(t *testing.T, db *bun.DB, name string) bool {
		t.Helper()
		_, err := db.ExecContext(ctx, "SELECT 1 FROM "+name+" WHERE 1 = 0")
		return err == nil
	}

	t.Run("UpDownStatus", func(t *testing.T) {
		db := fresh(t)(t)
		st, err := migrate.Status(ctx, db)
		require.NoError(t, err)
		require.Len(t, st, migrations)
		for _, s := range st {
			require.False(t, s.Applied)
		}
		require.False(t, hasTable(t, db, migrate.HistoryTable), "Status changes nothing")

		before := time.Now().Add(-time.Minute)
		require.NoError(t, migrate.Up(ctx, db, quiet))
		st, err = migrate.Status(ctx, db)
		require.NoError(t, err)
		for _, s := range st {
			require.True(t, s.Applied)
			require.Equal(t, int64(1), s.Group)
			require.True(t, s.AppliedAt.After(before), s.AppliedAt)
		}
		for _, tb := range tables {
			require.True(t, hasTable(t, db, tb), tb)
		}
		var slug string
		require.NoError(t, db.QueryRowContext(ctx, "SELECT slug FROM auth_tenants WHERE id = ?", auth.DefaultTenantID).Scan(&slug))
		require.Equal(t, auth.DefaultTenantSlug, slug)

		require.NoError(t, migrate.Up(ctx, db, quiet), "Up twice")
		st2, err := migrate.Status(ctx, db)
		require.NoError(t, err)
		require.Equal(t, st, st2, "the second Up is a no-op")

		// Rows in every table, linked as the store links them, do not stop
		// the way down.
		bs, err := bunstore.New(db, bunstore.WithSweepInterval(0), bunstore.WithLogger(Logger()))
		require.NoError(t, err)
		defer bs.Close()
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, bs.CreateUser(ctx, u))
		now := time.Now()
		require.NoError(t, bs.CreateSession(ctx, newSession(u, now)))
		require.NoError(t, bs.CreateActionToken(ctx, &auth.ActionToken{Hash: hash(u.ID), Purpose: auth.PurposeVerifyEmail, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		require.NoError(t, bs.WriteEvents(ctx, []auth.Event{{Type: auth.EventUserRegistered, Time: now, TenantID: u.TenantID, UserID: u.ID}}))
		evs, err := bs.AuditEvents(ctx, auth.EventQuery{TenantID: u.TenantID})
		require.NoError(t, err)
		require.Len(t, evs, 1)
		require.NoError(t, bs.PutPendingTOTPSecret(ctx, &totp.Secret{UserID: u.ID, KeyID: "k1", Sealed: []byte("sealed"), CreatedAt: now}))
		require.NoError(t, bs.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{hash("code")}, now))

		versions := func(n int) []string {
			var out []string
			for _, s := range st[:n] {
				out = append(out, s.Version)
			}
			return out
		}
		require.NoError(t, migrate.Down(ctx, db, quiet))
		require.Equal(t, versions(migrations-1), applied(t, db), "one step down: the sessions' fillfactor")
		require.NoError(t, migrate.Down(ctx, db, quiet))
		require.Equal(t, versions(migrations-2), applied(t, db), "two steps down")
		require.True(t, hasTable(t, db, "auth_totp_secrets"))
		require.NoError(t, migrate.Down(ctx, db, quiet))
		require.Equal(t, versions(migrations-3), applied(t, db), "three steps down")
		require.False(t, hasTable(t, db, "auth_totp_secrets"))
		require.False(t, hasTable(t, db, "auth_recovery_codes"))
		require.True(t, hasTable(t, db, "auth_session_hashes"))
		require.NoError(t, migrate.Up(ctx, db, quiet), "up again after down")
		require.Len(t, applied(t, db), migrations)
		require.True(t, hasTable(t, db, "auth_totp_secrets"))
		require.NoError(t, bs.PutPendingTOTPSecret(ctx, &totp.Secret{UserID: u.ID, KeyID: "k1", Sealed: []byte("sealed"), CreatedAt: now}))

		require.NoError(t, migrate.DownAll(ctx, db, quiet))
		require.Empty(t, applied(t, db))
		for _, tb := range tables {
			require.False(t, hasTable(t, db, tb), tb)
		}
		require.NoError(t, migrate.DownAll(ctx, db, quiet), "nothing to roll back")

		require.NoError(t, migrate.Up(ctx, db, quiet), "up after down")
		require.Len(t, applied(t, db), migrations)
		st, err = migrate.Status(ctx, db)
		require.NoError(t, err)
		require.Equal(t, int64(1), st[0].Group, "groups restart once the history is empty")
	})

	t.Run("ConcurrentUp", func(t *testing.T) {
		open := fresh(t)
		const n = 6
		dbs := make([]*bun.DB, n)
		for i := range dbs {
			dbs[i] = open(t)
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
	})

	t.Run("FailedUpAppliesNothing", func(t *testing.T) {
		db := fresh(t)(t)
		_, err := db.ExecContext(ctx, "CREATE TABLE auth_sessions (x INTEGER)")
		require.NoError(t, err)
		require.ErrorContains(t, migrate.Up(ctx, db, quiet), "create_sessions up")
		require.False(t, hasTable(t, db, "auth_tenants"), "the first migration was rolled back too")
		require.Empty(t, applied(t, db))
	})
}
