package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/middleware"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

func TestRegister(t *testing.T) {
	e := newEnv(t)
	email := newEmail()
	rec := e.call("POST", prefix+"/register", "", map[string]any{
		"email": "  " + strings.ToUpper(email) + " ", "password": password, "name": "Kate", "meta": map[string]any{"plan": "free"},
	})
	var u userBody
	decodeJSON(t, rec, 201, &u)
	require.Equal(t, email, u.Email, "normalised")
	require.Equal(t, "Kate", u.Name)
	require.Equal(t, "viewer", u.Role)
	require.Equal(t, auth.DefaultTenantID, u.TenantID)
	require.True(t, u.Active)
	require.False(t, u.Verified)
	require.Nil(t, u.LastLoginAt)
	require.JSONEq(t, `{"plan":"free"}`, string(u.Meta))
	require.NotContains(t, rec.Body.String(), "argon2", "no password hash")
	require.NotContains(t, rec.Body.String(), password)

	rec = e.call("POST", prefix+"/register", "", map[string]any{"email": email, "password": password})
	problem(t, rec, 409, "email_taken")

	for _, tc := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"email": "not-an-email", "password": password}, "invalid_email"},
		{map[string]any{"email": "", "password": password}, "invalid_email"},
		{map[string]any{"email": newEmail(), "password": "short"}, "password_too_short"},
		{map[string]any{"email": newEmail(), "password": "password123"}, "password_too_common"},
		{map[string]any{"email": newEmail(), "password": strings.Repeat("x", 300)}, "password_too_long"},
		{map[string]any{"email": newEmail(), "password": "abc\u0007defghijk"}, "password_encoding"},
		{map[string]any{"email": newEmail(), "password": password, "name": strings.Repeat("n", 201)}, "invalid_input"},
		{map[string]any{"email": newEmail(), "password": password, "meta": []int{1}}, "invalid_field_type"},
	} {
		rec := e.call("POST", prefix+"/register", "", tc.body)
		if tc.code == "invalid_field_type" {
			problem(t, rec, 400, tc.code)
			continue
		}
		problem(t, rec, 422, tc.code)
	}
	email2 := newEmail()
	local, _, _ := strings.Cut(email2, "@")
	problem(t, e.call("POST", prefix+"/register", "", map[string]any{"email": email2, "password": local + "!!"}), 422, "password_too_close")
}

func TestRegisterEnumerationSafe(t *testing.T) {
	e := newEnvWith(t, envConfig{lifecycle: true, cfg: auth.Config{EnumerationSafe: true}})
	email := newEmail()
	first := e.call("POST", prefix+"/register", "", map[string]any{"email": email, "password": password})
	taken := e.call("POST", prefix+"/register", "", map[string]any{"email": strings.ToUpper(email), "password": password + "!"})
	require.Equal(t, 202, first.Code)
	require.Equal(t, first.Code, taken.Code)
	require.Equal(t, first.Body.String(), taken.Body.String(), "a taken address answers exactly like a new one")
	require.JSONEq(t, `{"status":"accepted"}`, first.Body.String())
	first.Header().Del("Date")
	taken.Header().Del("Date")
	require.Equal(t, first.Header(), taken.Header())

	u, err := e.st.UserByEmail(context.Background(), email)
	require.NoError(t, err, "the first registration did create the user")
	require.Equal(t, auth.RoleViewer, u.Role)

	problem(t, e.call("POST", prefix+"/register", "", map[string]any{"email": newEmail(), "password": "short"}), 422, "password_too_short")
}

func TestRegisterMassAssignment(t *testing.T) {
	e := newEnv(t)
	for _, key := range []string{
		"role", "Role", "ROLE", "rOlE",
		"tenant_id", "Tenant_ID", "TENANT_ID", "tenant",
		"active", "Active", "ACTIVE",
		"verified", "Verified", "VERIFIED",
		"id", "password_hash", "PasswordHash", "created_at",
	} {
		email := newEmail()
		var value any = true
		switch lk := strings.ToLower(key); {
		case lk == "role":
			value = "admin"
		case strings.HasPrefix(lk, "tenant"), lk == "id":
			value = "00000000-0000-0000-0000-000000000002"
		}
		body := map[string]any{"email": email, "password": password, key: value}
		rec := e.call("POST", prefix+"/register", "", body)
		p := problem(t, rec, 400, "unknown_field")
		require.Equal(t, key, p.Field)
		_, err := e.st.UserByEmail(context.Background(), email)
		require.ErrorIs(t, err, auth.ErrUserNotFound, "nothing was created with %s", key)
	}
	// Names are case-sensitive: "Email" alone is unknown, and beside
	// "email" it is a duplicate (encoding/json would fold them together).
	p := problem(t, e.call("POST", prefix+"/register", "", map[string]any{"Email": newEmail(), "password": password}), 400, "unknown_field")
	require.Equal(t, "Email", p.Field)
	problem(t, e.call("POST", prefix+"/register", "", map[string]any{"email": newEmail(), "EMAIL": newEmail(), "password": password}), 400, "duplicate_field")
}

func TestBodyDecodingErrors(t *testing.T) {
	e := newEnv(t)
	email := newEmail()
	ok := `"email":"` + email + `","password":"` + password + `"`
	cases := []struct {
		name  string
		body  string
		code  string
		field string
	}{
		{"malformed", `{"email":`, "malformed_json", ""},
		{"not JSON", `email=a&password=b`, "malformed_json", ""},
		{"empty", ``, "malformed_json", ""},
		{"whitespace", " \n ", "malformed_json", ""},
		{"array", `[{` + ok + `}]`, "malformed_json", ""},
		{"string", `"x"`, "malformed_json", ""},
		{"null", `null`, "malformed_json", ""},
		{"unknown field", `{` + ok + `,"nickname":"k"}`, "unknown_field", "nickname"},
		{"duplicate", `{` + ok + `,"email":"b@example.com"}`, "duplicate_field", "email"},
		{"duplicate, other case", `{` + ok + `,"EMAIL":"b@example.com"}`, "duplicate_field", "EMAIL"},
		{"duplicate, other case first", `{"PASSWORD":"x",` + ok + `}`, "duplicate_field", "password"},
		{"duplicate, Kelvin sign", `{` + ok + `,"name":"a","nameK":"b","name\u212a":"c"}`, "duplicate_field", ""},
		{"duplicate in meta", `{` + ok + `,"meta":{"a":1,"a":2}}`, "duplicate_field", "a"},
		{"trailing object", `{` + ok + `}{}`, "trailing_data", ""},
		{"trailing garbage", `{` + ok + `} x`, "trailing_data", ""},
		{"trailing value", `{` + ok + `} 1`, "trailing_data", ""},
		{"invalid UTF-8", "{\"email\":\"a\xffb@example.com\",\"password\":\"" + password + "\"}", "invalid_utf8", ""},
		{"invalid UTF-8 in a name", "{" + ok + ",\"n\xc3\":1}", "invalid_utf8", ""},
		{"lone high surrogate", `{` + ok + `,"name":"\ud800"}`, "invalid_utf8", ""},
		{"lone low surrogate", `{` + ok + `,"name":"\udc00x"}`, "invalid_utf8", ""},
		{"reversed pair", `{` + ok + `,"name":"\udc00\ud800"}`, "invalid_utf8", ""},
		{"null field", `{` + ok + `,"name":null}`, "invalid_field_type", "name"},
		{"wrong type", `{"email":5,"password":"` + password + `"}`, "invalid_field_type", "email"},
		{"missing password", `{"email":"` + email + `"}`, "missing_field", "password"},
		{"too deep", `{` + ok + `,"meta":{"a":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}}`, "malformed_json", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := problem(t, e.call("POST", prefix+"/register", "", tc.body), 400, tc.code)
			if tc.field != "" {
				require.Equal(t, tc.field, p.Field)
			}
		})
	}
	// A valid surrogate pair and a literal U+FFFD are fine.
	rec := e.call("POST", prefix+"/register", "", `{`+ok+`,"name":"\ud83d\ude00 \ufffd"}`)
	var u userBody
	decodeJSON(t, rec, 201, &u)
	require.Equal(t, "\U0001F600 \uFFFD", u.Name)
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t)
	big := `{"email":"a@example.com","password":"` + strings.Repeat("x", middleware.DefaultBodyLimit) + `"}`
	rec := e.call("POST", prefix+"/register", "", big)
	problem(t, rec, 413, "body_too_large")

	// Without a Content-Length the limit applies while reading.
	r := req("POST", prefix+"/login", nil)
	r.Body = readCloser{strings.NewReader(big)}
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	problem(t, e.do(r), 413, "body_too_large")

	e2 := newEnv(t, middleware.WithBodyLimit(64))
	problem(t, e2.call("POST", prefix+"/login", "", `{"email":"a@example.com","password":"`+strings.Repeat("x", 64)+`"}`), 413, "body_too_large")
	problem(t, e2.call("POST", prefix+"/login", "", `{"email":"a@example.com","password":"x"}`), 401, "invalid_credentials")
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func TestUnsupportedMediaType(t *testing.T) {
	e := newEnv(t)
	u, _ := e.user(auth.RoleViewer, "")
	body := `{"email":"` + u.Email + `","password":"` + password + `"}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx",
		"application/json; charset=latin1", "multipart/form-data; boundary=x", "application/json;;"} {
		r := req("POST", prefix+"/login", body)
		r.Header.Del("Content-Type")
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		rec := e.do(r)
		problem(t, rec, 415, "unsupported_media_type")
		require.Equal(t, "application/json", rec.Header().Get("Accept-Post"))
	}
	r := req("POST", prefix+"/login", body)
	r.Header.Add("Content-Type", "application/json")
	problem(t, e.do(r), 415, "unsupported_media_type")

	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON; charset=UTF-8", "application/json;foo=bar"} {
		r := req("POST", prefix+"/login", body)
		r.Header.Set("Content-Type", ct)
		require.Equal(t, 200, e.do(r).Code, ct)
	}

	_, admin := e.user(auth.RoleAdmin, "")
	r = req("PATCH", prefix+"/users/"+u.ID, `{"verified":true}`)
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("Authorization", "Bearer "+admin.AccessToken)
	rec := e.do(r)
	problem(t, rec, 415, "unsupported_media_type")
	require.Equal(t, "application/json", rec.Header().Get("Accept-Patch"))
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	u, _ := e.user(auth.RoleEditor, "")
	rec := e.call("POST", prefix+"/login", "", map[string]string{"email": strings.ToUpper(u.Email), "password": password})
	var tb tokenBody
	decodeJSON(t, rec, 200, &tb)
	require.NotEmpty(t, tb.AccessToken)
	require.Equal(t, "Bearer", tb.TokenType)
	require.Equal(t, int64(900), tb.ExpiresIn)
	require.NotNil(t, tb.RefreshToken)
	require.NotEmpty(t, *tb.RefreshToken)
	require.NotEmpty(t, tb.SessionID)
	require.Equal(t, u.ID, tb.User.ID)
	require.Equal(t, "editor", tb.User.Role)
	require.NotNil(t, tb.User.LastLoginAt)
	require.Empty(t, rec.Result().Cookies(), "no cookies unless cookie mode")

	c, err := e.a.Authenticate(context.Background(), tb.AccessToken)
	require.NoError(t, err)
	require.Equal(t, tb.SessionID, c.SessionID)

	wrong := e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password + "!"})
	problem(t, wrong, 401, "invalid_credentials")
	require.Equal(t, "Bearer", wrong.Header().Get("WWW-Authenticate"))
	unknown := e.call("POST", prefix+"/login", "", map[string]string{"email": newEmail(), "password": password})
	problem(t, unknown, 401, "invalid_credentials")
	require.Equal(t, wrong.Body.String(), unknown.Body.String(), "an unknown address answers like a wrong password")
	problem(t, e.call("POST", prefix+"/login", "", map[string]string{"email": "nope", "password": password}), 401, "invalid_credentials")
	problem(t, e.call("POST", prefix+"/login", "", map[string]any{"email": u.Email}), 400, "missing_field")
	problem(t, e.call("POST", prefix+"/login", "", map[string]any{"email": u.Email, "password": password, "remember": true}), 400, "unknown_field")

	off := false
	_, err = e.a.UpdateUser(context.Background(), u.TenantID, u.ID, auth.UpdateUserRequest{Active: &off})
	require.NoError(t, err)
	problem(t, e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password}), 403, "user_inactive")
	problem(t, e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": "wrong password"}), 401, "invalid_credentials")
}

func TestLoginEmailNotVerified(t *testing.T) {
	e := newEnvWith(t, envConfig{cfg: auth.Config{RequireVerifiedEmail: true}})
	u, err := e.a.CreateUser(context.Background(), auth.CreateUserRequest{Email: newEmail(), Password: password})
	require.NoError(t, err)
	problem(t, e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password}), 403, "email_not_verified")
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnvWith(t, envConfig{cfg: auth.Config{Limits: auth.Limits{
		LoginPerAccount: auth.Limit{Burst: 2, Period: 10 * time.Minute}, LoginPerIP: auth.Limit{Burst: -1},
		RegisterPerIP: auth.Limit{Burst: -1}, RefreshPerIP: auth.Limit{Burst: -1},
	}}})
	u, _ := e.user(auth.RoleViewer, "")
	body := map[string]string{"email": u.Email, "password": "wrong password"}
	problem(t, e.call("POST", prefix+"/login", "", body), 401, "invalid_credentials")
	problem(t, e.call("POST", prefix+"/login", "", body), 401, "invalid_credentials")
	rec := e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password})
	problem(t, rec, 429, "rate_limited")
	secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	require.NoError(t, err)
	require.Equal(t, 300, secs, "one attempt per 5 minutes once the burst is spent")
	require.Empty(t, rec.Header().Get("WWW-Authenticate"))
}

func TestRefresh(t *testing.T) {
	e := newEnvWith(t, envConfig{cfg: auth.Config{RefreshGrace: 5 * time.Second}})
	_, pair := e.user(auth.RoleViewer, "")
	e.clock.Advance(time.Minute)
	rec := e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": pair.RefreshToken})
	var tb tokenBody
	decodeJSON(t, rec, 200, &tb)
	require.NotEmpty(t, tb.AccessToken)
	require.NotNil(t, tb.RefreshToken)
	require.NotEqual(t, pair.RefreshToken, *tb.RefreshToken, "rotated")
	require.Equal(t, pair.SessionID, tb.SessionID)
	require.Nil(t, tb.User)
	require.Equal(t, int64(900), tb.ExpiresIn)

	// A concurrent retry within the grace window: an access token, no refresh token.
	e.clock.Advance(2 * time.Second)
	rec = e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": pair.RefreshToken})
	var grace tokenBody
	decodeJSON(t, rec, 200, &grace)
	require.NotEmpty(t, grace.AccessToken)
	require.Nil(t, grace.RefreshToken, "refresh_token is omitted within the grace window")
	require.NotContains(t, rec.Body.String(), "refresh_token")

	// Reuse after the window revokes the session.
	e.clock.Advance(10 * time.Second)
	rec = e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": pair.RefreshToken})
	problem(t, rec, 401, "invalid_token")
	require.Equal(t, `Bearer error="invalid_token"`, rec.Header().Get("WWW-Authenticate"))
	problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": *tb.RefreshToken}), 401, "invalid_token")
	problem(t, e.call("GET", prefix+"/me", tb.AccessToken, nil), 401, "invalid_token")

	problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": "garbage"}), 401, "invalid_token")
	problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": ""}), 401, "invalid_token")
	problem(t, e.call("POST", prefix+"/refresh", "", `{}`), 400, "missing_field")
	problem(t, e.call("POST", prefix+"/refresh", "", nil), 415, "unsupported_media_type")

	// An expired session.
	_, pair = e.user(auth.RoleViewer, "")
	e.clock.Advance(8 * 24 * time.Hour)
	problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": pair.RefreshToken}), 401, "token_expired")
}

func TestRefreshInactiveUser(t *testing.T) {
	e := newEnv(t)
	u, pair := e.user(auth.RoleViewer, "")
	off := false
	_, err := e.a.UpdateUser(context.Background(), u.TenantID, u.ID, auth.UpdateUserRequest{Active: &off})
	require.NoError(t, err)
	// Deactivation ends the sessions, so the refresh token is revoked.
	problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": pair.RefreshToken}), 401, "invalid_token")
}

func TestMeLogoutAndLogoutAll(t *testing.T) {
	e := newEnv(t)
	u, p1 := e.user(auth.RoleViewer, "")
	var me userBody
	decodeJSON(t, e.call("GET", prefix+"/me", p1.AccessToken, nil), 200, &me)
	require.Equal(t, u.ID, me.ID)
	require.Equal(t, u.Email, me.Email)
	require.JSONEq(t, `{}`, string(me.Meta))
	problem(t, e.call("GET", prefix+"/me", "", nil), 401, "unauthenticated")
	problem(t, e.call("GET", prefix+"/me?access_token="+p1.AccessToken, "", nil), 400, "invalid_request")

	p2, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	rec := e.call("POST", prefix+"/logout", p1.AccessToken, nil)
	require.Equal(t, 204, rec.Code)
	require.Empty(t, rec.Body.String())
	problem(t, e.call("GET", prefix+"/me", p1.AccessToken, nil), 401, "invalid_token")
	problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": p1.RefreshToken}), 401, "invalid_token")
	require.Equal(t, 200, e.call("GET", prefix+"/me", p2.AccessToken, nil).Code, "other sessions live on")
	problem(t, e.call("POST", prefix+"/logout", p1.AccessToken, nil), 401, "invalid_token")

	p3, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	require.Equal(t, 204, e.call("POST", prefix+"/logout-all", p2.AccessToken, nil).Code)
	for _, p := range []*auth.TokenPair{p2, p3} {
		problem(t, e.call("GET", prefix+"/me", p.AccessToken, nil), 401, "invalid_token")
		problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": p.RefreshToken}), 401, "invalid_token")
	}
	problem(t, e.call("POST", prefix+"/logout-all", "", nil), 401, "unauthenticated")
}

func TestSessions(t *testing.T) {
	proxies, err := middleware.ParseTrustedProxies("10.0.0.0/8")
	require.NoError(t, err)
	e := newEnv(t, middleware.WithIPResolver(middleware.IPResolver{TrustedProxies: proxies}))
	u, _ := e.user(auth.RoleViewer, "")
	e.clock.Advance(time.Second)
	login := func(remote, xff string) tokenBody {
		r := req("POST", prefix+"/login", map[string]string{"email": u.Email, "password": password})
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		var tb tokenBody
		decodeJSON(t, e.do(r), 200, &tb)
		e.clock.Advance(time.Second)
		return tb
	}
	viaProxy := login("10.1.2.3:4567", "203.0.113.9, 198.51.100.7")
	direct := login("192.0.2.44:1234", "203.0.113.9")
	_, other := e.user(auth.RoleViewer, "")

	rec := e.call("GET", prefix+"/sessions", direct.AccessToken, nil)
	var list struct{ Sessions []sessionBody }
	decodeJSON(t, rec, 200, &list)
	require.Len(t, list.Sessions, 3, "two logins here, one by e.user")
	require.Equal(t, direct.SessionID, list.Sessions[0].ID, "newest first")
	require.True(t, list.Sessions[0].Current)
	require.False(t, list.Sessions[1].Current)
	require.Equal(t, "192.0.2.44", list.Sessions[0].IP, "an untrusted peer's X-Forwarded-For is ignored")
	require.Equal(t, viaProxy.SessionID, list.Sessions[1].ID)
	require.Equal(t, "198.51.100.7", list.Sessions[1].IP, "the right-most untrusted address behind a trusted proxy")
	require.Equal(t, "middleware-test/1.0", list.Sessions[0].UserAgent)

	problem(t, e.call("DELETE", prefix+"/sessions/"+other.SessionID, direct.AccessToken, nil), 404, "session_not_found")
	problem(t, e.call("DELETE", prefix+"/sessions/nope", direct.AccessToken, nil), 404, "session_not_found")
	require.Equal(t, 204, e.call("DELETE", prefix+"/sessions/"+viaProxy.SessionID, direct.AccessToken, nil).Code)
	problem(t, e.call("GET", prefix+"/me", viaProxy.AccessToken, nil), 401, "invalid_token")
	problem(t, e.call("DELETE", prefix+"/sessions/"+viaProxy.SessionID, direct.AccessToken, nil), 404, "session_not_found")
	require.Equal(t, 200, e.call("GET", prefix+"/me", other.AccessToken, nil).Code)
	require.Equal(t, 204, e.call("DELETE", prefix+"/sessions/"+direct.SessionID, direct.AccessToken, nil).Code, "ending the current session")
	problem(t, e.call("GET", prefix+"/sessions", direct.AccessToken, nil), 401, "invalid_token")
}

func TestAdminUsers(t *testing.T) {
	e := newEnv(t)
	tb := e.tenant()
	admin, ap := e.user(auth.RoleAdmin, "")
	_, vp := e.user(auth.RoleViewer, "")
	adminB, bp := e.user(auth.RoleAdmin, tb)
	userB, _ := e.user(auth.RoleViewer, tb)
	tok := ap.AccessToken

	// Create in the caller's tenant.
	rec := e.call("POST", prefix+"/users", tok, map[string]any{"email": newEmail(), "password": password, "name": "Ed", "role": "editor", "verified": true})
	var created userBody
	decodeJSON(t, rec, 201, &created)
	require.Equal(t, "editor", created.Role)
	require.True(t, created.Verified)
	require.True(t, created.Active)
	require.Equal(t, admin.TenantID, created.TenantID)
	require.Equal(t, prefix+"/users/"+created.ID, rec.Header().Get("Location"))
	problem(t, e.call("POST", prefix+"/users", tok, map[string]any{"email": created.Email, "password": password}), 409, "email_taken")
	problem(t, e.call("POST", prefix+"/users", tok, map[string]any{"email": newEmail(), "password": password, "role": "root"}), 422, "invalid_role")
	p := problem(t, e.call("POST", prefix+"/users", tok, map[string]any{"email": newEmail(), "password": password, "tenant_id": tb}), 400, "unknown_field")
	require.Equal(t, "tenant_id", p.Field)
	problem(t, e.call("POST", prefix+"/users", tok, map[string]any{"email": newEmail(), "password": "short"}), 422, "password_too_short")
	problem(t, e.call("POST", prefix+"/users", vp.AccessToken, map[string]any{"email": newEmail(), "password": password}), 403, "insufficient_role")

	// Get.
	var got userBody
	decodeJSON(t, e.call("GET", prefix+"/users/"+created.ID, tok, nil), 200, &got)
	require.Equal(t, created.ID, got.ID)
	problem(t, e.call("GET", prefix+"/users/"+created.ID, vp.AccessToken, nil), 403, "insufficient_role")
	problem(t, e.call("GET", prefix+"/users/"+created.ID, "", nil), 401, "unauthenticated")
	problem(t, e.call("GET", prefix+"/users/not-an-id", tok, nil), 404, "user_not_found")

	// Tenant isolation: another tenant's user is not found, read or write,
	// exactly like an ID that does not exist.
	missing := e.call("GET", prefix+"/users/"+"00000000-0000-7000-8000-000000000000", tok, nil)
	problem(t, missing, 404, "user_not_found")
	foreign := e.call("GET", prefix+"/users/"+userB.ID, tok, nil)
	problem(t, foreign, 404, "user_not_found")
	require.Equal(t, missing.Body.String(), foreign.Body.String())
	problem(t, e.call("PATCH", prefix+"/users/"+userB.ID, tok, map[string]any{"active": false}), 404, "user_not_found")
	problem(t, e.call("GET", prefix+"/users/"+admin.ID, bp.AccessToken, nil), 404, "user_not_found")
	fresh, err := e.a.User(context.Background(), tb, userB.ID)
	require.NoError(t, err)
	require.True(t, fresh.Active, "untouched")

	// Patch.
	createdPair, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: created.Email, Password: password})
	require.NoError(t, err)
	e.clock.Advance(time.Second)
	var patched userBody
	decodeJSON(t, e.call("PATCH", prefix+"/users/"+created.ID, tok, map[string]any{"role": "viewer", "verified": false}), 200, &patched)
	require.Equal(t, "viewer", patched.Role)
	require.False(t, patched.Verified)
	problem(t, e.call("GET", prefix+"/me", createdPair.AccessToken, nil), 401, "invalid_token")
	problem(t, e.call("PATCH", prefix+"/users/"+created.ID, tok, map[string]any{"role": "root"}), 422, "invalid_role")
	problem(t, e.call("PATCH", prefix+"/users/"+created.ID, tok, map[string]any{"Role": "admin"}), 400, "unknown_field")
	problem(t, e.call("PATCH", prefix+"/users/"+created.ID, tok, map[string]any{"email": "x@example.com"}), 400, "unknown_field")
	problem(t, e.call("PATCH", prefix+"/users/"+created.ID, tok, `{"active":"no"}`), 400, "invalid_field_type")
	problem(t, e.call("PATCH", prefix+"/users/"+created.ID, vp.AccessToken, map[string]any{"role": "admin"}), 403, "insufficient_role")
	problem(t, e.call("PATCH", prefix+"/users/"+admin.ID, tok, map[string]any{"active": false}), 403, "self_modification")
	problem(t, e.call("PATCH", prefix+"/users/"+admin.ID, tok, map[string]any{"role": "viewer"}), 403, "self_modification")
	decodeJSON(t, e.call("PATCH", prefix+"/users/"+admin.ID, tok, map[string]any{"verified": true}), 200, &patched)
	require.True(t, patched.Verified)

	// List: only the caller's tenant, paginated, filtered.
	for range 3 {
		e.user(auth.RoleEditor, "")
	}
	var all []userBody
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		path := prefix + "/users?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Users      []userBody `json:"users"`
			NextCursor string     `json:"next_cursor"`
		}
		rec := e.call("GET", path, tok, nil)
		decodeJSON(t, rec, 200, &page)
		require.LessOrEqual(t, len(page.Users), 2)
		all = append(all, page.Users...)
		if page.NextCursor == "" {
			require.NotContains(t, rec.Body.String(), "next_cursor")
			break
		}
		cursor = page.NextCursor
	}
	ids := map[string]bool{}
	for _, u := range all {
		require.Equal(t, admin.TenantID, u.TenantID)
		ids[u.ID] = true
	}
	require.True(t, ids[created.ID])
	require.False(t, ids[userB.ID] || ids[adminB.ID], "no other tenant's users")

	var editors struct{ Users []userBody }
	decodeJSON(t, e.call("GET", prefix+"/users?role=editor&active=true&limit=100", tok, nil), 200, &editors)
	require.Len(t, editors.Users, 3)
	for _, u := range editors.Users {
		require.Equal(t, "editor", u.Role)
	}
	var found struct{ Users []userBody }
	decodeJSON(t, e.call("GET", prefix+"/users?verified=false&search="+url.QueryEscape(strings.ToUpper(created.Email)), tok, nil), 200, &found)
	require.Len(t, found.Users, 1, "search by address, ignoring case")
	require.Equal(t, created.ID, found.Users[0].ID)
	decodeJSON(t, e.call("GET", prefix+"/users?verified=true&search="+url.QueryEscape(created.Email), tok, nil), 200, &found)
	require.Empty(t, found.Users, "the verified filter applies")
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "limit=1&limit=2", "cursor=nope", "role=root",
		"active=yes", "active=1", "verified=1", "search=", "search=" + strings.Repeat("a", 101), "search=a%00b",
		"sort=email", "%zz"} {
		p := problem(t, e.call("GET", prefix+"/users?"+q, tok, nil), 400, "invalid_parameter")
		if q != "%zz" {
			name, _, _ := strings.Cut(q, "=")
			require.Equal(t, name, p.Field, q)
		}
	}
	problem(t, e.call("GET", prefix+"/users", vp.AccessToken, nil), 403, "insufficient_role")
}

func TestAdminCannotExceedOwnRole(t *testing.T) {
	e := newEnvWith(t, envConfig{cfg: auth.Config{Roles: []auth.Role{"viewer", "editor", "admin", "owner"}}})
	_, ap := e.user("admin", "")
	owner, _ := e.user("owner", "")
	viewer, _ := e.user("viewer", "")
	tok := ap.AccessToken
	problem(t, e.call("POST", prefix+"/users", tok, map[string]any{"email": newEmail(), "password": password, "role": "owner"}), 403, "role_above_caller")
	problem(t, e.call("PATCH", prefix+"/users/"+viewer.ID, tok, map[string]any{"role": "owner"}), 403, "role_above_caller")
	problem(t, e.call("PATCH", prefix+"/users/"+owner.ID, tok, map[string]any{"active": false}), 403, "role_above_caller")
	var u userBody
	decodeJSON(t, e.call("PATCH", prefix+"/users/"+viewer.ID, tok, map[string]any{"role": "admin"}), 200, &u)
	require.Equal(t, "admin", u.Role, "up to the caller's own role")
}

func TestJWKS(t *testing.T) {
	e := newEnv(t)
	rec := e.call("GET", middleware.DefaultJWKSPath, "", nil)
	require.Equal(t, 200, rec.Code)
	require.Equal(t, "application/jwk-set+json", rec.Header().Get("Content-Type"))
	require.Equal(t, "public, max-age=300", rec.Header().Get("Cache-Control"))
	require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	etag := rec.Header().Get("ETag")
	require.Regexp(t, `^"[A-Za-z0-9_-]+"$`, etag)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &set))
	require.Len(t, set.Keys, 1)
	require.Equal(t, e.a.Keys().SigningKey().ID(), set.Keys[0]["kid"])
	require.NotContains(t, set.Keys[0], "d", "no private key material")

	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		r := req("GET", middleware.DefaultJWKSPath, nil)
		r.Header.Set("If-None-Match", inm)
		rec := e.do(r)
		require.Equal(t, 304, rec.Code, inm)
		require.Empty(t, rec.Body.String())
		require.Equal(t, etag, rec.Header().Get("ETag"))
	}
	r := req("GET", middleware.DefaultJWKSPath, nil)
	r.Header.Set("If-None-Match", `"stale"`)
	require.Equal(t, 200, e.do(r).Code)

	// Rotation: a new key set is served at once, with a new ETag.
	k, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	ks, err := auth.NewKeySet(k, e.a.Keys().SigningKey())
	require.NoError(t, err)
	require.NoError(t, e.a.SetKeys(ks))
	rec = e.call("GET", middleware.DefaultJWKSPath, "", nil)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &set))
	require.Len(t, set.Keys, 2)
	require.NotEqual(t, etag, rec.Header().Get("ETag"))

	h := newHandler(t, e.a, middleware.WithJWKSMaxAge(0))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req("GET", middleware.DefaultJWKSPath, nil))
	require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
}

// failingUsers is a UserStore whose reads fail with an error full of
// internals, as a driver's would.
type failingUsers struct {
	auth.UserStore
	fail bool
}

const internalText = `pq: password authentication failed for user "svc" at 10.9.8.7:5432 (token=hunter2)`

func (f *failingUsers) User(ctx context.Context, id string) (*auth.User, error) {
	if f.fail {
		return nil, errors.New(internalText)
	}
	return f.UserStore.User(ctx, id)
}

func TestInternalErrorSaysNothing(t *testing.T) {
	users := &failingUsers{}
	e := newEnvWith(t, envConfig{stores: func(st *memstore.Store) authtest.Stores {
		users.UserStore = st
		return authtest.Stores{Users: users, Tenants: st, Sessions: st, Revocations: st}
	}})
	_, pair := e.user(auth.RoleViewer, "")
	users.fail = true
	rec := e.call("GET", prefix+"/me", pair.AccessToken, nil)
	p := problem(t, rec, 500, "internal_error")
	require.Equal(t, "An internal error occurred.", p.Detail)
	for _, s := range []string{"pq", "hunter2", "10.9.8.7", "password authentication", "svc"} {
		require.NotContains(t, rec.Body.String(), s)
	}
	require.Contains(t, e.logs.String(), "hunter2", "the log has the cause (library errors never carry secrets; this fake does)")
	require.Contains(t, e.logs.String(), "level=ERROR")
	require.NotContains(t, e.logs.String(), pair.AccessToken, "tokens are never logged")
}

func TestWriteError(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{&auth.RateLimitError{RetryAfter: 1500 * time.Millisecond}, 429, "rate_limited", "2"},
		{&auth.RateLimitError{RetryAfter: 10 * time.Second}, 429, "rate_limited", "10"},
		{&auth.RateLimitError{}, 429, "rate_limited", "1"},
		{auth.ErrRateLimited, 429, "rate_limited", "1"},
		{auth.ErrBusy, 503, "busy", "1"},
		{errors.Join(errors.New("redis: i/o timeout"), auth.ErrUnavailable), 503, "unavailable", "5"},
		{context.DeadlineExceeded, 503, "unavailable", "5"},
		{auth.ErrTenantTaken, 409, "tenant_taken", ""},
		{auth.ErrConflict, 409, "conflict", ""},
		{errors.New("boom"), 500, "internal_error", ""},
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		e.h.WriteError(rec, req("POST", "/", nil), tc.err)
		problem(t, rec, tc.status, tc.code)
		require.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After"), tc.err.Error())
		require.NotContains(t, rec.Body.String(), "auth:")
		require.NotContains(t, rec.Body.String(), "redis")
	}
}

func TestClientIPResolution(t *testing.T) {
	trusted, err := middleware.ParseTrustedProxies("10.0.0.0/8", "192.168.1.1", "fd00::/8", " 172.16.0.0/12 ")
	require.NoError(t, err)
	xff := middleware.IPResolver{TrustedProxies: trusted}
	fwd := middleware.IPResolver{TrustedProxies: trusted, Header: middleware.Forwarded}
	cases := []struct {
		name   string
		r      middleware.IPResolver
		remote string
		header []string
		want   string
	}{
		{"no proxies configured", middleware.IPResolver{}, "203.0.113.5:1234", []string{"198.51.100.1"}, "203.0.113.5"},
		{"untrusted peer's header ignored", xff, "203.0.113.5:1234", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted peer, no header", xff, "10.0.0.1:1234", nil, "10.0.0.1"},
		{"one hop", xff, "10.0.0.1:1234", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left entries", xff, "10.0.0.1:1234", []string{"1.2.3.4, 5.6.7.8, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", xff, "10.0.0.1:1234", []string{"198.51.100.1, 10.2.2.2, 192.168.1.1"}, "198.51.100.1"},
		{"several header lines", xff, "10.0.0.1:1234", []string{"1.1.1.1, 198.51.100.1", "10.2.2.2"}, "198.51.100.1"},
		{"all trusted", xff, "10.0.0.1:1234", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"garbage stops the walk", xff, "10.0.0.1:1234", []string{"198.51.100.1, garbage, 10.2.2.2"}, "10.2.2.2"},
		{"garbage at the right", xff, "10.0.0.1:1234", []string{"198.51.100.1, nope"}, "10.0.0.1"},
		{"port in an entry", xff, "10.0.0.1:1234", []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"IPv6", xff, "[fd00::1]:443", []string{"2001:db8::1, fd00::2"}, "2001:db8::1"},
		{"bracketed IPv6", xff, "[fd00::1]:443", []string{"[2001:db8::1]"}, "2001:db8::1"},
		{"IPv4-mapped peer", xff, "[::ffff:10.0.0.1]:443", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"zone dropped", xff, "[fe80::1%eth0]:443", nil, "fe80::1"},
		{"unix socket", xff, "@", []string{"198.51.100.1"}, "invalid IP"},
		{"X-Forwarded-For ignored in Forwarded mode", fwd, "10.0.0.1:1", nil, "10.0.0.1"},
		{"header over the size bound", xff, "10.0.0.1:1234", []string{strings.Repeat("1.2.3.4, ", 600) + "198.51.100.1"}, "10.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, h := range tc.header {
				r.Header.Add("X-Forwarded-For", h)
			}
			require.Equal(t, tc.want, tc.r.ClientIP(r).String())
		})
	}
	forwarded := []struct {
		name   string
		header []string
		want   string
	}{
		{"rfc 7239 example", []string{`for=192.0.2.60;proto=http;by=203.0.113.43`}, "192.0.2.60"},
		{"right-most untrusted", []string{`for=1.2.3.4, for=198.51.100.1, for=10.1.1.1`}, "198.51.100.1"},
		{"quoted IPv6 with port", []string{`For="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"unknown node", []string{`for=198.51.100.1, for=unknown`}, "10.0.0.1"},
		{"obfuscated node", []string{`for=198.51.100.1, for=_hidden`}, "10.0.0.1"},
		{"element without for", []string{`for=198.51.100.1, proto=https`}, "10.0.0.1"},
		{"quoted comma", []string{`for="198.51.100.1";x="a,b"`}, "198.51.100.1"},
		{"several lines", []string{`for=1.1.1.1`, `for=198.51.100.2;proto=https`}, "198.51.100.2"},
		// A proxy appending "for=<peer>" to the client's line must not end up
		// inside the client's unterminated quoted string.
		{"unterminated quote swallows the proxy's entry", []string{`for=6.6.6.6;x=", for=198.51.100.1`}, "10.0.0.1"},
		{"unterminated escape", []string{`for=6.6.6.6;x="\`}, "10.0.0.1"},
		{"header over the size bound", []string{strings.Repeat("for=1.2.3.4, ", 400) + "for=198.51.100.1"}, "10.0.0.1"},
	}
	for _, tc := range forwarded {
		t.Run("Forwarded/"+tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "10.0.0.1:1"
			for _, h := range tc.header {
				r.Header.Add("Forwarded", h)
			}
			r.Header.Set("X-Forwarded-For", "6.6.6.6")
			require.Equal(t, tc.want, fwd.ClientIP(r).String())
		})
	}

	_, err = middleware.ParseTrustedProxies("10.0.0.0/8", "not-an-ip")
	require.ErrorContains(t, err, "not-an-ip")
	_, err = middleware.ParseTrustedProxies("fe80::1%eth0")
	require.Error(t, err)
	mapped, err := middleware.ParseTrustedProxies("::ffff:10.0.0.0/104")
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, mapped)
}

// Each endpoint served alone through the Handler is complete,
// authentication and role checks included, for hosts that mount them one
// by one.
func TestEndpointsAlone(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	for _, pattern := range []string{
		"POST /register", "POST /login", "POST /refresh", "GET /me", "GET /sessions", "DELETE /sessions/{id}",
		"POST /logout", "POST /logout-all", "GET /users", "POST /users", "GET /users/{id}", "PATCH /users/{id}",
	} {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" "+prefix+path, e.h)
	}
	mux.Handle("GET "+middleware.DefaultJWKSPath, e.h)
	do := func(method, path, token string, body any) *httptest.ResponseRecorder {
		return serve(mux, method, path, token, body)
	}
	creds := map[string]string{"email": newEmail(), "password": password}
	require.Equal(t, 201, do("POST", prefix+"/register", "", creds).Code)
	var tb tokenBody
	decodeJSON(t, do("POST", prefix+"/login", "", creds), 200, &tb)
	var rb tokenBody
	decodeJSON(t, do("POST", prefix+"/refresh", "", map[string]string{"refresh_token": *tb.RefreshToken}), 200, &rb)
	require.Equal(t, 200, do("GET", prefix+"/me", rb.AccessToken, nil).Code)
	require.Equal(t, 200, do("GET", prefix+"/sessions", rb.AccessToken, nil).Code)
	for _, path := range []string{prefix + "/me", prefix + "/sessions", prefix + "/users", prefix + "/users/" + tb.User.ID} {
		problem(t, do("GET", path, "", nil), 401, "unauthenticated")
	}
	problem(t, do("GET", prefix+"/users", rb.AccessToken, nil), 403, "insufficient_role")
	problem(t, do("POST", prefix+"/users", rb.AccessToken, creds), 403, "insufficient_role")
	problem(t, do("PATCH", prefix+"/users/"+tb.User.ID, rb.AccessToken, map[string]any{"verified": true}), 403, "insufficient_role")

	_, admin := e.user(auth.RoleAdmin, "")
	require.Equal(t, 200, do("GET", prefix+"/users", admin.AccessToken, nil).Code)
	require.Equal(t, 200, do("GET", prefix+"/users/"+tb.User.ID, admin.AccessToken, nil).Code)
	require.Equal(t, 200, do("PATCH", prefix+"/users/"+tb.User.ID, admin.AccessToken, map[string]any{"verified": true}).Code)
	require.Equal(t, 201, do("POST", prefix+"/users", admin.AccessToken, map[string]string{"email": newEmail(), "password": password}).Code)
	require.Equal(t, 200, do("GET", middleware.DefaultJWKSPath, "", nil).Code)
	require.Equal(t, 204, do("DELETE", prefix+"/sessions/"+admin.SessionID, admin.AccessToken, nil).Code)
	require.Equal(t, 204, do("POST", prefix+"/logout", rb.AccessToken, nil).Code)
	_, other := e.user(auth.RoleViewer, "")
	require.Equal(t, 204, do("POST", prefix+"/logout-all", other.AccessToken, nil).Code)
	problem(t, do("GET", prefix+"/me", other.AccessToken, nil), 401, "invalid_token")
}

// TestUnknownClientsShareALimit: a peer whose address cannot be known (a
// Unix socket) is limited per IP like everyone else, in one shared bucket.
func TestUnknownClientsShareALimit(t *testing.T) {
	e := newEnvWith(t, envConfig{cfg: auth.Config{Limits: auth.Limits{RegisterPerIP: auth.Limit{Burst: 2, Period: time.Hour}}}})
	codes := []int{}
	for i := range 3 {
		r := req("POST", "/api/v1/auth/register", map[string]any{"email": fmt.Sprintf("unix%d@example.com", i), "password": "correct horse battery staple"})
		r.RemoteAddr = "@"
		codes = append(codes, e.do(r).Code)
	}
	require.Equal(t, []int{201, 201, 429}, codes)
}
