package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// appMigration is one change to the example's own schema. The library
// keeps its tables and history (auth_*) to itself; an application keeps its
// own, here in example_migrations, and applies them after the library's
// because its tables may reference the library's (a project belongs to a
// tenant).
type appMigration struct {
	version, name string
	up, down      map[dialect.Name][]string
}

// appMigrations are the example's migrations, oldest first.
func appMigrations() []appMigration {
	return []appMigration{{
		version: "20261128130000",
		name:    "create_example_projects",
		up: map[dialect.Name][]string{
			dialect.PG: {`CREATE TABLE example_projects (
    id          uuid        NOT NULL,
    tenant_id   uuid        NOT NULL REFERENCES auth_tenants (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    created_by  uuid        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT example_projects_pkey PRIMARY KEY (id),
    CONSTRAINT example_projects_tenant_name_key UNIQUE (tenant_id, name)
)`},
			// Times are TEXT in bun's SQLite format, always written in UTC.
			dialect.SQLite: {`CREATE TABLE example_projects (
    id          TEXT NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES auth_tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (tenant_id, name)
) STRICT`},
		},
		down: map[dialect.Name][]string{
			dialect.PG:     {`DROP TABLE example_projects`},
			dialect.SQLite: {`DROP TABLE example_projects`},
		},
	}}
}

// appHistoryDDL creates the example's migration history table.
const appHistoryDDL = `CREATE TABLE IF NOT EXISTS example_migrations (
    version    TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    applied_at BIGINT NOT NULL
)`

// appMigrationStatus is one row of "migrate status" for the example's
// migrations.
type appMigrationStatus struct {
	Version, Name string
	AppliedAt     time.Time // zero if not applied
}

// appMigrateUp applies the pending example migrations in one transaction.
func appMigrateUp(ctx context.Context, db *bun.DB, log *slog.Logger) error {
	return inAppMigrationTx(ctx, db, func(tx bun.Tx, applied map[string]time.Time) error {
		for _, m := range appMigrations() {
			if _, ok := applied[m.version]; ok {
				continue
			}
			for _, stmt := range m.up[db.Dialect().Name()] {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s_%s: %w", m.version, m.name, err)
				}
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO example_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, time.Now().UnixMilli()); err != nil {
				return err
			}
			log.Info("applied migration", "version", m.version, "name", m.name)
		}
		return nil
	})
}

// appMigrateDown rolls back the newest applied example migration, and
// reports whether there was one.
func appMigrateDown(ctx context.Context, db *bun.DB, log *slog.Logger) (bool, error) {
	rolledBack := false
	err := inAppMigrationTx(ctx, db, func(tx bun.Tx, applied map[string]time.Time) error {
		ms := appMigrations()
		for i := len(ms) - 1; i >= 0; i-- {
			m := ms[i]
			if _, ok := applied[m.version]; !ok {
				continue
			}
			for _, stmt := range m.down[db.Dialect().Name()] {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s_%s: %w", m.version, m.name, err)
				}
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM example_migrations WHERE version = ?", m.version); err != nil {
				return err
			}
			log.Info("rolled back migration", "version", m.version, "name", m.name)
			rolledBack = true
			return nil
		}
		return nil
	})
	return rolledBack, err
}

// appMigrateStatus lists the example migrations and when each was applied.
func appMigrateStatus(ctx context.Context, db *bun.DB) ([]appMigrationStatus, error) {
	applied, err := appliedMigrations(ctx, db)
	if err != nil {
		return nil, err
	}
	var out []appMigrationStatus
	for _, m := range appMigrations() {
		out = append(out, appMigrationStatus{Version: m.version, Name: m.name, AppliedAt: applied[m.version]})
	}
	return out, nil
}

// inAppMigrationTx runs fn in a transaction that holds the migration lock,
// with the versions applied so far. On PostgreSQL the lock is an advisory
// transaction lock, on SQLite the write lock that BEGIN IMMEDIATE
// (_txlock=immediate) takes; both end with the transaction, so a crash
// never leaves one behind, and instances starting together apply each
// migration once.
func inAppMigrationTx(ctx context.Context, db *bun.DB, fn func(bun.Tx, map[string]time.Time) error) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if db.Dialect().Name() == dialect.PG {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('example_migrations'))"); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, appHistoryDDL); err != nil {
			return err
		}
		applied, err := appliedMigrations(ctx, tx)
		if err != nil {
			return err
		}
		return fn(tx, applied)
	})
}

// appliedMigrations returns the applied versions and their times; none if
// the history table does not exist yet.
func appliedMigrations(ctx context.Context, db bun.IDB) (map[string]time.Time, error) {
	applied := map[string]time.Time{}
	rows, err := db.QueryContext(ctx, "SELECT version, applied_at FROM example_migrations")
	if err != nil {
		if exists, xerr := tableExists(ctx, db, "example_migrations"); xerr == nil && !exists {
			return applied, nil
		}
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		var ms int64
		if err := rows.Scan(&v, &ms); err != nil {
			return nil, err
		}
		applied[v] = time.UnixMilli(ms).UTC()
	}
	return applied, rows.Err()
}

// tableExists reports whether the table exists, on either dialect.
func tableExists(ctx context.Context, db bun.IDB, table string) (bool, error) {
	q := "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
	if db.Dialect().Name() == dialect.PG {
		q = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
	}
	var one int
	err := db.QueryRowContext(ctx, q, table).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
