// Package migrate creates and removes the tables of store/bunstore with
// versioned SQL migrations embedded in the binary: one set for PostgreSQL
// and one for SQLite, picked from db.Dialect().Name().
//
// Usage, once at start-up and before bunstore.New:
//
//	sqldb := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
//	db := bun.NewDB(sqldb, pgdialect.New())
//	if err := migrate.Up(ctx, db); err != nil {
//		log.Fatal(err)
//	}
//	st, err := bunstore.New(db)
//
// Every table is prefixed auth_ (auth_tenants, auth_users, auth_sessions,
// auth_revocations, auth_action_tokens, auth_audit_events) and the history
// lives in its own table, auth_migrations, in the layout of
// github.com/uptrace/bun/migrate, so the host application's own tables and
// migrations are never touched. After Up, the default tenant
// (auth.DefaultTenantID, auth.DefaultTenantSlug) exists.
//
// # Safety
//
// Each call runs in one transaction: Up applies every pending migration and
// records it, or nothing at all; Down and DownAll likewise. Concurrent calls,
// from goroutines or from several instances of a service starting at once,
// are serialised by a lock that the database itself releases when the
// transaction ends or its connection dies, so a crash never leaves a stale
// lock behind:
//
//   - PostgreSQL: a transaction-level advisory lock keyed by the current
//     schema (pg_try_advisory_xact_lock), so schemas of one database migrate
//     independently.
//   - SQLite: the database write lock, taken with BEGIN IMMEDIATE.
//
// A call waits for the lock until ctx is done. Up on an up-to-date database
// is a no-op.
//
// The file format (NNNNNNNNNNNNNN_name.up.sql and .down.sql, statements
// separated by "--bun:split" lines) and the history table are those of
// github.com/uptrace/bun/migrate, whose Migrator, however, records each
// migration apart from running it and guards concurrent runs with a lock
// row that fails instead of waiting and survives a crash; hence the
// transaction and the database-held lock above, and no lock table.
//
// # Schema
//
// Times are timestamptz on PostgreSQL. On SQLite they are INTEGER Unix
// milliseconds (UTC): package auth works at millisecond precision, integers
// round-trip it exactly and compare correctly in SQL and in indexes, and,
// unlike text, no format or time-zone variant written by another tool can
// sort wrongly. Read them with strftime('%Y-%m-%dT%H:%M:%fZ', col / 1000.0,
// 'unixepoch'). SQLite tables are STRICT (SQLite 3.37 or later), and meta
// must pass json_valid; on PostgreSQL it is jsonb.
//
// Emails are unique as stored (auth.NormalizeEmail lower-cases them) and
// also under lower(), so rows written by other tools cannot create a
// second account differing only in case. Column names follow the system
// the package replaces (is_active, is_verified, password_hash, meta, ...),
// so importing users is a plain INSERT ... SELECT.
//
// Action tokens are keyed by their SHA-256 hash; the decoy tokens written
// for unknown addresses have a NULL user_id, and a user's tokens go with
// the user (ON DELETE CASCADE). Audit events have no foreign keys, so the
// log outlives users and tenants; their id is a UUIDv7, their ID fields
// (tenant_id, user_id, actor_id, session_id) are text, NULL when absent,
// and their free-text fields empty strings. Every query path of
// bunstore's AuditEvents has an index.
//
// The SQL files are also available through Files, for teams that run their
// migrations with another tool.
package migrate

import (
	"cmp"
	"context"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	bunmigrate "github.com/uptrace/bun/migrate"
)

// HistoryTable is the table that records applied migrations.
const HistoryTable = "auth_migrations"

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Option configures Up, Down and DownAll.
type Option func(*config)

type config struct {
	log *slog.Logger
}

// WithLogger sets the logger that records each migration applied or rolled
// back, at Info level. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

func newConfig(opts []Option) config {
	c := config{log: slog.Default()}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// MigrationStatus describes one migration.
type MigrationStatus struct {
	// Version is the 14-digit version that orders migrations, as in the
	// file name and in the history table's name column.
	Version string
	// Name is the rest of the file name, e.g. "create_sessions".
	Name string
	// Applied reports whether the migration is recorded as applied.
	Applied bool
	// AppliedAt is when it was applied; zero if it is not.
	AppliedAt time.Time
	// Group is the number of the Up call that applied it (1 for the first);
	// zero if it is not applied.
	Group int64
	// Unknown is set for a migration the database records as applied but
	// this version of the package does not have (the database was migrated
	// by a newer version). Down refuses to roll it back.
	Unknown bool
}

// Up applies every pending migration, in version order, in one
// transaction, and records each in HistoryTable. It is a no-op when there
// is none. It returns an error for a dialect other than PostgreSQL or
// SQLite, when ctx is done before the lock is taken, and when a migration
// fails, in which case nothing is applied.
func Up(ctx context.Context, db *bun.DB, opts ...Option) error {
	cfg := newConfig(opts)
	set, err := load(db)
	if err != nil {
		return err
	}
	return locked(ctx, db, func(ctx context.Context, idb bun.IDB) error {
		applied, err := history(ctx, idb)
		if err != nil {
			return err
		}
		done := make(map[string]bool, len(applied))
		var group int64
		for _, a := range applied {
			done[a.Name] = true
			group = max(group, a.GroupID)
		}
		group++
		for _, m := range set {
			if done[m.version] {
				continue
			}
			if err := run(ctx, idb, m.up); err != nil {
				return fmt.Errorf("migrate: %s_%s up: %w", m.version, m.name, err)
			}
			rec := &bunmigrate.Migration{Name: m.version, GroupID: group, MigratedAt: time.Now()}
			if _, err := idb.NewInsert().Model(rec).ModelTableExpr(HistoryTable).Exec(ctx); err != nil {
				return fmt.Errorf("migrate: recording %s: %w", m.version, err)
			}
			cfg.log.InfoContext(ctx, "auth: migration applied", "version", m.version, "name", m.name)
		}
		return nil
	})
}

// Down rolls back the most recently applied migration, in one transaction.
// It is a no-op when none is applied. It returns an error if that migration
// is unknown to this version of the package (see MigrationStatus.Unknown).
func Down(ctx context.Context, db *bun.DB, opts ...Option) error {
	return down(ctx, db, 1, newConfig(opts))
}

// DownAll rolls back every applied migration, newest first, in one
// transaction, dropping every table of the package (the history table
// stays, empty). It is a no-op when none is applied.
func DownAll(ctx context.Context, db *bun.DB, opts ...Option) error {
	return down(ctx, db, -1, newConfig(opts))
}

func down(ctx context.Context, db *bun.DB, steps int, cfg config) error {
	set, err := load(db)
	if err != nil {
		return err
	}
	byVersion := make(map[string]migration, len(set))
	for _, m := range set {
		byVersion[m.version] = m
	}
	return locked(ctx, db, func(ctx context.Context, idb bun.IDB) error {
		applied, err := history(ctx, idb)
		if err != nil {
			return err
		}
		slices.SortFunc(applied, func(a, b bunmigrate.Migration) int { return cmp.Compare(b.Name, a.Name) })
		for i, a := range applied {
			if steps >= 0 && i >= steps {
				break
			}
			m, ok := byVersion[a.Name]
			if !ok {
				return fmt.Errorf("migrate: cannot roll back migration %s: it is unknown to this version of the package", a.Name)
			}
			if err := run(ctx, idb, m.down); err != nil {
				return fmt.Errorf("migrate: %s_%s down: %w", m.version, m.name, err)
			}
			if _, err := idb.NewDelete().Model((*bunmigrate.Migration)(nil)).ModelTableExpr(HistoryTable).
				Where("id = ?", a.ID).Exec(ctx); err != nil {
				return fmt.Errorf("migrate: unrecording %s: %w", m.version, err)
			}
			cfg.log.InfoContext(ctx, "auth: migration rolled back", "version", m.version, "name", m.name)
		}
		return nil
	})
}

// Status returns every migration of the package in version order with its
// state, followed by any applied migration the package does not know. It
// takes no lock and changes nothing; on a database never migrated, every
// migration is reported pending.
func Status(ctx context.Context, db *bun.DB) ([]MigrationStatus, error) {
	set, err := load(db)
	if err != nil {
		return nil, err
	}
	var exists bool
	q := "SELECT to_regclass(?) IS NOT NULL"
	if db.Dialect().Name() == dialect.SQLite {
		q = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)"
	}
	if err := db.QueryRowContext(ctx, q, HistoryTable).Scan(&exists); err != nil {
		return nil, fmt.Errorf("migrate: reading status: %w", err)
	}
	var applied []bunmigrate.Migration
	if exists {
		if applied, err = history(ctx, db); err != nil {
			return nil, err
		}
	}
	byVersion := make(map[string]bunmigrate.Migration, len(applied))
	for _, a := range applied {
		byVersion[a.Name] = a
	}
	out := make([]MigrationStatus, 0, len(set))
	for _, m := range set {
		st := MigrationStatus{Version: m.version, Name: m.name}
		if a, ok := byVersion[m.version]; ok {
			st.Applied, st.AppliedAt, st.Group = true, a.MigratedAt.UTC(), a.GroupID
			delete(byVersion, m.version)
		}
		out = append(out, st)
	}
	var unknown []MigrationStatus
	for _, a := range byVersion {
		unknown = append(unknown, MigrationStatus{Version: a.Name, Applied: true, AppliedAt: a.MigratedAt.UTC(), Group: a.GroupID, Unknown: true})
	}
	slices.SortFunc(unknown, func(a, b MigrationStatus) int { return cmp.Compare(a.Version, b.Version) })
	return append(out, unknown...), nil
}

// Files returns the SQL migration files for a dialect (dialect.PG or
// dialect.SQLite), named NNNNNNNNNNNNNN_name.up.sql and .down.sql with
// statements separated by "--bun:split" lines, for use with another
// migration tool. It returns an error for any other dialect.
func Files(name dialect.Name) (fs.FS, error) {
	dir, err := dirFor(name)
	if err != nil {
		return nil, err
	}
	return fs.Sub(files, dir)
}

func dirFor(name dialect.Name) (string, error) {
	switch name {
	case dialect.PG:
		return "postgres", nil
	case dialect.SQLite:
		return "sqlite", nil
	}
	return "", fmt.Errorf("migrate: unsupported dialect %s: want PostgreSQL or SQLite", name)
}

type migration struct {
	version, name string
	up, down      []string
}

var fileRE = regexp.MustCompile(`^(\d{14})_([a-z0-9_]+)\.(up|down)\.sql$`)

// load reads and checks the migrations for db's dialect, in version order.
func load(db *bun.DB) ([]migration, error) {
	if db == nil {
		return nil, errors.New("migrate: nil *bun.DB")
	}
	dir, err := dirFor(db.Dialect().Name())
	if err != nil {
		return nil, err
	}
	return parse(files, dir)
}

func parse(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	byVersion := map[string]*migration{}
	for _, e := range entries {
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("migrate: unexpected file %s/%s", dir, e.Name())
		}
		b, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		mig := byVersion[m[1]]
		if mig == nil {
			mig = &migration{version: m[1], name: m[2]}
			byVersion[m[1]] = mig
		}
		if mig.name != m[2] {
			return nil, fmt.Errorf("migrate: version %s has two names: %s and %s", m[1], mig.name, m[2])
		}
		stmts, err := split(string(b))
		if err != nil {
			return nil, fmt.Errorf("migrate: %s: %w", e.Name(), err)
		}
		if m[3] == "up" {
			mig.up = stmts
		} else {
			mig.down = stmts
		}
	}
	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.up == nil || m.down == nil {
			return nil, fmt.Errorf("migrate: migration %s_%s needs both an up and a down file", m.version, m.name)
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	return out, nil
}

// split cuts a migration file into statements at "--bun:split" lines, as
// github.com/uptrace/bun/migrate does. It returns a non-nil slice.
func split(src string) ([]string, error) {
	stmts := []string{}
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for line := range strings.Lines(src) {
		if d, ok := strings.CutPrefix(line, "--bun:"); ok {
			if strings.TrimSpace(d) != "split" {
				return nil, fmt.Errorf("unknown directive --bun:%s", strings.TrimSpace(d))
			}
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return stmts, nil
}

func run(ctx context.Context, idb bun.IDB, stmts []string) error {
	for _, s := range stmts {
		if _, err := idb.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// history creates the history table if needed and returns its rows.
func history(ctx context.Context, idb bun.IDB) ([]bunmigrate.Migration, error) {
	if _, err := idb.NewCreateTable().Model((*bunmigrate.Migration)(nil)).ModelTableExpr(HistoryTable).
		IfNotExists().Exec(ctx); err != nil {
		return nil, fmt.Errorf("migrate: creating %s: %w", HistoryTable, err)
	}
	var ms []bunmigrate.Migration
	if err := idb.NewSelect().ColumnExpr("*").Model(&ms).ModelTableExpr(HistoryTable).Scan(ctx); err != nil {
		return nil, fmt.Errorf("migrate: reading %s: %w", HistoryTable, err)
	}
	return ms, nil
}

// lockClass is the first key of the PostgreSQL advisory lock ("auth").
const lockClass = 0x61757468

// locked runs fn in a transaction that holds the migration lock.
func locked(ctx context.Context, db *bun.DB, fn func(context.Context, bun.IDB) error) error {
	if db.Dialect().Name() == dialect.SQLite {
		return lockedSQLite(ctx, db, fn)
	}
	return keepDeadline(ctx, db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
			var ok bool
			if err := tx.QueryRowContext(ctx, "SELECT pg_try_advisory_xact_lock(?, hashtext(coalesce(current_schema(), '')))",
				lockClass).Scan(&ok); err != nil {
				return fmt.Errorf("migrate: taking the lock: %w", err)
			}
			if ok {
				break
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
		return fn(ctx, tx)
	}))
}

// keepDeadline adds context.DeadlineExceeded to err when ctx's deadline
// has passed: the driver sets the connection's deadline from the
// context's, so its own "i/o timeout" can fire a moment before the
// context's timer does, and a caller testing errors.Is(err,
// context.DeadlineExceeded) would not see why the call failed.
func keepDeadline(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	dl, ok := ctx.Deadline()
	if ok && (!time.Now().Before(dl) || errors.Is(err, os.ErrDeadlineExceeded)) {
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return err
}

// lockedSQLite runs fn on one connection inside BEGIN IMMEDIATE, which
// takes the database write lock at once, so the migrations read and write
// under it.
func lockedSQLite(ctx context.Context, db *bun.DB, fn func(context.Context, bun.IDB) error) (err error) {
	// Opening a connection runs the DSN's pragmas, and journal_mode(WAL)
	// needs the lock another caller may be holding: busy here is a wait
	// too, not a failure.
	var conn bun.Conn
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		conn, err = db.Conn(ctx)
		if err == nil {
			break
		}
		if !busy(err) {
			return fmt.Errorf("migrate: %w", err)
		}
		if err = sleep(ctx, wait); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				// Never return a connection inside a transaction to the pool.
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}
		_ = conn.Close()
	}()
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		if err == nil {
			break
		}
		if !busy(err) {
			return fmt.Errorf("migrate: taking the lock: %w", err)
		}
		if err = sleep(ctx, wait); err != nil {
			return err
		}
	}
	if err = fn(ctx, conn); err != nil {
		return err
	}
	if _, err = conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// busy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED, from
// any driver.
func busy(err error) bool {
	var coder interface{ Code() int }
	if errors.As(err, &coder) {
		if c := coder.Code() & 0xff; c == 5 || c == 6 {
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "database table is locked") ||
		strings.Contains(msg, "SQLITE_BUSY")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("migrate: waiting for the lock: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
