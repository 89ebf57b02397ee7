package pgtest_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/maestro-ml/auth/store/bunstore/internal/dbtest"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// defaultPostgresURL is the test database unless AUTH_TEST_POSTGRES_URL
// names another.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// postgresURL returns the URL of the test database.
func postgresURL() string {
	if u := os.Getenv("AUTH_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultPostgresURL
}

// postgres is a schema of its own in the test database, so that test runs
// in parallel never see each other's tables.
type postgres struct {
	Schema string
	admin  *bun.DB
}

// newPostgres creates a fresh schema, or fails if the server cannot be
// reached within ten seconds.
func newPostgres() (*postgres, error) {
	admin := openPostgres(postgresURL(), "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("PostgreSQL at %s is unreachable: %w", postgresURL(), err)
	}
	p := &postgres{Schema: "auth_test_" + randomHex(6), admin: admin}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+p.Schema); err != nil {
		_ = admin.Close()
		return nil, err
	}
	return p, nil
}

// Close drops the schema and everything in it.
func (p *postgres) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := p.admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+p.Schema+" CASCADE")
	if cerr := p.admin.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open returns a new pool of at most 20 connections whose search_path is
// the schema.
func (p *postgres) Open(t testing.TB) *bun.DB {
	db := openPostgres(postgresURL(), p.Schema)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Fresh creates another empty schema, dropped when the test ends, and
// returns an Opener for it.
func (p *postgres) Fresh(t testing.TB) dbtest.Opener {
	t.Helper()
	schema := "auth_test_" + randomHex(6)
	if _, err := p.admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.admin.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	return func(t testing.TB) *bun.DB {
		db := openPostgres(postgresURL(), schema)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
}

// openPostgres opens a pool on rawURL with the given search_path (none if
// empty), at most 20 connections, and a five-second dial timeout.
func openPostgres(rawURL, schema string) *bun.DB {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	if schema != "" {
		q.Set("search_path", schema)
	}
	if q.Get("dial_timeout") == "" {
		q.Set("dial_timeout", "5s")
	}
	u.RawQuery = q.Encode()
	sqldb := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(u.String())))
	sqldb.SetMaxOpenConns(20)
	return bun.NewDB(sqldb, pgdialect.New())
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
