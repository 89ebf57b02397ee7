package migrate_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	"github.com/maestro-ml/auth/migrate"
)

// Example migrates a database at start-up and reports the state of every
// migration. Open db with bun (pgdriver and pgdialect, or an SQLite driver
// and sqlitedialect); here it is an empty PostgreSQL schema.
func Example() {
	ctx := context.Background()
	db, cleanup := exampleDB()
	defer cleanup()

	// Safe to run from every instance at once: they take turns, and all
	// but the first find nothing to do.
	if err := migrate.Up(ctx, db, migrate.WithLogger(slog.New(slog.DiscardHandler))); err != nil {
		log.Fatal(err)
	}
	status, err := migrate.Status(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range status {
		fmt.Println(s.Version, s.Name, s.Applied)
	}
	// Output:
	// 20261128120000 create_tenants_and_users true
	// 20261128120100 create_sessions true
	// 20261128120200 create_revocations true
	// 20261128120300 create_action_tokens true
	// 20261128120400 create_audit_events true
	// 20261128120500 create_session_hashes true
	// 20261205120000 create_totp true
	// 20261205120100 session_auth_methods true
	// 20261208120000 sessions_fillfactor true
}
