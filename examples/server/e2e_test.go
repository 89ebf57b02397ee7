package main_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun/driver/pgdriver"
)

const adminPassword = "admin password for the e2e test"

// TestSQLite runs the server as users run it first: no DATABASE_URL, no
// KEY_FILE, so SQLite at ./auth.db and keys at ./auth-keys.json, with the
// MAIL_DIR outbox. Then it restarts the server on the same files, rotates
// the signing key and reloads it with SIGHUP.
func TestSQLite(t *testing.T) {
	bin := buildServer(t)
	dir := t.TempDir()
	mailDir := filepath.Join(dir, "mail")
	env := map[string]string{
		"MAIL_DIR":               mailDir,
		"REQUIRE_VERIFIED_EMAIL": "true",
		"TRUSTED_PROXIES":        "127.0.0.1",
		"LOG_LEVEL":              "debug",
		"SESSION_IDLE_TTL":       "90m",
	}
	srv := startServer(t, bin, dir, env)
	w := &world{t: t, bin: bin, dir: dir, env: env, base: srv.base, mail: dirMailbox{mailDir}, used: map[string]bool{}}
	w.checkHealth(nil)
	st := w.exercise()

	// The files hold password hashes and a private key: owner only.
	srv.stop(t)
	w.requireNoSecrets(srv.stderr.String())
	for _, f := range []string{"auth.db", "auth-keys.json"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
	}
	out, _, code := runCLI(t, bin, dir, env, "", "migrate", "status")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "pending")
	require.Contains(t, out, "create_example_projects")

	t.Run("restart keeps data and tokens", func(t *testing.T) {
		srv := startServer(t, bin, dir, env)
		c := newClient(t, srv.base, "198.51.100.1")
		me := c.expect(200, "GET", "/api/v1/auth/me", st.adminAccess, nil)
		require.Equal(t, "admin@example.com", me["email"])
		list := c.expect(200, "GET", "/api/v1/projects", st.adminAccess, nil)
		require.Len(t, list["projects"], 2)
		// Revocations are in the database too.
		c.expectProblem(401, "invalid_token", "GET", "/api/v1/auth/me", st.revokedAccess, nil)
		c.expect(200, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": st.adminRefresh})

		// keys rotate + SIGHUP: new tokens get the new key, old ones still verify.
		oldKID := kid(t, st.adminAccess)
		out, errOut, code := runCLI(t, bin, dir, env, "", "keys", "rotate")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "new signing key")
		srv.signal(t, syscall.SIGHUP)
		eventually(t, "the rotated key set", func() bool {
			r := c.do("GET", "/.well-known/jwks.json", "", nil)
			return r.status == 200 && strings.Count(string(r.body), `"kid"`) == 2
		})
		login := c.expect(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "admin@example.com", "password": adminPassword})
		newKID := kid(t, login["access_token"].(string))

		// SESSION_IDLE_TTL sets the idle lifetime of new sessions.
		sessions := c.expect(200, "GET", "/api/v1/auth/sessions", login["access_token"].(string), nil)
		var idle time.Time
		for _, raw := range sessions["sessions"].([]any) {
			if s := raw.(map[string]any); s["current"] == true {
				var err error
				idle, err = time.Parse(time.RFC3339Nano, s["idle_expires_at"].(string))
				require.NoError(t, err)
			}
		}
		require.WithinDuration(t, time.Now().Add(90*time.Minute), idle, time.Minute)
		require.NotEqual(t, oldKID, newKID)
		c.expect(200, "GET", "/api/v1/auth/me", st.adminAccess, nil)
		srv.stop(t)

		// The retired key is in the file as verify-only: a restart keeps it.
		srv = startServer(t, bin, dir, env)
		c = newClient(t, srv.base, "198.51.100.1")
		c.expect(200, "GET", "/api/v1/auth/me", st.adminAccess, nil)
		c.expect(200, "GET", "/api/v1/auth/me", login["access_token"].(string), nil)
		srv.stop(t)
	})
}

// TestPostgresRedis runs the server on a fresh PostgreSQL database with
// revocations and rate limits in Redis (through a proxy the test can cut)
// and account e-mail through a fake SMTP server.
func TestPostgresRedis(t *testing.T) {
	bin := buildServer(t)
	dir := t.TempDir()
	pgURL := freshPostgres(t)
	redisAddr, redisClient := redisForTest(t)
	prefix := "auth-e2e-" + randomSuffix() + ":"
	t.Cleanup(func() { deleteKeys(t, redisClient, prefix) })
	proxy := startProxy(t, redisAddr)
	smtp := startFakeSMTP(t)
	env := map[string]string{
		"DATABASE_URL":           pgURL,
		"REDIS_URL":              "redis://" + proxy.addr() + "/0",
		"REDIS_PREFIX":           prefix,
		"REDIS_TIMEOUT":          "3s", // CI runs other test packages beside this one
		"SMTP_ADDR":              smtp.addr(),
		"SMTP_INSECURE_SKIP_TLS": "true",
		"REQUIRE_VERIFIED_EMAIL": "true",
		"TRUSTED_PROXIES":        "127.0.0.1",
		"LOG_LEVEL":              "debug",
	}
	srv := startServer(t, bin, dir, env)
	w := &world{t: t, bin: bin, dir: dir, env: env, base: srv.base, mail: smtp, used: map[string]bool{}}
	w.checkHealth([]string{"database", "redis"})
	st := w.exercise()

	// The logout went to Redis, not to the SQL store.
	ctx := context.Background()
	n, err := redisClient.Do(ctx, redisClient.B().Exists().Key(prefix+"revoked:session:{"+st.revokedSession+"}").Build()).AsInt64()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "session revocation in Redis")

	t.Run("redis down", func(t *testing.T) {
		c := newClient(t, srv.base, "198.51.100.1")
		proxy.cut()
		eventually(t, "readyz to fail", func() bool {
			r := c.do("GET", "/readyz", "", nil)
			return r.status == 503 && r.json(t)["checks"].(map[string]any)["redis"] == "unavailable"
		})
		c.expect(200, "GET", "/healthz", "", nil)
		// Fail closed: a valid token is not accepted without the deny-list.
		c.expectProblem(503, "unavailable", "GET", "/api/v1/auth/me", st.adminAccess, nil)
	})
	srv.stop(t)
	w.requireNoSecrets(srv.stderr.String())
}

// world is one running server and what the scenario knows about it.
type world struct {
	t    *testing.T
	bin  string
	dir  string
	env  map[string]string
	base string
	mail mailbox
	used map[string]bool // e-mailed tokens already read
	// secrets are the passwords and tokens the scenario used: none may
	// appear in the server's logs.
	secrets []string
}

// keep records secrets and returns the first.
func (w *world) keep(secrets ...string) string {
	w.secrets = append(w.secrets, secrets...)
	return secrets[0]
}

// requireNoSecrets checks a server's log.
func (w *world) requireNoSecrets(log string) {
	w.t.Helper()
	require.NotEmpty(w.t, log)
	for _, s := range w.secrets {
		require.NotContains(w.t, log, s, "a password or token in the server log")
	}
}

// state is what the scenario leaves for the checks after it.
type state struct {
	adminAccess, adminRefresh string
	revokedAccess             string // logged out
	revokedSession            string
}

// checkHealth checks /healthz and /readyz and the readiness checks listed.
func (w *world) checkHealth(checks []string) {
	t := w.t
	c := newClient(t, w.base, "198.51.100.1")
	require.Equal(t, "ok", c.expect(200, "GET", "/healthz", "", nil)["status"])
	ready := c.expect(200, "GET", "/readyz", "", nil)
	require.Equal(t, "ok", ready["status"])
	for _, name := range append([]string{"database"}, checks...) {
		require.Equal(t, "ok", ready["checks"].(map[string]any)[name], name)
	}
}

// createAdmin runs the create-admin command.
func (w *world) createAdmin(email, tenant string) {
	w.t.Helper()
	args := []string{"create-admin", "-email", email}
	if tenant != "" {
		args = append(args, "-tenant", tenant)
	}
	out, errOut, code := runCLI(w.t, w.bin, w.dir, w.env, adminPassword+"\n", args...)
	require.Equal(w.t, 0, code, errOut)
	require.Contains(w.t, out, "created administrator "+email)
}

// login logs in and returns the token response.
func login(c *client, email, password string) map[string]any {
	c.t.Helper()
	return c.expect(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": password})
}

// exercise runs every flow against the server and returns what the
// restart checks need.
func (w *world) exercise() state {
	t := w.t
	anon := newClient(t, w.base, "198.51.100.1")
	var st state

	// No token: 401 with a Bearer challenge, on the library's and on our routes.
	r := anon.do("GET", "/api/v1/auth/me", "", nil)
	require.Equal(t, 401, r.status)
	require.Equal(t, "Bearer", r.header.Get("WWW-Authenticate"))
	anon.expectProblem(401, "unauthenticated", "GET", "/api/v1/projects", "", nil)
	anon.expectProblem(401, "invalid_token", "GET", "/api/v1/projects", "not.a.token", nil)

	// create-admin: no password, no admin.
	_, errOut, code := runCLI(t, w.bin, w.dir, w.env, "", "create-admin", "-email", "nobody@example.com")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "AUTH_ADMIN_PASSWORD")
	w.createAdmin("admin@example.com", "")
	admin := newClient(t, w.base, "198.51.100.10")
	pair := login(admin, "admin@example.com", adminPassword)
	adminAccess := w.keep(pair["access_token"].(string), pair["refresh_token"].(string), adminPassword)
	st.adminAccess, st.adminRefresh = adminAccess, pair["refresh_token"].(string)
	require.Equal(t, "admin", pair["user"].(map[string]any)["role"])

	// Optional authentication: anonymous, or the caller; a bad token is refused.
	require.Equal(t, "anonymous", anon.expect(200, "GET", "/api/v1/hello", "", nil)["hello"])
	hi := admin.expect(200, "GET", "/api/v1/hello", adminAccess, nil)
	require.Equal(t, "admin", hi["role"])
	require.NotEqual(t, "anonymous", hi["hello"])
	anon.expectProblem(401, "invalid_token", "GET", "/api/v1/hello", "not.a.token", nil)

	// Register, verify by e-mail (REQUIRE_VERIFIED_EMAIL is on), log in.
	const viewerEmail, viewerPassword = "viewer@example.com", "viewer password 1234"
	viewer := newClient(t, w.base, "198.51.100.20")
	u := viewer.expect(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": viewerEmail, "password": viewerPassword})
	require.Equal(t, "viewer", u["role"])
	require.Equal(t, false, u["verified"])
	viewer.expectProblem(403, "email_not_verified", "POST", "/api/v1/auth/login", "", map[string]any{"email": viewerEmail, "password": viewerPassword})
	token := w.keep(awaitToken(t, w.mail, viewerEmail, "/verify-email", w.used), viewerPassword)
	require.Equal(t, true, viewer.expect(200, "POST", "/api/v1/auth/verify-email", "", map[string]any{"token": token})["verified"])
	viewer.expectProblem(422, "invalid_action_token", "POST", "/api/v1/auth/verify-email", "", map[string]any{"token": token})
	pair = login(viewer, viewerEmail, viewerPassword)
	viewerAccess, viewerRefresh := w.keep(pair["access_token"].(string)), w.keep(pair["refresh_token"].(string))
	me := viewer.expect(200, "GET", "/api/v1/auth/me", viewerAccess, nil)
	require.Equal(t, viewerEmail, me["email"])
	viewerID := me["id"].(string)
	viewer.expectProblem(401, "invalid_credentials", "POST", "/api/v1/auth/login", "", map[string]any{"email": viewerEmail, "password": "wrong password 1234"})

	// An editor, created by the admin through the admin API.
	const editorEmail, editorPassword = "editor@example.com", "editor password 1234"
	admin.expect(201, "POST", "/api/v1/auth/users", adminAccess,
		map[string]any{"email": editorEmail, "password": editorPassword, "role": "editor", "verified": true})
	viewer.expectProblem(403, "insufficient_role", "GET", "/api/v1/auth/users", viewerAccess, nil)
	editor := newClient(t, w.base, "198.51.100.30")
	editorAccess := w.keep(login(editor, editorEmail, editorPassword)["access_token"].(string), editorPassword)

	// Projects: editors write, viewers read, admins delete.
	p1 := editor.expect(201, "POST", "/api/v1/projects", editorAccess, map[string]any{"name": "Apollo", "description": "first"})
	p1ID := p1["id"].(string)
	require.Equal(t, auth.DefaultTenantID, p1["tenant_id"])
	editor.expectProblem(409, "conflict", "POST", "/api/v1/projects", editorAccess, map[string]any{"name": "Apollo"})
	editor.expectProblem(400, "unknown_field", "POST", "/api/v1/projects", editorAccess, `{"name":"x","tenant_id":"`+auth.DefaultTenantID+`"}`)
	editor.expectProblem(400, "unknown_field", "POST", "/api/v1/projects", editorAccess, `{"Name":"x"}`)
	editor.expectProblem(400, "duplicate_field", "POST", "/api/v1/projects", editorAccess, `{"name":"x","name":"y"}`)
	editor.expectProblem(400, "trailing_data", "POST", "/api/v1/projects", editorAccess, `{"name":"x"} {}`)
	editor.expectProblem(400, "missing_field", "POST", "/api/v1/projects", editorAccess, `{}`)
	editor.expectProblem(422, "invalid_input", "POST", "/api/v1/projects", editorAccess, `{"name":"   "}`)
	editor.expectProblem(400, "invalid_field_type", "POST", "/api/v1/projects", editorAccess, `{"name":1}`)

	list := viewer.expect(200, "GET", "/api/v1/projects", viewerAccess, nil)
	require.Len(t, list["projects"], 1)
	require.Equal(t, "first", viewer.expect(200, "GET", "/api/v1/projects/"+p1ID, viewerAccess, nil)["description"])
	viewer.expectProblem(403, "insufficient_role", "POST", "/api/v1/projects", viewerAccess, map[string]any{"name": "Nope"})
	viewer.expectProblem(403, "insufficient_role", "PATCH", "/api/v1/projects/"+p1ID, viewerAccess, map[string]any{"name": "Nope"})
	viewer.expectProblem(403, "insufficient_role", "DELETE", "/api/v1/projects/"+p1ID, viewerAccess, nil)
	patched := editor.expect(200, "PATCH", "/api/v1/projects/"+p1ID, editorAccess, map[string]any{"description": "changed"})
	require.Equal(t, "changed", patched["description"])
	require.Equal(t, "Apollo", patched["name"])
	editor.expectProblem(403, "insufficient_role", "DELETE", "/api/v1/projects/"+p1ID, editorAccess, nil)
	editor.expectProblem(404, "not_found", "GET", "/api/v1/projects/not-a-uuid", editorAccess, nil)

	// Pagination.
	p2ID := editor.expect(201, "POST", "/api/v1/projects", editorAccess, map[string]any{"name": "Gemini"})["id"].(string)
	editor.expect(201, "POST", "/api/v1/projects", editorAccess, map[string]any{"name": "Mercury"})
	page := viewer.expect(200, "GET", "/api/v1/projects?limit=2", viewerAccess, nil)
	require.Len(t, page["projects"], 2)
	cursor := page["next_cursor"].(string)
	page = viewer.expect(200, "GET", "/api/v1/projects?limit=2&after="+cursor, viewerAccess, nil)
	require.Len(t, page["projects"], 1)
	require.Nil(t, page["next_cursor"])
	viewer.expectProblem(400, "invalid_parameter", "GET", "/api/v1/projects?limit=0", viewerAccess, nil)
	viewer.expectProblem(400, "invalid_parameter", "GET", "/api/v1/projects?sort=name", viewerAccess, nil)
	admin.expect(204, "DELETE", "/api/v1/projects/"+p2ID, adminAccess, nil)
	admin.expectProblem(404, "not_found", "GET", "/api/v1/projects/"+p2ID, adminAccess, nil)
	admin.expectProblem(404, "not_found", "DELETE", "/api/v1/projects/"+p2ID, adminAccess, nil)

	// A second tenant sees and touches nothing of the first, and the
	// other way round; the same project name is fine there.
	w.createAdmin("boss@other.example", "other-co")
	other := newClient(t, w.base, "198.51.100.40")
	otherAccess := login(other, "boss@other.example", adminPassword)["access_token"].(string)
	q1 := other.expect(201, "POST", "/api/v1/projects", otherAccess, map[string]any{"name": "Apollo"})
	q1ID := q1["id"].(string)
	require.NotEqual(t, auth.DefaultTenantID, q1["tenant_id"])
	list = other.expect(200, "GET", "/api/v1/projects", otherAccess, nil)
	require.Len(t, list["projects"], 1)
	require.Equal(t, q1ID, list["projects"].([]any)[0].(map[string]any)["id"])
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		var body any
		if m == "PATCH" {
			body = map[string]any{"name": "Hijacked"}
		}
		other.expectProblem(404, "not_found", m, "/api/v1/projects/"+p1ID, otherAccess, body)
		admin.expectProblem(404, "not_found", m, "/api/v1/projects/"+q1ID, adminAccess, body)
	}
	viewer.expectProblem(404, "not_found", "GET", "/api/v1/projects/"+q1ID, viewerAccess, nil)
	other.expectProblem(404, "user_not_found", "GET", "/api/v1/auth/users/"+viewerID, otherAccess, nil)
	require.Len(t, viewer.expect(200, "GET", "/api/v1/projects", viewerAccess, nil)["projects"], 2)

	// Refresh rotates the refresh token; the new access token works.
	pair = viewer.expect(200, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": viewerRefresh})
	require.NotEqual(t, viewerRefresh, pair["refresh_token"])
	viewerAccess, viewerRefresh = w.keep(pair["access_token"].(string)), w.keep(pair["refresh_token"].(string))
	viewer.expect(200, "GET", "/api/v1/auth/me", viewerAccess, nil)

	// Logout: the access token and the session's refresh token are dead.
	viewer.expect(204, "POST", "/api/v1/auth/logout", viewerAccess, nil)
	viewer.expectProblem(401, "invalid_token", "GET", "/api/v1/auth/me", viewerAccess, nil)
	viewer.expectProblem(401, "invalid_token", "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": viewerRefresh})
	st.revokedAccess, st.revokedSession = viewerAccess, pair["session_id"].(string)

	// Forgot password -> e-mail -> reset: the old session is dead.
	old := login(editor, editorEmail, editorPassword)
	anon.expect(202, "POST", "/api/v1/auth/password/forgot", "", map[string]any{"email": "nobody@example.com"})
	editor.expect(202, "POST", "/api/v1/auth/password/forgot", "", map[string]any{"email": editorEmail})
	token = w.keep(awaitToken(t, w.mail, editorEmail, "/reset-password", w.used))
	const newPassword = "a brand new editor password"
	w.keep(newPassword, old["access_token"].(string), old["refresh_token"].(string))
	editor.expect(204, "POST", "/api/v1/auth/password/reset", "", map[string]any{"token": token, "password": newPassword})
	editor.expectProblem(401, "invalid_token", "GET", "/api/v1/auth/me", old["access_token"].(string), nil)
	editor.expectProblem(401, "invalid_token", "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": old["refresh_token"]})
	editor.expectProblem(401, "invalid_credentials", "POST", "/api/v1/auth/login", "", map[string]any{"email": editorEmail, "password": editorPassword})
	editorAccess = login(editor, editorEmail, newPassword)["access_token"].(string)

	// The key set is published for other services.
	jwks := anon.expect(200, "GET", "/.well-known/jwks.json", "", nil)
	require.Equal(t, kid(t, adminAccess), jwks["keys"].([]any)[0].(map[string]any)["kid"])

	// Audit events: in the log, and in the database (written
	// asynchronously) for administrators, scoped to their tenant.
	var events []any
	eventually(t, "the password reset in the audit log", func() bool {
		events = admin.expect(200, "GET", "/api/v1/auth/audit-events?type=password.reset", adminAccess, nil)["events"].([]any)
		return len(events) == 1
	})
	events = admin.expect(200, "GET", "/api/v1/auth/audit-events?type=login.succeeded", adminAccess, nil)["events"].([]any)
	require.NotEmpty(t, events)
	for _, e := range events {
		require.Equal(t, auth.DefaultTenantID, e.(map[string]any)["tenant_id"])
	}
	editor.expectProblem(403, "insufficient_role", "GET", "/api/v1/auth/audit-events", editorAccess, nil)
	return st
}

// kid returns the key ID in the header of a JWT.
func kid(t *testing.T, token string) string {
	t.Helper()
	header, _, _ := strings.Cut(token, ".")
	data, err := base64.RawURLEncoding.DecodeString(header)
	require.NoError(t, err)
	var h struct {
		Kid string `json:"kid"`
	}
	require.NoError(t, json.Unmarshal(data, &h))
	return h.Kid
}

// freshPostgres creates a database for this run on the test server
// (AUTH_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test)
// and drops it when the test ends. A missing server fails the test.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("AUTH_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base)))
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "PostgreSQL at %s is required (set AUTH_TEST_POSTGRES_URL)", base)
	name := "auth_e2e_" + randomSuffix()
	_, err := db.ExecContext(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		require.NoError(t, err)
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// redisForTest returns the address of the test Redis (AUTH_TEST_REDIS_ADDR,
// default 127.0.0.1:6379) and a client of it. A missing server fails the
// test.
func redisForTest(t *testing.T) (string, rueidis.Client) {
	t.Helper()
	addr := os.Getenv("AUTH_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err, "Redis at %s is required (set AUTH_TEST_REDIS_ADDR)", addr)
	t.Cleanup(client.Close)
	return addr, client
}

// deleteKeys deletes every key with the prefix.
func deleteKeys(t *testing.T, client rueidis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cursor uint64
	for {
		e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		require.NoError(t, err)
		if len(e.Elements) > 0 {
			require.NoError(t, client.Do(ctx, client.B().Del().Key(e.Elements...).Build()).Error())
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

// proxy forwards TCP connections to a target until cut, which closes the
// listener and every connection: the server then sees its Redis go down.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Go(func() { pipe(in, out) })
			p.wg.Go(func() { pipe(out, in) })
		}
	})
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

func pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
