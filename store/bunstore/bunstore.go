// Package bunstore stores users, tenants, sessions, revocations, action
// tokens and the audit log in PostgreSQL (first-class) or SQLite through
// github.com/uptrace/bun. One *Store implements every store interface of
// package auth.
//
// Create the tables with package migrate first; then:
//
//	sqldb := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(
//		"postgres://auth@db:5432/app?sslmode=verify-full")))
//	db := bun.NewDB(sqldb, pgdialect.New())
//	if err := migrate.Up(ctx, db); err != nil { ... }
//	st, err := bunstore.New(db)
//	if err != nil { ... }
//	defer st.Close()
//	events, err := audit.NewAsync(st, audit.AsyncConfig{}) // batches, retries
//	if err != nil { ... }
//	defer events.Shutdown(ctx) // writes what is buffered; before st.Close
//	a, err := auth.New(auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st,
//		ActionTokens: st, Notifier: mailer, Events: events, AuditLog: st})
//
// # Semantics
//
// Every operation is a single SQL statement (RotateSession's failure path
// adds one look-up to tell a missing session from a lost race; Sweep
// deletes in batches), so no transaction is ever held open. The database
// enforces uniqueness (emails, also case-insensitively; tenant slugs;
// refresh and action-token hashes) and foreign keys, and its errors become
// the sentinels of package auth: ErrEmailTaken, ErrTenantTaken,
// ErrTenantNotFound, ErrUserNotFound, ErrSessionNotFound, ErrConflict,
// ErrInvalidInput; an unknown, used or expired action token is
// ErrInvalidToken. A database that cannot be reached (refused
// or dropped connections, a closed pool, timeouts, an exhausted server)
// yields an error wrapping auth.ErrUnavailable; a canceled context yields
// an error wrapping context.Canceled, never an answer such as "not found".
// Returned errors carry no driver, bun or SQL text: causes are logged
// through the Store's *slog.Logger instead (Warn for unavailability, Error
// for anything unexpected).
//
// RotateSession is one conditional UPDATE ... RETURNING, so of concurrent
// refreshes with the same token exactly one wins; ConsumeActionToken is
// one DELETE ... RETURNING, so an action token is used at most once.
// Revoked answers the token, session and user entries in one query over
// the primary key.
//
// # Audit log
//
// WriteEvents inserts a batch of events in one statement, skipping IDs
// already stored: give the Store to audit.NewAsync (which batches,
// retries while the database is unavailable and counts what it drops) for
// Config.Events, and as Config.AuditLog. Events carry the UUIDv7 ID they
// were emitted with, so IDs follow emission order and serve as the paging
// cursor of AuditEvents, which answers every filter of auth.EventQuery
// from an index in one query.
//
// # PostgreSQL
//
// Use bun's pgdriver (github.com/uptrace/bun/driver/pgdriver). bun formats
// arguments into the query text itself (safely quoted) and sends queries
// without parameters, so with pgx through database/sql use the simple
// protocol (pgx.QueryExecModeSimpleProtocol, or default_query_exec_mode=
// simple_protocol in the connection string): pgx's default prepares every
// distinct query text anew, which costs 1.5 to 2.7 times as much per query.
// Time columns are timestamptz, written with microsecond precision. Meta is
// jsonb, so it comes back as an equivalent JSON document (keys reordered,
// whitespace dropped). IDs must be canonical lower-case UUIDs (auth.ValidID);
// anything else is simply not found. (The ID fields of audit events are
// text, so that no event is refused for an odd ID.)
//
// bun's quoting of inlined strings assumes standard_conforming_strings=on
// (PostgreSQL's default since 9.1; pgdriver insists on it). Do not turn it
// off on a database this store uses.
//
// Because arguments are inlined, a bun query hook (bundebug, for instance)
// sees emails, password hashes, refresh- and action-token hashes and audit
// events in the query text: do not log queries in production.
//
// # SQLite
//
// SQLite 3.37 or later is required (RETURNING, STRICT tables). The driver
// is the application's choice and is not a dependency of this module; the
// tests use the pure-Go modernc.org/sqlite. Recommended settings, here as a
// modernc.org/sqlite DSN:
//
//	file:auth.db?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate
//
// What each does:
//
//   - foreign_keys(1) is required, on every connection: New fails without
//     it, since it is what turns an unknown tenant into ErrTenantNotFound
//     and deletes a user's sessions and action tokens with the user.
//   - journal_mode(WAL) lets readers proceed while one connection writes.
//   - busy_timeout makes a writer wait for the write lock instead of
//     failing at once; a write that still cannot get it is ErrUnavailable.
//   - synchronous(NORMAL) saves an fsync per commit; in WAL mode the
//     database stays consistent, though a power loss may undo the last
//     commits (keep FULL if a revocation must survive one).
//   - _txlock=immediate takes the write lock at BEGIN for the host
//     application's own transactions (the store needs none).
//   - If the host application holds long write transactions, or writes
//     still fail with SQLITE_BUSY, give the store a pool of one connection
//     (db.SetMaxOpenConns(1)): SQLite has one writer anyway.
//
// Times are stored as INTEGER Unix milliseconds, the precision package auth
// works in; see package migrate.
//
// # Housekeeping
//
// Expired revocations are ignored by Revoked, expired sessions by
// ListSessions (SessionByRefreshHash still finds them, as its contract
// says), expired action tokens by ActionToken and ConsumeActionToken; all
// are deleted by Sweep, which a background janitor runs every five minutes
// by default (WithSweepInterval). Close stops it; Close does not close the
// *bun.DB, which belongs to the caller.
//
// Audit events are kept until deleted: by Sweep, when WithAuditRetention
// sets a retention period, or by the host application (events recorded
// before a time t are those whose id is below the smallest UUIDv7 of t,
// a range of the primary key).
package bunstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

var (
	_ auth.UserStore        = (*Store)(nil)
	_ auth.TenantStore      = (*Store)(nil)
	_ auth.SessionStore     = (*Store)(nil)
	_ auth.RevocationStore  = (*Store)(nil)
	_ auth.Sweeper          = (*Store)(nil)
	_ auth.ActionTokenStore = (*Store)(nil)
	_ auth.AuditLog         = (*Store)(nil)
	_ auth.EventWriter      = (*Store)(nil)
)

// DefaultSweepInterval is how often the janitor sweeps unless
// WithSweepInterval says otherwise.
const DefaultSweepInterval = 5 * time.Minute

// sweepBatch bounds the rows one DELETE of Sweep removes, so that a sweep
// never holds many row locks or a long write lock.
const sweepBatch = 1000

// Option configures a Store.
type Option func(*Store)

// WithSweepInterval sets how often the janitor runs Sweep; each run waits
// the interval plus or minus 10%, so that many instances do not sweep in
// step. Zero or negative disables the janitor (call Sweep yourself, or let
// another instance do it). Default: DefaultSweepInterval.
func WithSweepInterval(d time.Duration) Option { return func(s *Store) { s.sweepEvery = d } }

// WithAuditRetention makes Sweep, and so the janitor, also delete audit
// events recorded more than d before the time it is given (by the time in
// their UUIDv7 IDs, through the primary key). Zero or negative keeps them
// until the host application deletes them. Default: zero.
func WithAuditRetention(d time.Duration) Option { return func(s *Store) { s.retention = max(d, 0) } }

// WithClock sets the clock used by the janitor, by Revoked to ignore
// expired entries and by WriteEvents for an event without a time; it must be
// safe for concurrent use. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithLogger sets the logger that receives the causes of database errors
// (never returned to callers) and janitor failures. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// Store implements auth.UserStore, auth.TenantStore, auth.SessionStore,
// auth.RevocationStore, auth.ActionTokenStore, auth.AuditLog,
// auth.EventWriter and auth.Sweeper over a *bun.DB. It is safe for concurrent use.
type Store struct {
	db         *bun.DB
	sqlite     bool
	log        *slog.Logger
	now        func() time.Time
	sweepEvery time.Duration
	retention  time.Duration

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Store over db, whose dialect must be PostgreSQL or SQLite,
// and starts its janitor. The tables must exist (see package migrate). On
// SQLite, New checks that the version is at least 3.37 and that
// foreign_keys is ON, and returns an error otherwise (wrapping
// auth.ErrUnavailable if the database cannot be read). It never checks
// PostgreSQL, so it succeeds while the server is down.
func New(db *bun.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("bunstore: nil *bun.DB")
	}
	s := &Store{
		db:         db,
		log:        slog.Default(),
		now:        time.Now,
		sweepEvery: DefaultSweepInterval,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	switch db.Dialect().Name() {
	case dialect.PG:
	case dialect.SQLite:
		s.sqlite = true
	default:
		return nil, fmt.Errorf("bunstore: unsupported dialect %s: want PostgreSQL or SQLite", db.Dialect().Name())
	}
	for _, o := range opts {
		o(s)
	}
	if s.sqlite {
		if err := s.checkSQLite(); err != nil {
			return nil, err
		}
	}
	if s.sweepEvery > 0 {
		go s.janitor()
	} else {
		close(s.done)
	}
	return s, nil
}

func (s *Store) checkSQLite() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var version string
	var fk bool
	err := s.db.QueryRowContext(ctx, "SELECT sqlite_version(), (SELECT foreign_keys FROM pragma_foreign_keys())").Scan(&version, &fk)
	if err != nil {
		return s.fail(ctx, "New", err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil || major < 3 || (major == 3 && minor < 37) {
		return fmt.Errorf("bunstore: SQLite %s is too old: 3.37 or later is required", version)
	}
	if !fk {
		return errors.New("bunstore: SQLite foreign_keys must be ON for every connection (modernc.org/sqlite DSN: _pragma=foreign_keys(1))")
	}
	return nil
}

// Close stops the janitor and waits for it; a sweep in progress is
// canceled. It does not close the *bun.DB. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Store) janitor() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(s.sweepEvery))
		t := time.NewTimer(s.sweepEvery + jitter)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if n, err := s.Sweep(ctx, s.now()); err != nil {
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "bunstore: sweep failed", "error", err)
			}
		} else if n > 0 {
			s.log.DebugContext(ctx, "bunstore: swept expired entries", "count", n)
		}
	}
}

// Sweep implements auth.Sweeper: it deletes sessions whose idle or absolute
// expiry is not after now (revoked ones are kept until then, so their
// tokens are still recognised), revocations and action tokens whose expiry
// is not after now and, with WithAuditRetention(d), audit events recorded
// before now minus d, in batches, and returns how many rows it deleted.
// Errors as for every call (ErrUnavailable, context errors); rows deleted
// before an error stay deleted and are counted.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	t := s.at(now)
	lock := ""
	if !s.sqlite {
		lock = " FOR UPDATE SKIP LOCKED" // instances sweeping at once do not wait for each other
	}
	type del struct {
		query string
		args  []any
	}
	dels := []del{
		{"DELETE FROM auth_sessions WHERE id IN (SELECT id FROM auth_sessions WHERE idle_expires_at <= ? OR expires_at <= ? LIMIT ?" + lock + ")",
			[]any{t, t, sweepBatch}},
		{"DELETE FROM auth_revocations WHERE (kind, id) IN (SELECT kind, id FROM auth_revocations WHERE expires_at <= ? LIMIT ?" + lock + ")",
			[]any{t, sweepBatch}},
		{"DELETE FROM auth_action_tokens WHERE hash IN (SELECT hash FROM auth_action_tokens WHERE expires_at <= ? LIMIT ?" + lock + ")",
			[]any{t, sweepBatch}},
	}
	if s.retention > 0 {
		dels = append(dels, del{"DELETE FROM auth_audit_events WHERE id IN (SELECT id FROM auth_audit_events WHERE id < ? LIMIT ?" + lock + ")",
			[]any{auditBound(now.Add(-s.retention)), sweepBatch}})
	}
	total := 0
	for _, q := range dels {
		for {
			res, err := s.db.ExecContext(ctx, q.query, q.args...)
			if err != nil {
				return total, s.fail(ctx, "Sweep", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, s.fail(ctx, "Sweep", err)
			}
			total += int(n)
			if n < sweepBatch {
				break
			}
		}
	}
	return total, nil
}
