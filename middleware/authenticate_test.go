package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/middleware"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

type whoamiResp struct {
	Authenticated bool   `json:"authenticated"`
	User          string `json:"user"`
	Tenant        string `json:"tenant"`
	Role          string `json:"role"`
}

func whoamiOf(t *testing.T, rec *httptest.ResponseRecorder) whoamiResp {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
	var w whoamiResp
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &w))
	return w
}

func TestAuthenticateAcceptsBearer(t *testing.T) {
	e := newEnv(t)
	u, pair := e.user(auth.RoleEditor, "")
	for _, h := range []string{
		"Bearer " + pair.AccessToken,
		"bearer " + pair.AccessToken, // the scheme is case-insensitive (RFC 9110 §11.1)
		"BEARER " + pair.AccessToken,
		"Bearer   " + pair.AccessToken, // 1*SP
	} {
		r := req("GET", "/test/whoami", nil)
		r.Header.Set("Authorization", h)
		w := whoamiOf(t, e.do(r))
		require.True(t, w.Authenticated)
		require.Equal(t, u.ID, w.User)
		require.Equal(t, u.TenantID, w.Tenant)
		require.Equal(t, string(auth.RoleEditor), w.Role)
	}
}

func TestAuthenticateRefuses(t *testing.T) {
	e := newEnv(t)
	_, pair := e.user(auth.RoleViewer, "")
	tok := pair.AccessToken
	cases := []struct {
		name      string
		headers   []string
		query     string
		status    int
		code      string
		challenge string
	}{
		{"no credentials", nil, "", 401, "unauthenticated", `Bearer`},
		{"other scheme", []string{"Basic dXNlcjpwYXNz"}, "", 401, "unsupported_auth_scheme", `Bearer`},
		{"bad token", []string{"Bearer not.a.token"}, "", 401, "invalid_token", `Bearer error="invalid_token"`},
		{"tampered token", []string{"Bearer " + tok[:len(tok)-4] + "AAAA"}, "", 401, "invalid_token", `Bearer error="invalid_token"`},
		{"refresh token as access token", []string{"Bearer " + pair.RefreshToken}, "", 401, "invalid_token", `Bearer error="invalid_token"`},
		{"scheme only", []string{"Bearer"}, "", 400, "invalid_request", `Bearer error="invalid_request"`},
		{"empty token", []string{"Bearer "}, "", 400, "invalid_request", `Bearer error="invalid_request"`},
		{"two tokens in one header", []string{"Bearer " + tok + " " + tok}, "", 400, "invalid_request", `Bearer error="invalid_request"`},
		{"comma list", []string{"Bearer " + tok + ", Bearer " + tok}, "", 400, "invalid_request", `Bearer error="invalid_request"`},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, "", 400, "invalid_request", `Bearer error="invalid_request"`},
		{"garbage header", []string{"{bad}"}, "", 400, "invalid_request", `Bearer error="invalid_request"`},
		{"query token alone", nil, "access_token=" + tok, 400, "invalid_request", `Bearer error="invalid_request"`},
		{"query token with header", []string{"Bearer " + tok}, "access_token=" + tok, 400, "invalid_request", `Bearer error="invalid_request"`},
		{"escaped query token", nil, "x=1&access%5Ftoken=" + tok, 400, "invalid_request", `Bearer error="invalid_request"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/test/whoami"
			if tc.query != "" {
				path += "?" + tc.query
			}
			r := req("GET", path, nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			rec := e.do(r)
			p := problem(t, rec, tc.status, tc.code)
			require.Equal(t, tc.challenge, rec.Header().Get("WWW-Authenticate"))
			require.NotContains(t, rec.Body.String(), tok, "the token is never echoed")
			require.Empty(t, p.Field)
		})
	}
}

func TestAuthenticateExpiredAndRevoked(t *testing.T) {
	e := newEnv(t)
	_, pair := e.user(auth.RoleViewer, "")
	rec := e.call("POST", prefix+"/logout", pair.AccessToken, nil)
	require.Equal(t, http.StatusNoContent, rec.Code)
	requireSecurityHeaders(t, rec)

	rec = e.call("GET", "/test/whoami", pair.AccessToken, nil)
	problem(t, rec, 401, "invalid_token")
	require.Equal(t, `Bearer error="invalid_token"`, rec.Header().Get("WWW-Authenticate"))

	_, pair = e.user(auth.RoleViewer, "")
	e.clock.Advance(time.Hour)
	rec = e.call("GET", "/test/whoami", pair.AccessToken, nil)
	problem(t, rec, 401, "token_expired")
	require.Equal(t, `Bearer error="invalid_token"`, rec.Header().Get("WWW-Authenticate"))
}

func TestOptional(t *testing.T) {
	e := newEnv(t)
	u, pair := e.user(auth.RoleViewer, "")

	w := whoamiOf(t, e.call("GET", "/test/optional", "", nil))
	require.False(t, w.Authenticated, "anonymous is allowed")
	require.Empty(t, w.User)

	w = whoamiOf(t, e.call("GET", "/test/optional", pair.AccessToken, nil))
	require.True(t, w.Authenticated)
	require.Equal(t, u.ID, w.User)

	problem(t, e.call("GET", "/test/optional", "garbage", nil), 401, "invalid_token")
	problem(t, e.call("GET", "/test/optional?access_token="+pair.AccessToken, "", nil), 400, "invalid_request")
	r := req("GET", "/test/optional", nil)
	r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	problem(t, e.do(r), 401, "unsupported_auth_scheme")

	require.Equal(t, http.StatusNoContent, e.call("POST", prefix+"/logout", pair.AccessToken, nil).Code)
	problem(t, e.call("GET", "/test/optional", pair.AccessToken, nil), 401, "invalid_token")
}

func TestRequireRole(t *testing.T) {
	e := newEnv(t)
	_, viewer := e.user(auth.RoleViewer, "")
	_, editor := e.user(auth.RoleEditor, "")
	_, admin := e.user(auth.RoleAdmin, "")

	rec := e.call("GET", "/test/editor", viewer.AccessToken, nil)
	problem(t, rec, 403, "insufficient_role")
	require.Empty(t, rec.Header().Get("WWW-Authenticate"), "a 403 is no challenge")
	require.Equal(t, "editor", whoamiOf(t, e.call("GET", "/test/editor", editor.AccessToken, nil)).Role)
	require.Equal(t, "admin", whoamiOf(t, e.call("GET", "/test/editor", admin.AccessToken, nil)).Role, "roles above pass")
	problem(t, e.call("GET", "/test/editor", "", nil), 401, "unauthenticated")

	// Without Authenticate in front there are no claims: 401, never a pass.
	h := e.h.RequireRole(auth.RoleViewer)(http.HandlerFunc(whoami))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req("GET", "/", nil))
	problem(t, rec, 401, "unauthenticated")

	require.Panics(t, func() { e.h.RequireRole("superuser") }, "a misspelt role fails at start-up")
}

func TestRequireRoleCustomHierarchy(t *testing.T) {
	e := newEnvWith(t, envConfig{cfg: auth.Config{Roles: []auth.Role{"member", "owner"}}, opts: []middleware.Option{middleware.WithAdminRole("owner")}})
	_, member := e.user("member", "")
	_, owner := e.user("owner", "")
	h := e.h.Authenticate(e.h.RequireRole("owner")(http.HandlerFunc(whoami)))
	for tok, want := range map[string]int{member.AccessToken: 403, owner.AccessToken: 200} {
		rec := httptest.NewRecorder()
		r := req("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		h.ServeHTTP(rec, r)
		require.Equal(t, want, rec.Code)
	}
	require.Equal(t, 200, e.call("GET", prefix+"/users", owner.AccessToken, nil).Code, "WithAdminRole")
	problem(t, e.call("GET", prefix+"/users", member.AccessToken, nil), 403, "insufficient_role")
	_, err := middleware.New(e.a)
	require.ErrorContains(t, err, "WithAdminRole", "the default admin role does not exist here")
}

func TestRequireTenant(t *testing.T) {
	e := newEnv(t)
	tb := e.tenant()
	ua, pa := e.user(auth.RoleAdmin, "")
	_, pb := e.user(auth.RoleAdmin, tb)

	w := whoamiOf(t, e.call("GET", "/test/tenants/"+ua.TenantID+"/things", pa.AccessToken, nil))
	require.Equal(t, ua.TenantID, w.Tenant)
	for _, other := range []string{tb, uuid.NewString(), "not-a-uuid"} {
		problem(t, e.call("GET", "/test/tenants/"+other+"/things", pa.AccessToken, nil), 404, "not_found")
	}
	problem(t, e.call("GET", "/test/tenants/"+ua.TenantID+"/things", pb.AccessToken, nil), 404, "not_found")
	problem(t, e.call("GET", "/test/tenants/"+ua.TenantID+"/things", "", nil), 401, "unauthenticated")

	// Without Authenticate in front: 401.
	rec := httptest.NewRecorder()
	e.h.RequireTenant("tenant")(http.HandlerFunc(whoami)).ServeHTTP(rec, req("GET", "/", nil))
	problem(t, rec, 401, "unauthenticated")
}

func TestSameTenantAndHelpers(t *testing.T) {
	r := req("GET", "/", nil)
	require.False(t, middleware.SameTenant(r, ""), "anonymous")
	require.False(t, middleware.SameTenant(r, "t1"))
	require.Empty(t, middleware.TenantID(r))
	require.Empty(t, middleware.UserID(r))
	_, ok := middleware.ClaimsFrom(r)
	require.False(t, ok)

	r = r.WithContext(auth.NewContext(r.Context(), &auth.Claims{UserID: "u1", TenantID: "t1"}))
	require.True(t, middleware.SameTenant(r, "t1"))
	require.False(t, middleware.SameTenant(r, "t2"))
	require.False(t, middleware.SameTenant(r, ""))
	require.Equal(t, "t1", middleware.TenantID(r))
	require.Equal(t, "u1", middleware.UserID(r))
}

// downRevocations is a RevocationStore whose reads fail as an unreachable
// store's do.
type downRevocations struct {
	auth.RevocationStore
	down bool
}

func (d *downRevocations) Revoked(ctx context.Context, q auth.RevocationQuery) (auth.RevocationStatus, error) {
	if d.down {
		return auth.RevocationStatus{}, errors.Join(auth.ErrUnavailable, errors.New("dial tcp 10.0.0.7:6379: connection refused"))
	}
	return d.RevocationStore.Revoked(ctx, q)
}

func TestRevocationStoreDownFailsClosed(t *testing.T) {
	rev := &downRevocations{}
	e := newEnvWith(t, envConfig{stores: func(st *memstore.Store) authtest.Stores {
		rev.RevocationStore = st
		return authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: rev}
	}})
	_, pair := e.user(auth.RoleViewer, "")
	require.Equal(t, 200, e.call("GET", prefix+"/me", pair.AccessToken, nil).Code)
	rev.down = true
	for _, path := range []string{prefix + "/me", "/test/whoami", "/test/optional"} {
		rec := e.call("GET", path, pair.AccessToken, nil)
		problem(t, rec, 503, "unavailable")
		require.Equal(t, "5", rec.Header().Get("Retry-After"))
		require.NotContains(t, rec.Body.String(), "10.0.0.7")
		require.NotContains(t, rec.Body.String(), "refused")
	}
	require.Contains(t, e.logs.String(), "connection refused", "the operator sees the cause")
}

func TestCookieModeAndCSRF(t *testing.T) {
	e := newEnv(t, middleware.WithCookies(middleware.Cookies{}))
	u, _ := e.user(auth.RoleViewer, "")

	login := func(site string) *httptest.ResponseRecorder {
		r := req("POST", "https://app.example.com"+prefix+"/login", map[string]string{"email": u.Email, "password": password})
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		return e.do(r)
	}
	problem(t, login("cross-site"), 403, "cross_origin")
	rec := login("same-origin")
	var tb tokenBody
	decodeJSON(t, rec, 200, &tb)
	require.Empty(t, tb.AccessToken, "tokens stay out of reach of scripts")
	require.Nil(t, tb.RefreshToken)
	require.Equal(t, "Bearer", tb.TokenType)
	require.Equal(t, int64(900), tb.ExpiresIn)
	require.Equal(t, u.ID, tb.User.ID)

	cookies := map[string]*http.Cookie{}
	var legacy *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == middleware.DefaultRefreshCookie && c.Path == prefix+"/refresh" {
			legacy = c
			continue
		}
		cookies[c.Name] = c
	}
	require.NotNil(t, legacy, "the refresh cookie of earlier versions, at the refresh endpoint's path, is deleted")
	require.Equal(t, -1, legacy.MaxAge)
	require.Empty(t, legacy.Value)
	access, refresh := cookies[middleware.DefaultAccessCookie], cookies[middleware.DefaultRefreshCookie]
	require.NotNil(t, access)
	require.NotNil(t, refresh)
	for _, c := range []*http.Cookie{access, refresh} {
		require.True(t, c.HttpOnly)
		require.True(t, c.Secure)
		require.Equal(t, http.SameSiteStrictMode, c.SameSite)
		require.Empty(t, c.Domain, "host-only")
		require.NotEmpty(t, c.Value)
	}
	require.Equal(t, "/", access.Path)
	require.Equal(t, 900, access.MaxAge)
	require.Equal(t, prefix, refresh.Path, "the refresh cookie goes to the library's endpoints only: refresh and logout")
	require.Equal(t, 7*24*3600, refresh.MaxAge)

	send := func(method, path, site string, cs ...*http.Cookie) *httptest.ResponseRecorder {
		r := req(method, "https://app.example.com"+path, nil)
		for _, c := range cs {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		return e.do(r)
	}
	// Safe methods pass from anywhere; unsafe ones only from the same origin.
	var me userBody
	decodeJSON(t, send("GET", prefix+"/me", "cross-site", access), 200, &me)
	require.Equal(t, u.ID, me.ID)
	problem(t, send("POST", "/test/whoami", "cross-site", access), 403, "cross_origin")
	problem(t, send("POST", "/test/whoami", "same-site", access), 403, "cross_origin")
	require.Equal(t, 200, send("POST", "/test/whoami", "same-origin", access).Code)
	require.Equal(t, 200, send("POST", "/test/whoami", "", access).Code, "no browser headers: not a browser, no ambient credential risk")

	// Origin without Sec-Fetch-Site (older browsers) is compared with Host.
	r := req("POST", "https://app.example.com/test/whoami", nil)
	r.AddCookie(access)
	r.Header.Set("Origin", "https://evil.example")
	problem(t, e.do(r), 403, "cross_origin")

	// A bearer header is not an ambient credential: no origin check.
	r = req("POST", "https://app.example.com/test/whoami", nil)
	r.Header.Set("Authorization", "Bearer "+access.Value)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	require.Equal(t, 200, e.do(r).Code)

	// One credential only: cookie and header together is 400.
	r = req("GET", "https://app.example.com/test/whoami", nil)
	r.AddCookie(access)
	r.Header.Set("Authorization", "Bearer "+access.Value)
	problem(t, e.do(r), 400, "invalid_request")
	r = req("GET", "https://app.example.com/test/whoami", nil)
	r.AddCookie(access)
	r.AddCookie(&http.Cookie{Name: access.Name, Value: "planted"})
	problem(t, e.do(r), 400, "invalid_request")

	// Refresh with the cookie and an empty body.
	problem(t, send("POST", prefix+"/refresh", "cross-site", refresh), 403, "cross_origin")
	e.clock.Advance(time.Minute)
	rec = send("POST", prefix+"/refresh", "same-origin", refresh)
	var rb tokenBody
	decodeJSON(t, rec, 200, &rb)
	require.Empty(t, rb.AccessToken)
	require.Nil(t, rb.RefreshToken)
	var newAccess, newRefresh *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			continue // the legacy refresh cookie's deletion
		}
		switch c.Name {
		case access.Name:
			newAccess = c
		case refresh.Name:
			newRefresh = c
		}
	}
	require.NotNil(t, newAccess)
	require.NotNil(t, newRefresh)
	require.NotEqual(t, refresh.Value, newRefresh.Value, "rotated")
	problem(t, send("POST", prefix+"/refresh", "same-origin"), 401, "unauthenticated")

	// Both a cookie and a body token: 400.
	r = req("POST", "https://app.example.com"+prefix+"/refresh", map[string]string{"refresh_token": newRefresh.Value})
	r.AddCookie(newRefresh)
	problem(t, e.do(r), 400, "invalid_request")

	// Logout clears both cookies.
	problem(t, send("POST", prefix+"/logout", "cross-site", newAccess), 403, "cross_origin")
	rec = send("POST", prefix+"/logout", "same-origin", newAccess)
	require.Equal(t, 204, rec.Code)
	cleared := 0
	for _, c := range rec.Result().Cookies() {
		require.Empty(t, c.Value)
		require.Less(t, c.MaxAge, 0)
		require.True(t, c.Secure && c.HttpOnly)
		cleared++
	}
	require.Equal(t, 3, cleared, "access, refresh, and the refresh cookie at its former path")
	problem(t, send("GET", prefix+"/me", "same-origin", newAccess), 401, "invalid_token")

	// A refused refresh cookie is cleared too.
	rec = send("POST", prefix+"/refresh", "same-origin", newRefresh)
	problem(t, rec, 401, "invalid_token")
	require.Len(t, rec.Result().Cookies(), 3)
}

func TestCookieModeOptions(t *testing.T) {
	cop := http.NewCrossOriginProtection()
	require.NoError(t, cop.AddTrustedOrigin("https://admin.example.com"))
	e := newEnv(t, middleware.WithCookies(middleware.Cookies{SameSite: http.SameSiteLaxMode, AccessName: "at", RefreshName: "rt", CrossOrigin: cop}))
	u, _ := e.user(auth.RoleViewer, "")
	r := req("POST", "https://app.example.com"+prefix+"/login", map[string]string{"email": u.Email, "password": password})
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.Header.Set("Origin", "https://admin.example.com")
	rec := e.do(r)
	require.Equal(t, 200, rec.Code, "a trusted origin")
	names := map[string]http.SameSite{}
	for _, c := range rec.Result().Cookies() {
		names[c.Name] = c.SameSite
	}
	require.Equal(t, map[string]http.SameSite{"at": http.SameSiteLaxMode, "rt": http.SameSiteLaxMode}, names)

	a := e.a
	for name, ck := range map[string]middleware.Cookies{
		"SameSite=None":         {SameSite: http.SameSiteNoneMode},
		"same names":            {AccessName: "x", RefreshName: "x"},
		"not a token":           {AccessName: "a b"},
		"separator in the name": {RefreshName: "a;b"},
	} {
		_, err := middleware.New(a, middleware.WithCookies(ck))
		require.Error(t, err, name)
	}
}

// TestHostPrefixedRefreshCookie: a "__Host-" refresh cookie is set with
// Path=/, as browsers require of that prefix.
func TestHostPrefixedRefreshCookie(t *testing.T) {
	e := newEnv(t, middleware.WithCookies(middleware.Cookies{RefreshName: "__Host-rt"}))
	email := newEmail()
	require.Equal(t, 201, e.call("POST", "/api/v1/auth/register", "", map[string]any{"email": email, "password": "correct horse battery staple"}).Code)
	rec := e.call("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "correct horse battery staple"})
	require.Equal(t, 200, rec.Code)
	paths := map[string]string{}
	for _, c := range rec.Result().Cookies() {
		paths[c.Name] = c.Path
	}
	require.Equal(t, "/", paths["__Host-rt"])
}

func TestInvalidOptions(t *testing.T) {
	e := newEnv(t)
	for name, opt := range map[string]middleware.Option{
		"prefix without slash":   middleware.WithPrefix("api"),
		"prefix with trailing /": middleware.WithPrefix("/api/"),
		"prefix with wildcard":   middleware.WithPrefix("/{x}"),
		"unclean prefix":         middleware.WithPrefix("/api//auth"),
		"jwks path":              middleware.WithJWKSPath("jwks"),
		"jwks path of endpoint":  middleware.WithJWKSPath(prefix + "/me"),
		"zero body limit":        middleware.WithBodyLimit(0),
		"unknown admin role":     middleware.WithAdminRole("root"),
	} {
		h, err := middleware.New(e.a, opt)
		require.Error(t, err, name)
		require.Nil(t, h, name)
	}
	_, err := middleware.New(nil)
	require.Error(t, err)
}

func TestMountOptions(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	newHandler(t, e.a, middleware.WithPrefix("/auth"), middleware.WithJWKSPath(""), middleware.WithoutRegistration()).Mount(mux)
	for path, want := range map[string]int{
		"/auth/login":                       415,
		"/api/v1/auth/login":                404,
		"/auth/register":                    404,
		middleware.DefaultJWKSPath + "?x=1": 404,
	} {
		method := "POST"
		if strings.HasPrefix(path, "/.well-known") {
			method = "GET"
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		require.Equal(t, want, rec.Code, path)
	}
}

// In cookie mode, logout works with the refresh cookie alone, after the
// access cookie has expired: the session ends, both cookies are cleared,
// and the refresh cookie is refused from then on. Cross-origin requests
// are refused as for any cookie-authenticated request.
func TestCookieLogoutWithExpiredAccess(t *testing.T) {
	e := newEnv(t, middleware.WithCookies(middleware.Cookies{}))
	u, _ := e.user(auth.RoleViewer, "")
	r := req("POST", "https://app.example.com"+prefix+"/login", map[string]string{"email": u.Email, "password": password})
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := e.do(r)
	require.Equal(t, 200, rec.Code)
	var access, refresh *http.Cookie
	for _, c := range rec.Result().Cookies() {
		switch {
		case c.MaxAge < 0:
		case c.Name == middleware.DefaultAccessCookie:
			access = c
		case c.Name == middleware.DefaultRefreshCookie:
			refresh = c
		}
	}
	require.NotNil(t, access)
	require.NotNil(t, refresh)
	require.True(t, strings.HasPrefix(prefix+"/logout", refresh.Path), "the browser sends the refresh cookie to logout")

	e.clock.Advance(16 * time.Minute) // the access cookie's token has expired; the browser dropped the cookie
	send := func(site string, cs ...*http.Cookie) *httptest.ResponseRecorder {
		r := req("POST", "https://app.example.com"+prefix+"/logout", nil)
		for _, c := range cs {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		r.Header.Set("Sec-Fetch-Site", site)
		return e.do(r)
	}
	problem(t, send("same-origin", access), 401, "token_expired")
	problem(t, send("cross-site", refresh), 403, "cross_origin")
	problem(t, send("cross-site", access, refresh), 403, "cross_origin")

	rec = send("same-origin", access, refresh)
	require.Equal(t, 204, rec.Code, rec.Body.String())
	cleared := map[string]bool{}
	for _, c := range rec.Result().Cookies() {
		require.Empty(t, c.Value)
		require.Less(t, c.MaxAge, 0)
		cleared[c.Name+" "+c.Path] = true
	}
	require.True(t, cleared[access.Name+" /"])
	require.True(t, cleared[refresh.Name+" "+refresh.Path])

	rr := req("POST", "https://app.example.com"+prefix+"/refresh", nil)
	rr.AddCookie(&http.Cookie{Name: refresh.Name, Value: refresh.Value})
	rr.Header.Set("Sec-Fetch-Site", "same-origin")
	problem(t, e.do(rr), 401, "invalid_token")
	sessions, err := e.a.Sessions(t.Context(), u.ID)
	require.NoError(t, err)
	require.Len(t, sessions, 1, "only the session e.user opened is left")

	// Logging out again, with the ended session's cookie, still clears.
	require.Equal(t, 204, send("same-origin", refresh).Code)
	problem(t, send("same-origin"), 401, "unauthenticated")
}
