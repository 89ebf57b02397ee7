package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/middleware"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

// The tests in this file mount the endpoints on chi, the other router
// middleware.Router names besides http.ServeMux, with its own method and
// wildcard matching.

const prefix = middleware.DefaultPrefix

// newAuthenticator returns an Authenticator over a memstore closed when
// the test ends.
func newAuthenticator(t *testing.T) *auth.Authenticator {
	t.Helper()
	st := memstore.New(memstore.WithSweepInterval(0))
	t.Cleanup(func() { _ = st.Close() })
	return authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil, auth.Config{})
}

var userSeq atomic.Int64

// newUser creates an active user with role in the default tenant and logs
// it in.
func newUser(t *testing.T, a *auth.Authenticator, role auth.Role) (*auth.User, *auth.TokenPair) {
	t.Helper()
	ctx := context.Background()
	email := "chi" + strconv.FormatInt(userSeq.Add(1), 10) + "@example.com"
	u, err := a.CreateUser(ctx, auth.CreateUserRequest{Email: email, Password: password, Role: role})
	require.NoError(t, err)
	pair, _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: password})
	require.NoError(t, err)
	return u, pair
}

// req builds a request; body, unless nil, is sent as JSON.
func req(method, path string, body any) *http.Request {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(j)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// problem checks that rec is an RFC 9457 problem with status and code.
func problem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body.String())
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p middleware.Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	require.Equal(t, status, p.Status)
	require.Equal(t, code, p.Code)
}

// decodeJSON decodes a JSON response into v after checking its status.
func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), v))
}

// userBody is the part of a user the tests read.
type userBody struct {
	ID       string `json:"id"`
	Verified bool   `json:"verified"`
}

// Mount works on chi too: method patterns and {id} wildcards included.
// So does the Handler itself, mounted under one wildcard pattern.
func TestMountOnChi(t *testing.T) {
	t.Run("Mount", func(t *testing.T) {
		a := newAuthenticator(t)
		r := chi.NewRouter()
		h := mustNew(t, a)
		h.Mount(r)
		testOnChi(t, a, r)
		// As README.md shows: the Handler behind the prefix's wildcard
		// answers what no endpoint serves.
		r.Handle(prefix+"/*", h)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req(http.MethodGet, prefix+"/login", nil))
		problem(t, rec, http.StatusMethodNotAllowed, "method_not_allowed")
		rec = httptest.NewRecorder()
		r.ServeHTTP(rec, req(http.MethodGet, prefix+"/nope", nil))
		problem(t, rec, http.StatusNotFound, "not_found")
	})
	t.Run("ServeHTTP", func(t *testing.T) {
		a := newAuthenticator(t)
		h := mustNew(t, a)
		r := chi.NewRouter()
		r.Handle(prefix+"/*", h)
		r.Handle(middleware.DefaultJWKSPath, h)
		testOnChi(t, a, r)
		// What no endpoint serves is a problem too, as on a ServeMux.
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req(http.MethodGet, prefix+"/login", nil))
		problem(t, rec, http.StatusMethodNotAllowed, "method_not_allowed")
		require.Equal(t, "POST", rec.Header().Get("Allow"))
		rec = httptest.NewRecorder()
		r.ServeHTTP(rec, req(http.MethodGet, prefix+"/nope", nil))
		problem(t, rec, http.StatusNotFound, "not_found")
	})
}

func mustNew(t *testing.T, a *auth.Authenticator) *middleware.Handler {
	t.Helper()
	h, err := middleware.New(a)
	require.NoError(t, err)
	return h
}

func testOnChi(t *testing.T, a *auth.Authenticator, r chi.Router) {
	serve := func(method, path, token string, body any) *httptest.ResponseRecorder {
		rq := req(method, path, body)
		if token != "" {
			rq.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, rq)
		return rec
	}
	u, pair := newUser(t, a, auth.RoleViewer)
	_, admin := newUser(t, a, auth.RoleAdmin)
	var got userBody
	decodeJSON(t, serve("GET", prefix+"/users/"+u.ID, admin.AccessToken, nil), 200, &got)
	require.Equal(t, u.ID, got.ID)
	decodeJSON(t, serve("PATCH", prefix+"/users/"+u.ID, admin.AccessToken, map[string]any{"verified": true}), 200, &got)
	require.True(t, got.Verified)
	require.Equal(t, 204, serve("DELETE", prefix+"/sessions/"+pair.SessionID, pair.AccessToken, nil).Code)
	problem(t, serve("GET", prefix+"/me", pair.AccessToken, nil), 401, "invalid_token")
	require.Equal(t, 200, serve("GET", middleware.DefaultJWKSPath, "", nil).Code)
	require.Equal(t, 405, serve("PUT", prefix+"/me", "", nil).Code, "other methods")
}

// Protecting routes of a chi router: the same Handler, with the
// middleware in With (or Use in a Group).
func Example_chi() {
	st := memstore.New()
	defer st.Close()
	key, _ := auth.GenerateKey(auth.EdDSA)
	keys, _ := auth.NewKeySet(key)
	a, err := auth.New(auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}

	h, err := middleware.New(a)
	if err != nil {
		log.Fatal(err)
	}
	r := chi.NewRouter()
	h.Mount(r)                                      // POST /api/v1/auth/login, ...
	r.With(h.Authenticate).Get("/api/notes", notes) // 401 without a valid token
	r.Group(func(r chi.Router) {                    // or a group of them,
		r.Use(h.Authenticate, h.RequireRole(auth.RoleAdmin)) // for administrators only
		r.Get("/api/admin/stats", notes)
	})

	creds := `{"email":"kate@example.com","password":"correct horse battery staple"}`
	fmt.Println("register:", send(r, "POST", "/api/v1/auth/register", "", creds).Status)
	token := accessToken(send(r, "POST", "/api/v1/auth/login", "", creds))
	fmt.Println("without a token:", send(r, "GET", "/api/notes", "", "").Status)
	fmt.Println("with the token:", send(r, "GET", "/api/notes", token, "").Status)
	fmt.Println("admin route:", send(r, "GET", "/api/admin/stats", token, "").Status)
	fmt.Println("sessions:", send(r, "GET", "/api/v1/auth/sessions", token, "").Status)
	// Output:
	// register: 201 Created
	// without a token: 401 Unauthorized
	// with the token: 200 OK
	// admin route: 403 Forbidden
	// sessions: 200 OK
}

// send serves one request on h and returns the response.
func send(h http.Handler, method, path, token, body string) *http.Response {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

// accessToken reads the access token of a login response.
func accessToken(resp *http.Response) string {
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		panic(err)
	}
	return body.AccessToken
}

// notes is an application handler: the claims are in the request.
func notes(w http.ResponseWriter, r *http.Request) {
	c, _ := middleware.ClaimsFrom(r)
	fmt.Fprintf(w, "notes for a %s of tenant %s\n", c.Role, middleware.TenantID(r))
}
