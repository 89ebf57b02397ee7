// Command scale measures how the cold-path operations cost as the stores
// grow: for each size it creates a PostgreSQL database of its own, fills it
// server-side (users, sessions, audit events: INSERT ... SELECT over
// generate_series, one statement a table, then VACUUM ANALYZE), and, for
// each -sqlite size, a SQLite file in a temporary directory (filled the
// same way with a recursive CTE, then ANALYZE), and times login, refresh,
// logout everywhere, a page of the admin user list, a page of the audit
// log and a user's session listing through an Authenticator on bunstore.
// It prints a table of p50 and p99 per operation and size, writes it and
// an SVG plot of the p50s to -out, and drops the databases. Bounded: the
// sizes and samples are flags, and it touches only the server of -pg.
//
//	cd bench && go run ./cmd/scale -sizes 1000,100000,1000000 -sqlite 1000,100000 -sessions 10
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/redis/rueidis"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

const password = "a scale test password"

// ops are the operations timed, in the order of the table.
var ops = []string{"login", "refresh", "logout-all", "admin-user-page", "audit-page", "session-list"}

func main() {
	pg := flag.String("pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server (a database is created per size, then dropped)")
	sizesFlag := flag.String("sizes", "1000,100000,1000000", "numbers of users on PostgreSQL, comma-separated")
	sqliteFlag := flag.String("sqlite", "1000,100000", "numbers of users on SQLite, comma-separated; empty: none")
	sessions := flag.Int("sessions", 10, "sessions per user")
	events := flag.Int("events", 5, "audit events per user")
	samples := flag.Int("samples", 100, "timed calls per operation and size")
	out := flag.String("out", "results/scale", "directory for the tables (.md) and plots (.svg)")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis server for the replica sizes (keys under a prefix of their own, deleted)")
	replicaFlag := flag.String("replica", "1000,10000,100000,1000000", "numbers of live revocations for the replica; empty: none")
	checks := flag.Int("checks", 100000, "timed checks per kind and replica size")
	tokens := flag.Int("tokens", 1000000, "distinct tokens through the verified-token cache; 0: none")
	flag.Parse()
	sizes, sqliteSizes := parseSizes("sizes", *sizesFlag), parseSizes("sqlite", *sqliteFlag)
	if err := run(*pg, sizes, sqliteSizes, *sessions, *events, *samples, *out); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	if err := runMemory(*redisAddr, parseSizes("replica", *replicaFlag), *checks, *tokens, *out); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// runMemory measures the revocation replica at each size and the
// verified-token cache, and writes their tables to out.
func runMemory(redisAddr string, sizes []int, checks, tokens int, out string) error {
	ctx := context.Background()
	if len(sizes) > 0 {
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redisAddr}})
		if err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		defer client.Close()
		var rs []replicaResult
		for _, n := range sizes {
			r, err := measureReplica(ctx, client, n, checks)
			if err != nil {
				return fmt.Errorf("replica, %d entries: %w", n, err)
			}
			rs = append(rs, r)
			fmt.Fprintf(os.Stderr, "scale: replica, %d entries done\n", n)
		}
		table := renderReplica(rs, checks)
		fmt.Print(table, "\n")
		if err := os.WriteFile(filepath.Join(out, "replica.md"), []byte(table), 0o644); err != nil {
			return err
		}
	}
	if tokens > 0 {
		r, err := measureTokenCache(ctx, tokens)
		if err != nil {
			return fmt.Errorf("token cache: %w", err)
		}
		line := renderTokenCache(r)
		fmt.Print(line)
		return os.WriteFile(filepath.Join(out, "tokencache.md"), []byte(line), 0o644)
	}
	return nil
}

// parseSizes reads a comma-separated list of sizes; "" is none.
func parseSizes(name, list string) []int {
	var sizes []int
	for s := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 10 {
			fmt.Fprintf(os.Stderr, "scale: -%s: each size must be a number of at least 10\n", name)
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// result is one size's latencies per operation.
type result struct {
	users, sessions, events int
	fill                    time.Duration
	lat                     map[string][]time.Duration
}

func run(pgURL string, sizes, sqliteSizes []int, sessions, events, samples int, out string) error {
	ctx := context.Background()
	admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(pgURL)))
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		return fmt.Errorf("-pg: %w", err)
	}
	hasher, err := auth.NewHasher(auth.HasherConfig{})
	if err != nil {
		return err
	}
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if len(sizes) == 0 && len(sqliteSizes) == 0 {
		return nil
	}
	for _, b := range []struct {
		name, file string
		sizes      []int
		measure    func(n int) (result, error)
	}{
		{"PostgreSQL", "scale", sizes, func(n int) (result, error) {
			return measurePG(ctx, admin, pgURL, n, sessions, events, samples, hash)
		}},
		{"SQLite", "scale-sqlite", sqliteSizes, func(n int) (result, error) {
			return measureSQLite(ctx, n, sessions, events, samples, hash)
		}},
	} {
		if len(b.sizes) == 0 {
			continue
		}
		var results []result
		for _, n := range b.sizes {
			r, err := b.measure(n)
			if err != nil {
				return fmt.Errorf("%s, %d users: %w", b.name, n, err)
			}
			results = append(results, r)
			fmt.Fprintf(os.Stderr, "scale: %s, %d users done (filled in %v)\n", b.name, n, r.fill.Round(time.Second))
		}
		table := render(b.name, results, samples)
		fmt.Print(table, "\n")
		if err := os.WriteFile(filepath.Join(out, b.file+".md"), []byte(table), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, b.file+".svg"), []byte(plot(results)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// measurePG builds a PostgreSQL database of n users and times the
// operations on it.
func measurePG(ctx context.Context, admin *sql.DB, pgURL string, n, perUser, eventsPerUser, samples int, hash string) (r result, err error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "auth_scale_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return r, err
	}
	defer func() {
		if _, derr := admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); derr != nil && err == nil {
			err = derr
		}
	}()
	dsn, err := withDatabase(pgURL, name)
	if err != nil {
		return r, err
	}
	db := bun.NewDB(sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn), pgdriver.WithTimeout(30*time.Minute))), pgdialect.New())
	defer db.Close()
	if err := migrate.Up(ctx, db); err != nil {
		return r, err
	}
	start := time.Now()
	if err := fill(ctx, db, n, perUser, eventsPerUser, hash); err != nil {
		return r, err
	}
	r = result{users: n, sessions: n * perUser, events: n * eventsPerUser, fill: time.Since(start), lat: map[string][]time.Duration{}}
	return r, timeOps(ctx, db, n, samples, &r)
}

// sqlitePragmas are the settings package bunstore recommends.
const sqlitePragmas = "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// measureSQLite builds a SQLite file of n users in a temporary directory
// and times the operations on it.
func measureSQLite(ctx context.Context, n, perUser, eventsPerUser, samples int, hash string) (r result, err error) {
	dir, err := os.MkdirTemp("", "auth-scale-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	sqldb, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "auth.db")+"?"+sqlitePragmas)
	if err != nil {
		return r, err
	}
	db := bun.NewDB(sqldb, sqlitedialect.New())
	defer db.Close()
	if err := migrate.Up(ctx, db); err != nil {
		return r, err
	}
	start := time.Now()
	if err := fillSQLite(ctx, db, n, perUser, eventsPerUser, hash); err != nil {
		return r, err
	}
	r = result{users: n, sessions: n * perUser, events: n * eventsPerUser, fill: time.Since(start), lat: map[string][]time.Duration{}}
	return r, timeOps(ctx, db, n, samples, &r)
}

// timeOps times samples calls of each operation on db, of n users, into r.
func timeOps(ctx context.Context, db *bun.DB, n, samples int, r *result) error {
	st, err := bunstore.New(db, bunstore.WithSweepInterval(0))
	if err != nil {
		return err
	}
	defer st.Close()
	mem := memstore.New()
	defer mem.Close()
	key, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		return err
	}
	keys, err := auth.NewKeySet(key)
	if err != nil {
		return err
	}
	off := auth.Limit{Burst: -1}
	a, err := auth.New(auth.Config{
		Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: mem, ActionTokens: st, AuditLog: st,
		Events: audit.Nop{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: auth.Limits{LoginPerIP: off, LoginPerAccount: off, RegisterPerIP: off, RefreshPerIP: off},
	})
	if err != nil {
		return err
	}
	time1 := func(op string, fn func() error) error {
		t := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		r.lat[op] = append(r.lat[op], time.Since(t))
		return nil
	}
	for i := range samples {
		email := fmt.Sprintf("u%d@scale.test", 1+(i*7919)%n) // spread over the table
		var pair *auth.TokenPair
		var u *auth.User
		if err := time1("login", func() (err error) {
			pair, u, err = a.Login(ctx, auth.LoginRequest{Email: email, Password: password})
			return err
		}); err != nil {
			return err
		}
		if err := time1("refresh", func() error {
			_, err := a.Refresh(ctx, auth.RefreshRequest{RefreshToken: pair.RefreshToken})
			return err
		}); err != nil {
			return err
		}
		if err := time1("session-list", func() error {
			_, err := a.Sessions(ctx, u.ID)
			return err
		}); err != nil {
			return err
		}
		if err := time1("admin-user-page", func() error {
			_, _, err := a.ListUsers(ctx, auth.UserQuery{TenantID: auth.DefaultTenantID, After: u.ID, Limit: 50})
			return err
		}); err != nil {
			return err
		}
		if err := time1("audit-page", func() error {
			_, _, err := a.AuditEvents(ctx, auth.EventQuery{TenantID: auth.DefaultTenantID, UserID: u.ID, Limit: 50})
			return err
		}); err != nil {
			return err
		}
		if err := time1("logout-all", func() error { return a.LogoutAll(ctx, u.ID) }); err != nil {
			return err
		}
	}
	return nil
}

// fill inserts n users, perUser sessions each and eventsPerUser audit
// events each, server-side.
func fill(ctx context.Context, db *bun.DB, n, perUser, eventsPerUser int, hash string) error {
	stmts := []struct {
		query string
		args  []any
	}{
		// User IDs are UUIDv7, as the library makes them (time-ordered:
		// a page of the user list by ID reads neighbouring heap rows);
		// random ones would scatter every page over the table.
		{`INSERT INTO auth_users (id, tenant_id, email, password_hash, is_verified)
		  SELECT (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' ||
		          substr(r, 7, 12))::uuid,
		         '00000000-0000-0000-0000-000000000001', 'u' || i || '@scale.test', ?, true
		  FROM generate_series(1, ?) AS i,
		       LATERAL (SELECT lpad(to_hex(? + i), 12, '0') AS h, md5(i::text || random()::text) AS r) AS x`,
			[]any{hash, n, time.Now().UnixMilli() - int64(n)}},
		{`INSERT INTO auth_sessions (id, user_id, tenant_id, refresh_hash, created_at, last_used_at, idle_expires_at, expires_at)
		  SELECT gen_random_uuid(), u.id, u.tenant_id, sha256((u.id::text || ':' || j)::bytea),
		         now() - (j || ' minutes')::interval, now(), now() + interval '7 days', now() + interval '30 days'
		  FROM auth_users u, generate_series(1, ?) AS j`, []any{perUser}},
		{`INSERT INTO auth_audit_events (id, type, time, tenant_id, user_id, reason)
		  SELECT gen_random_uuid(), 'login.succeeded', now() - (j || ' minutes')::interval, u.tenant_id::text, u.id::text, ''
		  FROM auth_users u, generate_series(1, ?) AS j`, []any{eventsPerUser}},
		// VACUUM as well as ANALYZE: otherwise autovacuum starts on the new
		// rows while the operations are timed (10^7 of them at the largest
		// size), and its I/O lands in the figures; it also sets the
		// visibility map, as a table in steady state has it.
		{`VACUUM (ANALYZE)`, nil},
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s.query, s.args...); err != nil {
			return err
		}
	}
	return nil
}

// sqliteUUID is a random UUID-shaped ID in SQLite (version 4 layout), for
// sessions and events; users get UUIDv7-shaped ones, as in fill.
const sqliteUUID = `lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-8' ||
	substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))`

// fillSQLite is fill for SQLite: the same rows, generated by a recursive
// CTE, times as Unix milliseconds as the SQLite schema keeps them.
func fillSQLite(ctx context.Context, db *bun.DB, n, perUser, eventsPerUser int, hash string) error {
	now := time.Now().UnixMilli()
	const minute, day = int64(time.Minute / time.Millisecond), int64(24 * time.Hour / time.Millisecond)
	series := `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) `
	stmts := []struct {
		query string
		args  []any
	}{
		{series + `INSERT INTO auth_users (id, tenant_id, email, password_hash, is_verified)
		  SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' ||
		         substr(r, 7, 12), '00000000-0000-0000-0000-000000000001', 'u' || i || '@scale.test', ?, 1
		  FROM (SELECT i, printf('%012x', ? + i) AS h, lower(hex(randomblob(9))) AS r FROM s)`,
			[]any{n, hash, now - int64(n)}},
		{series + `INSERT INTO auth_sessions (id, user_id, tenant_id, refresh_hash, created_at, last_used_at, idle_expires_at, expires_at)
		  SELECT ` + sqliteUUID + `, u.id, u.tenant_id, randomblob(32), ? - s.i * ?, ?, ?, ? FROM auth_users u, s`,
			[]any{perUser, now, minute, now, now + 7*day, now + 30*day}},
		{series + `INSERT INTO auth_audit_events (id, type, time, tenant_id, user_id, reason)
		  SELECT ` + sqliteUUID + `, 'login.succeeded', ? - s.i * ?, u.tenant_id, u.id, '' FROM auth_users u, s`,
			[]any{eventsPerUser, now, minute}},
		{`ANALYZE`, nil},
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s.query, s.args...); err != nil {
			return err
		}
	}
	return nil
}

// withDatabase returns pgURL naming database name instead.
func withDatabase(pgURL, name string) (string, error) {
	i := strings.Index(pgURL, "://")
	if i < 0 {
		return "", errors.New("-pg: not a postgres:// URL")
	}
	rest := pgURL[i+3:]
	slash := strings.Index(rest, "/")
	if slash < 0 {
		return "", errors.New("-pg: the URL names no database")
	}
	query := ""
	if q := strings.Index(rest, "?"); q >= 0 {
		query = rest[q:]
	}
	return pgURL[:i+3] + rest[:slash] + "/" + name + query, nil
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// render writes the table: per operation, p50 and p99 at each size, and the
// ratio of the largest size's p50 to the smallest's.
func render(backend string, rs []result, samples int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %d calls per operation and size; p50 / p99\n\n", backend, samples)
	b.WriteString("| operation |")
	for _, r := range rs {
		fmt.Fprintf(&b, " %s users, %s sessions |", count(r.users), count(r.sessions))
	}
	b.WriteString(" largest / smallest p50 |\n|---|")
	for range rs {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, op := range ops {
		fmt.Fprintf(&b, "| %s |", op)
		for _, r := range rs {
			fmt.Fprintf(&b, " %s / %s |", ms(pct(r.lat[op], 0.5)), ms(pct(r.lat[op], 0.99)))
		}
		first, last := pct(rs[0].lat[op], 0.5), pct(rs[len(rs)-1].lat[op], 0.5)
		fmt.Fprintf(&b, " %.2f× |\n", float64(last)/float64(first))
	}
	b.WriteString("\nfill time:")
	for _, r := range rs {
		fmt.Fprintf(&b, " %s users %v;", count(r.users), r.fill.Round(time.Second))
	}
	b.WriteString("\n")
	return b.String()
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// plot draws the p50 of each operation against the number of users, both
// axes logarithmic, as a small self-contained SVG.
func plot(rs []result) string {
	const w, h, left, bottom, top, right = 640, 360, 70, 40, 20, 170
	var maxNS, minNS float64 = 0, math.MaxFloat64
	for _, r := range rs {
		for _, op := range ops {
			v := float64(pct(r.lat[op], 0.5))
			maxNS, minNS = math.Max(maxNS, v), math.Min(minNS, v)
		}
	}
	lx := func(users int) float64 {
		a, z := math.Log10(float64(rs[0].users)), math.Log10(float64(rs[len(rs)-1].users))
		if z == a {
			return left
		}
		return left + (math.Log10(float64(users))-a)/(z-a)*(w-left-right)
	}
	ly := func(ns float64) float64 {
		a, z := math.Log10(minNS/2), math.Log10(maxNS*2)
		return top + (1-(math.Log10(ns)-a)/(z-a))*(h-top-bottom)
	}
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, h-bottom)
	for _, r := range rs {
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%s</text>`+"\n", lx(r.users), h-bottom+15, count(r.users))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">users (log)</text>`+"\n", (left+w-right)/2, h-8)
	for _, v := range []float64{1e5, 1e6, 1e7, 1e8} {
		if v < minNS/2 || v > maxNS*2 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%s</text>`+"\n", left-5, ly(v)+4, ms(time.Duration(v)))
	}
	for i, op := range ops {
		var pts []string
		for _, r := range rs {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", lx(r.users), ly(float64(pct(r.lat[op], 0.5)))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", colors[i%len(colors)], strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s (p50)</text>`+"\n", w-right+10, top+15+16*i, colors[i%len(colors)], op)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
