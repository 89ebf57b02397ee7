package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/middleware"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

const (
	password = "correct horse battery staple"
	prefix   = middleware.DefaultPrefix
)

// observed records the status every test request got per matched route
// pattern; TestMain holds them against openapi.yaml.
var observed = struct {
	sync.Mutex
	m map[string]map[int]bool
}{m: map[string]map[int]bool{}}

func observe(pattern string, status int) {
	if pattern == "" {
		return
	}
	observed.Lock()
	defer observed.Unlock()
	if observed.m[pattern] == nil {
		observed.m[pattern] = map[int]bool{}
	}
	observed.m[pattern][status] = true
}

// TestMain runs the tests, then fails the run if any request to a mounted
// endpoint got a status that openapi.yaml does not document for it: the
// dynamic half of the spec consistency check (TestOpenAPIMatchesRoutes is
// the static half).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkObserved(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: openapi.yaml:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func checkObserved() error {
	spec, err := middleware.SpecOperations(middleware.SpecSummary)
	if err != nil {
		return err
	}
	observed.Lock()
	defer observed.Unlock()
	var missing []string
	for pattern, codes := range observed.m {
		documented, ok := spec[pattern]
		if !ok {
			continue // a test's own route, or a non-default prefix
		}
		for code := range codes {
			if !documented[code] {
				missing = append(missing, fmt.Sprintf("%s answered %d", pattern, code))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("undocumented statuses: %s", strings.Join(missing, "; "))
	}
	return nil
}

// noLimits turns the Authenticator's rate limits off, so tests can log in
// as often as they like from one address.
var noLimits = auth.Limits{
	LoginPerIP: auth.Limit{Burst: -1}, LoginPerAccount: auth.Limit{Burst: -1}, RegisterPerIP: auth.Limit{Burst: -1},
	RefreshPerIP: auth.Limit{Burst: -1}, ResetPerIP: auth.Limit{Burst: -1}, ResetPerAccount: auth.Limit{Burst: -1},
}

// env is an Authenticator over memstore with the endpoints mounted on a
// ServeMux, plus test routes behind the middleware.
type env struct {
	t      *testing.T
	st     *memstore.Store
	a      *auth.Authenticator
	h      *middleware.Handler
	clock  *authtest.Clock
	mux    *http.ServeMux
	logs   *syncBuffer
	outbox *authtest.Outbox
}

type envConfig struct {
	cfg    auth.Config
	opts   []middleware.Option
	stores func(*memstore.Store) authtest.Stores
	// lifecycle configures the account-lifecycle flows: the memstore as
	// Config.ActionTokens and env.outbox as Config.Notifier.
	lifecycle bool
	// audit makes the memstore the event sink and the audit log.
	audit bool
	// factors, if set, gives Config.SecondFactors over the memstore and
	// the env's clock.
	factors func(*memstore.Store, *authtest.Clock) []auth.SecondFactor
}

func newEnv(t *testing.T, opts ...middleware.Option) *env {
	return newEnvWith(t, envConfig{opts: opts})
}

func newEnvWith(t *testing.T, ec envConfig) *env {
	t.Helper()
	st := memstore.New(memstore.WithSweepInterval(0))
	t.Cleanup(func() { _ = st.Close() })
	stores := authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}
	if ec.stores != nil {
		stores = ec.stores(st)
	}
	if ec.cfg.Limits == (auth.Limits{}) {
		ec.cfg.Limits = noLimits
	}
	outbox := &authtest.Outbox{}
	if ec.lifecycle {
		ec.cfg.ActionTokens, ec.cfg.Notifier = st, outbox
	}
	if ec.audit {
		ec.cfg.Events, ec.cfg.AuditLog = st, st
	}
	clock := authtest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	if ec.factors != nil {
		ec.cfg.SecondFactors = ec.factors(st, clock)
	}
	a := authtest.NewAuthenticator(t, stores, clock, ec.cfg)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHandler(t, a, append([]middleware.Option{middleware.WithLogger(logger)}, ec.opts...)...)
	mux := http.NewServeMux()
	h.Mount(mux)
	authn := h.Authenticate
	mux.Handle("GET /test/whoami", authn(http.HandlerFunc(whoami)))
	mux.Handle("POST /test/whoami", authn(http.HandlerFunc(whoami)))
	mux.Handle("GET /test/optional", h.Optional(http.HandlerFunc(whoami)))
	if slices.Contains(a.Roles(), auth.RoleEditor) {
		mux.Handle("GET /test/editor", authn(h.RequireRole(auth.RoleEditor)(http.HandlerFunc(whoami))))
	}
	mux.Handle("GET /test/tenants/{tenant}/things", authn(h.RequireTenant("tenant")(http.HandlerFunc(whoami))))
	return &env{t: t, st: st, a: a, h: h, clock: clock, mux: mux, logs: logs, outbox: outbox}
}

// newHandler returns the Handler of a with opts, failing the test if New
// refuses them.
func newHandler(t *testing.T, a *auth.Authenticator, opts ...middleware.Option) *middleware.Handler {
	t.Helper()
	h, err := middleware.New(a, opts...)
	require.NoError(t, err)
	return h
}

// whoami answers with what the helpers read from the context.
func whoami(w http.ResponseWriter, r *http.Request) {
	c, ok := middleware.ClaimsFrom(r)
	role := ""
	if ok {
		role = string(c.Role)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"authenticated": ok, "user": middleware.UserID(r), "tenant": middleware.TenantID(r), "role": role,
	})
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// req builds a request. body is sent as JSON: a string or []byte as is,
// anything else marshalled; nil sends no body and no Content-Type.
func req(method, path string, body any) *http.Request {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(j)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("User-Agent", "middleware-test/1.0")
	return r
}

// do serves r and records the status for the spec check.
func (e *env) do(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, r)
	observe(r.Pattern, rec.Code)
	return rec
}

// call sends method path with an optional bearer token and JSON body.
func (e *env) call(method, path, token string, body any) *httptest.ResponseRecorder {
	return e.do(bearerReq(method, path, token, body))
}

// bearerReq is req with an optional bearer token.
func bearerReq(method, path, token string, body any) *http.Request {
	r := req(method, path, body)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// serve sends a request to h, outside the spec check of env.do (for
// handlers mounted at paths of the test's own choosing).
func serve(h http.Handler, method, path, token string, body any) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, bearerReq(method, path, token, body))
	return rec
}

var emailSeq atomic.Int64

func newEmail() string {
	return "user" + strconv.FormatInt(emailSeq.Add(1), 10) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@example.com"
}

// user creates an active user with role in tenant ("" = default) and logs
// it in.
func (e *env) user(role auth.Role, tenant string) (*auth.User, *auth.TokenPair) {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.a.CreateUser(ctx, auth.CreateUserRequest{TenantID: tenant, Email: newEmail(), Password: password, Role: role, Name: "Test " + string(role)})
	require.NoError(e.t, err)
	pair, _, err := e.a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(e.t, err)
	return u, pair
}

// verifiedUser is user with a verified address, who can log in when
// auth.Config.EnumerationSafe is set.
func (e *env) verifiedUser(role auth.Role) (*auth.User, *auth.TokenPair) {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.a.CreateUser(ctx, auth.CreateUserRequest{Email: newEmail(), Password: password, Role: role, Verified: true})
	require.NoError(e.t, err)
	pair, _, err := e.a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(e.t, err)
	return u, pair
}

// tenant creates a tenant.
func (e *env) tenant() string {
	e.t.Helper()
	tn, err := e.a.CreateTenant(context.Background(), "Tenant", "t-"+strconv.FormatInt(emailSeq.Add(1), 10)+strconv.FormatInt(time.Now().UnixNano()%1e6, 10))
	require.NoError(e.t, err)
	return tn.ID
}

// problem checks that rec is an RFC 9457 problem with status and code and
// the security headers, and returns it.
func problem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) middleware.Problem {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body.String())
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	requireSecurityHeaders(t, rec)
	var p middleware.Problem
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&p))
	require.Equal(t, "about:blank", p.Type)
	require.Equal(t, http.StatusText(status), p.Title)
	require.Equal(t, status, p.Status)
	require.Equal(t, code, p.Code)
	require.NotEmpty(t, p.Detail)
	return p
}

func requireSecurityHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	if rec.Code != http.StatusNoContent && rec.Code != http.StatusNotModified {
		require.NotEmpty(t, rec.Header().Get("Content-Type"))
	}
}

// decodeJSON decodes a JSON response into v after checking the headers.
func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	requireSecurityHeaders(t, rec)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), v))
}

// The response bodies, as a client sees them.
type (
	userBody struct {
		ID          string          `json:"id"`
		TenantID    string          `json:"tenant_id"`
		Email       string          `json:"email"`
		Name        string          `json:"name"`
		Role        string          `json:"role"`
		Active      bool            `json:"active"`
		Verified    bool            `json:"verified"`
		CreatedAt   time.Time       `json:"created_at"`
		UpdatedAt   time.Time       `json:"updated_at"`
		LastLoginAt *time.Time      `json:"last_login_at"`
		Meta        json.RawMessage `json:"meta"`
	}
	tokenBody struct {
		AccessToken  string    `json:"access_token"`
		TokenType    string    `json:"token_type"`
		ExpiresIn    int64     `json:"expires_in"`
		RefreshToken *string   `json:"refresh_token"`
		SessionID    string    `json:"session_id"`
		User         *userBody `json:"user"`
	}
	sessionBody struct {
		ID        string `json:"id"`
		Current   bool   `json:"current"`
		UserAgent string `json:"user_agent"`
		IP        string `json:"ip"`
	}
)
