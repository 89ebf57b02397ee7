package dbtest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/factor/totp/totptest"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// DriverWords must never appear in an error the store returns. ("bun:"
// is how bun's own errors begin; the store's operation names, such as
// "bunstore.Revoked", may appear.)
var DriverWords = []string{"pq:", "pgdriver", "dial", "sql:", "SQLSTATE", "sqlite", "SQLITE", "bun:", "connection refused", "database is closed", "INSERT", "SELECT", "UPDATE", "constraint"}

// RequireClean fails unless err wraps want and its message carries no
// driver or SQL text.
func RequireClean(t testing.TB, err error, want error) {
	t.Helper()
	require.ErrorIs(t, err, want)
	for _, w := range DriverWords {
		require.NotContains(t, err.Error(), w, "error text leaks driver details")
	}
}

// Logger is a logger for stores and migrations under test: silent unless
// go test -v.
func Logger() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}

// Store runs every bunstore test that holds on any dialect against the
// database open opens: migrate.Up, then the acceptance suites of package
// authtest and the store's own checks.
func Store(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	require.NoError(t, migrate.Up(ctx, db, migrate.WithLogger(Logger())))
	st, err := bunstore.New(db, bunstore.WithSweepInterval(0), bunstore.WithLogger(Logger()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	stores := authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st, ActionTokens: st, AuditLog: st}

	t.Run("Acceptance", func(t *testing.T) { authtest.TestStores(t, stores) })
	t.Run("TOTPAcceptance", func(t *testing.T) {
		totptest.TestStore(t, totptest.Stores{Users: st, Tenants: st, TOTP: st, Recovery: st})
	})
	t.Run("TOTP", func(t *testing.T) { totpChecks(t, db, st) })
	t.Run("ActionTokens", func(t *testing.T) { actionTokens(t, open, db, st) })
	t.Run("AuditLog", func(t *testing.T) { auditLog(t, open, st) })

	t.Run("RegisterRaceOneRow", func(t *testing.T) {
		// 50 argon2id hashes queue for the hashing slots: allow them time.
		h, err := auth.NewHasher(auth.HasherConfig{QueueTimeout: time.Minute})
		require.NoError(t, err)
		a := authtest.NewAuthenticator(t, stores, nil, auth.Config{Hasher: h})
		variants := []string{"Kate@X.com", "kate@x.com", "KATE@x.com"}
		const n = 50
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = a.Register(ctx, auth.RegisterRequest{Email: variants[i%len(variants)], Password: "correct horse battery staple"})
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			require.ErrorIs(t, err, auth.ErrEmailTaken)
		}
		require.Equal(t, 1, ok)
		var rows int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM auth_users WHERE lower(email) = 'kate@x.com'").Scan(&rows))
		require.Equal(t, 1, rows)
	})

	t.Run("EmailUniqueIgnoringCase", func(t *testing.T) {
		// Rows written by other tools may not be normalised; the index on
		// lower(email) still refuses a second account.
		u := newUser(auth.DefaultTenantID)
		u.Email = "Mixed." + u.Email
		require.NoError(t, st.CreateUser(ctx, u))
		dup := newUser(auth.DefaultTenantID)
		dup.Email = strings.ToLower(u.Email)
		require.ErrorIs(t, st.CreateUser(ctx, dup), auth.ErrEmailTaken)
	})

	t.Run("DefaultTenantMigrated", func(t *testing.T) {
		tn, err := st.Tenant(ctx, auth.DefaultTenantID)
		require.NoError(t, err)
		require.Equal(t, auth.DefaultTenantSlug, tn.Slug)
		require.Equal(t, "Default", tn.Name)
		require.True(t, tn.Active)
	})

	t.Run("RoundTripAwkwardText", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		u.Name = `O'Brien \ ? $1 ?0 -- ünïcødé 🎉 ''`
		u.Meta = json.RawMessage(`{"q":"it's ? \\ $1","n":[1,2.5,null],"u":"\u00e9"}`)
		require.NoError(t, st.CreateUser(ctx, u))
		got, err := st.User(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, u.Name, got.Name)
		require.JSONEq(t, string(u.Meta), string(got.Meta))

		s := newSession(u, time.Now())
		s.UserAgent, s.IP = `Agent 'x' ?`, "::1"
		require.NoError(t, st.CreateSession(ctx, s))
		gs, err := st.SessionByRefreshHash(ctx, s.RefreshHash)
		require.NoError(t, err)
		require.Equal(t, s.UserAgent, gs.UserAgent)
	})

	t.Run("MillisecondTimes", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		at := time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
		u.CreatedAt, u.UpdatedAt, u.LastLoginAt = at, at, &at
		require.NoError(t, st.CreateUser(ctx, u))
		got, err := st.User(ctx, u.ID)
		require.NoError(t, err)
		require.True(t, at.Equal(got.CreatedAt), "%v != %v", at, got.CreatedAt)
		require.True(t, at.Equal(*got.LastLoginAt))
		require.Equal(t, time.UTC, got.CreatedAt.Location())
	})

	t.Run("InvalidIDsAreNotFound", func(t *testing.T) {
		for _, id := range []string{"", "nope", "'; DROP TABLE auth_users; --", strings.ToUpper(newID())} {
			_, err := st.User(ctx, id)
			require.ErrorIs(t, err, auth.ErrUserNotFound, id)
			_, err = st.Tenant(ctx, id)
			require.ErrorIs(t, err, auth.ErrTenantNotFound, id)
			_, err = st.UpdateUser(ctx, "", id, auth.UserUpdate{At: time.Now()})
			require.ErrorIs(t, err, auth.ErrUserNotFound, id)
			_, err = st.RotateSession(ctx, id, auth.Rotation{From: hash("a"), To: hash("b"), At: time.Now(), IdleExpiresAt: time.Now()})
			require.ErrorIs(t, err, auth.ErrSessionNotFound, id)
			ids, err := st.RevokeSessions(ctx, auth.SessionRevocation{UserID: id, At: time.Now()})
			require.NoError(t, err)
			require.Empty(t, ids)
			list, err := st.ListSessions(ctx, id, time.Now())
			require.NoError(t, err)
			require.Empty(t, list)
		}
		_, err := st.ListUsers(ctx, auth.UserQuery{TenantID: auth.DefaultTenantID, After: "x"})
		require.ErrorIs(t, err, auth.ErrInvalidInput)
		require.ErrorIs(t, st.CreateUser(ctx, newUser("x")), auth.ErrTenantNotFound)
	})

	t.Run("CreateConflicts", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		again := newUser(auth.DefaultTenantID)
		again.ID = u.ID
		require.ErrorIs(t, st.CreateUser(ctx, again), auth.ErrConflict, "same ID, new email")

		tn := &auth.Tenant{ID: auth.DefaultTenantID, Name: "x", Slug: "fresh-" + randomHex(4), Active: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		require.ErrorIs(t, st.CreateTenant(ctx, tn), auth.ErrTenantTaken, "same ID, new slug")

		s := newSession(u, time.Now())
		require.NoError(t, st.CreateSession(ctx, s))
		s2 := newSession(u, time.Now())
		s2.RefreshHash = s.RefreshHash
		require.ErrorIs(t, st.CreateSession(ctx, s2), auth.ErrConflict, "same refresh hash")
		orphan := newSession(u, time.Now())
		orphan.UserID = newID()
		require.ErrorIs(t, st.CreateSession(ctx, orphan), auth.ErrUserNotFound)
	})

	t.Run("InvalidMetaRefused", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		u.Meta = json.RawMessage(`{not json`)
		require.ErrorIs(t, st.CreateUser(ctx, u), auth.ErrInvalidInput)
	})

	t.Run("SetTenantActive", func(t *testing.T) {
		tn := &auth.Tenant{ID: newID(), Name: "T", Slug: "t-" + randomHex(4), Active: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		require.NoError(t, st.CreateTenant(ctx, tn))
		require.NoError(t, st.SetTenantActive(ctx, tn.ID, false))
		got, err := st.Tenant(ctx, tn.ID)
		require.NoError(t, err)
		require.False(t, got.Active)
		require.ErrorIs(t, st.SetTenantActive(ctx, newID(), true), auth.ErrTenantNotFound)
	})

	t.Run("SessionsDeletedWithUser", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		s := newSession(u, time.Now())
		require.NoError(t, st.CreateSession(ctx, s))
		_, err := db.ExecContext(ctx, "DELETE FROM auth_users WHERE id = ?", u.ID)
		require.NoError(t, err)
		_, err = st.SessionByRefreshHash(ctx, s.RefreshHash)
		require.ErrorIs(t, err, auth.ErrSessionNotFound, "ON DELETE CASCADE")
	})

	t.Run("ExpiredRevocationsIgnoredBeforeSweep", func(t *testing.T) {
		clock := authtest.NewClock(time.Now())
		st2, err := bunstore.New(db, bunstore.WithSweepInterval(0), bunstore.WithClock(clock.Now), bunstore.WithLogger(Logger()))
		require.NoError(t, err)
		defer st2.Close()
		id := newID()
		require.NoError(t, st2.Revoke(ctx, auth.Revocation{Kind: auth.RevocationSession, ID: id, At: clock.Now(), ExpiresAt: clock.Now().Add(time.Minute)}))
		rs, err := st2.Revoked(ctx, auth.RevocationQuery{SessionID: id})
		require.NoError(t, err)
		require.True(t, rs.SessionRevoked)
		clock.Advance(time.Minute)
		rs, err = st2.Revoked(ctx, auth.RevocationQuery{SessionID: id})
		require.NoError(t, err)
		require.False(t, rs.SessionRevoked, "expired at exactly ExpiresAt")
	})

	t.Run("RevokeKeepsLaterExpiry", func(t *testing.T) {
		id, now := newID(), time.Now()
		require.NoError(t, st.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: id, At: now, ExpiresAt: now.Add(time.Hour)}))
		require.NoError(t, st.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: id, At: now, ExpiresAt: now.Add(time.Second)}))
		_, err := st.Sweep(ctx, now.Add(time.Minute))
		require.NoError(t, err)
		rs, err := st.Revoked(ctx, auth.RevocationQuery{TokenID: id})
		require.NoError(t, err)
		require.True(t, rs.TokenRevoked, "a shorter expiry does not shorten the entry")
		require.ErrorIs(t, st.Revoke(ctx, auth.Revocation{Kind: 9, ID: id, At: now, ExpiresAt: now}), auth.ErrInvalidInput)
	})

	t.Run("SweepCounts", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		far := time.Now().Add(1000 * time.Hour)
		for range 3 {
			require.NoError(t, st.CreateSession(ctx, newSession(u, far.Add(-48*time.Hour))))
		}
		require.NoError(t, st.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: newID(), At: far, ExpiresAt: far.Add(-time.Hour)}))
		for _, userID := range []string{u.ID, ""} { // a user's token and a decoy
			at := far.Add(-2 * time.Hour)
			require.NoError(t, st.CreateActionToken(ctx, &auth.ActionToken{Hash: hash(randomHex(16)), Purpose: auth.PurposeVerifyEmail,
				UserID: userID, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}))
		}
		live := &auth.ActionToken{Hash: hash(randomHex(16)), Purpose: auth.PurposeVerifyEmail, UserID: u.ID, CreatedAt: far, ExpiresAt: far.Add(time.Second)}
		require.NoError(t, st.CreateActionToken(ctx, live))
		n, err := st.Sweep(ctx, far)
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, 6)
		var tokens int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM auth_action_tokens WHERE expires_at <= ?", sqlTime(db, far)).Scan(&tokens))
		require.Zero(t, tokens, "expired action tokens swept")
		_, err = st.ActionToken(ctx, live.Purpose, live.Hash, far)
		require.NoError(t, err, "a live one stays")
		n, err = st.Sweep(ctx, far)
		require.NoError(t, err)
		require.Zero(t, n, "nothing left to sweep")
	})

	t.Run("JanitorSweepsAndStops", func(t *testing.T) {
		clock := authtest.NewClock(time.Now())
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		s := newSession(u, clock.Now().Add(-48*time.Hour))
		require.NoError(t, st.CreateSession(ctx, s))
		j, err := bunstore.New(db, bunstore.WithSweepInterval(20*time.Millisecond), bunstore.WithClock(clock.Now), bunstore.WithLogger(Logger()))
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err := st.SessionByRefreshHash(ctx, s.RefreshHash)
			return errors.Is(err, auth.ErrSessionNotFound)
		}, 10*time.Second, 20*time.Millisecond)
		done := make(chan struct{})
		go func() { _ = j.Close(); _ = j.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not stop the janitor")
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		for name, call := range calls(st) {
			err := call(cctx)
			require.ErrorIs(t, err, context.Canceled, name)
			for _, s := range []error{auth.ErrUserNotFound, auth.ErrTenantNotFound, auth.ErrSessionNotFound, auth.ErrConflict, auth.ErrUnavailable} {
				require.NotErrorIs(t, err, s, name)
			}
		}
	})

	t.Run("DeadlineIsUnavailable", func(t *testing.T) {
		dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		_, err := st.User(dctx, newID())
		require.ErrorIs(t, err, auth.ErrUnavailable)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, auth.ErrUserNotFound)
	})

	t.Run("ClosedPool", func(t *testing.T) {
		db2 := open(t)
		st2, err := bunstore.New(db2, bunstore.WithSweepInterval(0), bunstore.WithLogger(Logger()))
		require.NoError(t, err)
		defer st2.Close()
		require.NoError(t, db2.Close())
		for name, call := range calls(st2) {
			err := call(ctx)
			require.Error(t, err, name)
			RequireClean(t, err, auth.ErrUnavailable)
		}
	})

	t.Run("UnsupportedDialect", func(t *testing.T) {
		_, err := bunstore.New(nil)
		require.Error(t, err)
	})
}

// calls returns one call of every store method, each of which must reach
// the database.
func calls(st *bunstore.Store) map[string]func(context.Context) error {
	now := time.Now()
	u := newUser(auth.DefaultTenantID)
	return map[string]func(context.Context) error{
		"CreateUser": func(ctx context.Context) error { return st.CreateUser(ctx, u) },
		"User":       func(ctx context.Context) error { _, err := st.User(ctx, newID()); return err },
		"UserByEmail": func(ctx context.Context) error {
			_, err := st.UserByEmail(ctx, "nobody@example.com")
			return err
		},
		"UpdateUser": func(ctx context.Context) error {
			_, err := st.UpdateUser(ctx, "", newID(), auth.UserUpdate{At: now})
			return err
		},
		"ListUsers": func(ctx context.Context) error {
			_, err := st.ListUsers(ctx, auth.UserQuery{TenantID: auth.DefaultTenantID})
			return err
		},
		"CreateTenant": func(ctx context.Context) error {
			return st.CreateTenant(ctx, &auth.Tenant{ID: newID(), Name: "n", Slug: "s-" + randomHex(4), CreatedAt: now, UpdatedAt: now})
		},
		"Tenant":        func(ctx context.Context) error { _, err := st.Tenant(ctx, auth.DefaultTenantID); return err },
		"CreateSession": func(ctx context.Context) error { return st.CreateSession(ctx, newSession(u, now)) },
		"SessionByRefreshHash": func(ctx context.Context) error {
			_, err := st.SessionByRefreshHash(ctx, hash(newID()))
			return err
		},
		"RotateSession": func(ctx context.Context) error {
			_, err := st.RotateSession(ctx, newID(), auth.Rotation{From: hash("a"), To: hash("b"), At: now, IdleExpiresAt: now})
			return err
		},
		"ListSessions": func(ctx context.Context) error { _, err := st.ListSessions(ctx, u.ID, now); return err },
		"RevokeSessions": func(ctx context.Context) error {
			_, err := st.RevokeSessions(ctx, auth.SessionRevocation{UserID: u.ID, At: now})
			return err
		},
		"Revoke": func(ctx context.Context) error {
			return st.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: newID(), At: now, ExpiresAt: now.Add(time.Hour)})
		},
		"Revoked": func(ctx context.Context) error {
			_, err := st.Revoked(ctx, auth.RevocationQuery{TokenID: newID(), SessionID: newID(), UserID: newID()})
			return err
		},
		"Sweep":           func(ctx context.Context) error { _, err := st.Sweep(ctx, now); return err },
		"SetTenantActive": func(ctx context.Context) error { return st.SetTenantActive(ctx, auth.DefaultTenantID, true) },
		"CreateActionToken": func(ctx context.Context) error {
			return st.CreateActionToken(ctx, &auth.ActionToken{Hash: hash(newID()), Purpose: auth.PurposeVerifyEmail, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		},
		"ActionToken": func(ctx context.Context) error {
			_, err := st.ActionToken(ctx, auth.PurposeVerifyEmail, hash(newID()), now)
			return err
		},
		"ConsumeActionToken": func(ctx context.Context) error {
			_, err := st.ConsumeActionToken(ctx, auth.PurposeVerifyEmail, hash(newID()), now)
			return err
		},
		"DeleteActionTokens": func(ctx context.Context) error { return st.DeleteActionTokens(ctx, newID(), auth.PurposeVerifyEmail) },
		"TOTPSecret":         func(ctx context.Context) error { _, err := st.TOTPSecret(ctx, newID()); return err },
		"PutPendingTOTPSecret": func(ctx context.Context) error {
			return st.PutPendingTOTPSecret(ctx, &totp.Secret{UserID: newID(), KeyID: "k", Sealed: []byte("s"), CreatedAt: now})
		},
		"ConfirmTOTPSecret": func(ctx context.Context) error { return st.ConfirmTOTPSecret(ctx, newID(), []byte("s"), 1, now) },
		"UseTOTPStep": func(ctx context.Context) error {
			return st.UseTOTPStep(ctx, totp.StepUse{UserID: newID(), Sealed: []byte("s"), Step: 1, KeyID: "k", Resealed: []byte("t")})
		},
		"DeleteTOTPSecret": func(ctx context.Context) error { return st.DeleteTOTPSecret(ctx, newID()) },
		"ReplaceRecoveryCodes": func(ctx context.Context) error {
			return st.ReplaceRecoveryCodes(ctx, newID(), [][]byte{hash("a")}, now)
		},
		"UseRecoveryCode":     func(ctx context.Context) error { return st.UseRecoveryCode(ctx, newID(), hash("a")) },
		"RecoveryCodesLeft":   func(ctx context.Context) error { _, err := st.RecoveryCodesLeft(ctx, newID()); return err },
		"DeleteRecoveryCodes": func(ctx context.Context) error { return st.DeleteRecoveryCodes(ctx, newID()) },
		"AuditEvents": func(ctx context.Context) error {
			_, err := st.AuditEvents(ctx, auth.EventQuery{TenantID: auth.DefaultTenantID, UserID: newID(), Type: auth.EventLogout, Since: now, Until: now, Before: newID()})
			return err
		},
	}
}

// sqlTime returns t as the dialect of db stores it.
func sqlTime(db *bun.DB, t time.Time) any {
	if db.Dialect().Name() == dialect.SQLite {
		return t.UnixMilli()
	}
	return t
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func newUser(tenantID string) *auth.User {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &auth.User{
		ID: newID(), TenantID: tenantID, Email: "u-" + randomHex(6) + "@example.com", PasswordHash: "x",
		Role: auth.RoleViewer, Active: true, CreatedAt: now, UpdatedAt: now, Meta: json.RawMessage(`{}`),
	}
}

func newSession(u *auth.User, created time.Time) *auth.Session {
	created = created.UTC().Truncate(time.Millisecond)
	return &auth.Session{
		ID: newID(), UserID: u.ID, TenantID: u.TenantID, RefreshHash: hash(randomHex(16)),
		CreatedAt: created, LastUsedAt: created, IdleExpiresAt: created.Add(time.Hour), ExpiresAt: created.Add(24 * time.Hour),
	}
}
