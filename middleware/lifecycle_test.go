package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/middleware"
	"github.com/stretchr/testify/require"
)

// lastToken returns the token of the newest message of kind sent to an
// address.
func (e *env) lastToken(to string, kind auth.MessageKind) string {
	e.t.Helper()
	m, ok := e.outbox.Last(to, kind)
	require.True(e.t, ok, "no %s message to %s", kind, to)
	require.NotEmpty(e.t, m.Token)
	return m.Token
}

// noChallenge checks that a refusal of an e-mailed token or of a
// re-authentication does not look like a refused access token.
func noChallenge(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	require.Empty(t, rec.Header().Get("WWW-Authenticate"), "a body token or a wrong current password is not the request's credential")
}

func TestVerifyEmail(t *testing.T) {
	e := newEnvWith(t, envConfig{lifecycle: true})
	email := newEmail()
	decodeJSON(t, e.call("POST", prefix+"/register", "", map[string]any{"email": email, "password": password}), 201, &userBody{})
	tok := e.lastToken(email, auth.MessageVerifyEmail)

	// Strict decoding and mass assignment first: nothing is consumed.
	for _, tc := range []struct {
		body  any
		code  string
		field string
	}{
		{map[string]any{"token": tok, "verified": true}, "unknown_field", "verified"},
		{map[string]any{"token": tok, "user_id": "00000000-0000-7000-8000-000000000000"}, "unknown_field", "user_id"},
		{map[string]any{"token": tok, "email": "evil@example.com"}, "unknown_field", "email"},
		{map[string]any{"Token": tok}, "unknown_field", "Token"},
		{`{"token":"` + tok + `","TOKEN":"x"}`, "duplicate_field", "TOKEN"},
		{map[string]any{}, "missing_field", "token"},
		{`{"token":null}`, "invalid_field_type", "token"},
		{`{"token":1}`, "invalid_field_type", "token"},
		{`{"token":"` + tok + `"} {}`, "trailing_data", ""},
		{`{"token":"\ud800"}`, "invalid_utf8", ""},
	} {
		p := problem(t, e.call("POST", prefix+"/verify-email", "", tc.body), 400, tc.code)
		require.Equal(t, tc.field, p.Field)
	}
	problem(t, e.call("POST", prefix+"/verify-email", "", nil), 415, "unsupported_media_type")
	problem(t, e.call("POST", prefix+"/verify-email", "", `{"token":"`+strings.Repeat("x", middleware.DefaultBodyLimit)+`"}`), 413, "body_too_large")
	u, err := e.st.UserByEmail(context.Background(), email)
	require.NoError(t, err)
	require.False(t, u.Verified)

	var got userBody
	decodeJSON(t, e.call("POST", prefix+"/verify-email", "", map[string]string{"token": tok}), 200, &got)
	require.True(t, got.Verified)
	require.Equal(t, email, got.Email)

	for _, bad := range []string{tok, "", "garbage", tok[:42] + "A", strings.Repeat("A", 43)} {
		rec := e.call("POST", prefix+"/verify-email", "", map[string]string{"token": bad})
		problem(t, rec, 422, "invalid_action_token")
		noChallenge(t, rec)
		require.NotContains(t, rec.Body.String(), tok)
	}

	// Expiry: a fresh token, used after Config.VerifyTTL (24 hours).
	u2, pair := e.user(auth.RoleViewer, "")
	rec := e.call("POST", prefix+"/verify-email/resend", pair.AccessToken, nil)
	decodeJSON(t, rec, 202, &map[string]any{})
	require.JSONEq(t, `{"status":"accepted"}`, rec.Body.String())
	e.clock.Advance(24*time.Hour + time.Second)
	problem(t, e.call("POST", prefix+"/verify-email", "", map[string]string{"token": e.lastToken(u2.Email, auth.MessageVerifyEmail)}), 422, "invalid_action_token")
}

func TestResendVerification(t *testing.T) {
	e := newEnvWith(t, envConfig{lifecycle: true, cfg: auth.Config{Limits: auth.Limits{
		ResetPerAccount: auth.Limit{Burst: 2, Period: time.Hour}, LoginPerIP: auth.Limit{Burst: -1},
		LoginPerAccount: auth.Limit{Burst: -1}, RegisterPerIP: auth.Limit{Burst: -1}, RefreshPerIP: auth.Limit{Burst: -1},
		ResetPerIP: auth.Limit{Burst: -1},
	}}})
	u, pair := e.user(auth.RoleViewer, "")
	require.Empty(t, e.outbox.Messages(u.Email), "CreateUser sends nothing")

	require.Equal(t, 202, e.call("POST", prefix+"/verify-email/resend", pair.AccessToken, nil).Code)
	first := e.lastToken(u.Email, auth.MessageVerifyEmail)
	require.Equal(t, 202, e.call("POST", prefix+"/verify-email/resend", pair.AccessToken, nil).Code)
	second := e.lastToken(u.Email, auth.MessageVerifyEmail)
	require.NotEqual(t, first, second)
	rec := e.call("POST", prefix+"/verify-email/resend", pair.AccessToken, nil)
	problem(t, rec, 429, "rate_limited")
	require.NotEmpty(t, rec.Header().Get("Retry-After"))

	problem(t, e.call("POST", prefix+"/verify-email", "", map[string]string{"token": first}), 422, "invalid_action_token")
	var got userBody
	decodeJSON(t, e.call("POST", prefix+"/verify-email", "", map[string]string{"token": second}), 200, &got)
	require.True(t, got.Verified)

	// Verified: nothing is sent, with the same answer.
	n := len(e.outbox.Messages(u.Email))
	e.clock.Advance(2 * time.Hour)
	pair, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	require.Equal(t, 202, e.call("POST", prefix+"/verify-email/resend", pair.AccessToken, nil).Code)
	require.Len(t, e.outbox.Messages(u.Email), n)

	problem(t, e.call("POST", prefix+"/verify-email/resend", "", nil), 401, "unauthenticated")
}

func TestLifecycleNotConfigured(t *testing.T) {
	e := newEnv(t) // no Config.ActionTokens, no Config.Notifier
	_, pair := e.user(auth.RoleViewer, "")
	for _, tc := range []struct {
		path, token string
		body        any
	}{
		{"/verify-email", "", map[string]string{"token": strings.Repeat("A", 43)}},
		{"/verify-email/resend", pair.AccessToken, nil},
		{"/password/forgot", "", map[string]string{"email": newEmail()}},
		{"/password/reset", "", map[string]string{"token": strings.Repeat("A", 43), "password": password + "!"}},
		{"/email/change", pair.AccessToken, map[string]string{"password": password, "new_email": newEmail()}},
		{"/email/confirm", "", map[string]string{"token": strings.Repeat("A", 43)}},
	} {
		rec := e.call("POST", prefix+tc.path, tc.token, tc.body)
		p := problem(t, rec, 501, "not_configured")
		require.Equal(t, "This feature is not enabled on this server.", p.Detail, tc.path)
	}
	// Password change and signing out other devices need neither.
	require.Equal(t, 204, e.call("POST", prefix+"/password/change", pair.AccessToken,
		map[string]string{"current_password": password, "new_password": password + " 2"}).Code)
	require.Equal(t, 204, e.call("DELETE", prefix+"/sessions", pair.AccessToken, nil).Code)
}

func TestForgotAndResetPassword(t *testing.T) {
	e := newEnvWith(t, envConfig{lifecycle: true})
	u, p1 := e.user(auth.RoleViewer, "")
	p2, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)

	for _, email := range []string{u.Email, strings.ToUpper(u.Email), newEmail(), "not an address", ""} {
		rec := e.call("POST", prefix+"/password/forgot", "", map[string]string{"email": email})
		decodeJSON(t, rec, 202, &map[string]any{})
		require.JSONEq(t, `{"status":"accepted"}`, rec.Body.String(), email)
	}
	require.Len(t, e.outbox.Messages(u.Email), 2, "only the account's owner is sent anything")
	tok := e.lastToken(u.Email, auth.MessageResetPassword)

	// Decoding and mass assignment: refused before the token is looked at.
	for _, tc := range []struct {
		body  any
		code  string
		field string
	}{
		{map[string]any{"token": tok, "password": password + "!", "email": u.Email}, "unknown_field", "email"},
		{map[string]any{"token": tok, "password": password + "!", "user_id": u.ID}, "unknown_field", "user_id"},
		{map[string]any{"token": tok, "Password": password + "!"}, "unknown_field", "Password"},
		{map[string]any{"token": tok}, "missing_field", "password"},
		{map[string]any{"password": password}, "missing_field", "token"},
		{`{"token":"` + tok + `","password":true}`, "invalid_field_type", "password"},
	} {
		p := problem(t, e.call("POST", prefix+"/password/reset", "", tc.body), 400, tc.code)
		require.Equal(t, tc.field, p.Field)
	}
	for _, tc := range []struct {
		body any
		code string
	}{
		{map[string]any{"email": u.Email, "tenant_id": u.TenantID}, "unknown_field"},
		{map[string]any{"Email": u.Email}, "unknown_field"},
		{map[string]any{}, "missing_field"},
	} {
		problem(t, e.call("POST", prefix+"/password/forgot", "", tc.body), 400, tc.code)
	}

	// A refused password leaves the token usable.
	for pw, code := range map[string]string{"short": "password_too_short", "password123": "password_too_common", strings.Repeat("x", 300): "password_too_long"} {
		problem(t, e.call("POST", prefix+"/password/reset", "", map[string]string{"token": tok, "password": pw}), 422, code)
	}
	newPassword := password + " reset"
	rec := e.call("POST", prefix+"/password/reset", "", map[string]string{"token": tok, "password": newPassword})
	require.Equal(t, 204, rec.Code, rec.Body.String())
	require.Empty(t, rec.Body.String())
	requireSecurityHeaders(t, rec)

	for _, p := range []*auth.TokenPair{p1, p2} {
		problem(t, e.call("GET", prefix+"/me", p.AccessToken, nil), 401, "invalid_token")
	}
	problem(t, e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password}), 401, "invalid_credentials")
	require.Equal(t, 200, e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": newPassword}).Code)
	_, ok := e.outbox.Last(u.Email, auth.MessagePasswordChanged)
	require.True(t, ok, "the owner is told")

	for _, bad := range []string{tok, "nope", ""} {
		rec := e.call("POST", prefix+"/password/reset", "", map[string]string{"token": bad, "password": newPassword + "2"})
		problem(t, rec, 422, "invalid_action_token")
		noChallenge(t, rec)
	}

	// An inactive user cannot reset.
	require.Equal(t, 202, e.call("POST", prefix+"/password/forgot", "", map[string]string{"email": u.Email}).Code)
	tok = e.lastToken(u.Email, auth.MessageResetPassword)
	off := false
	_, err = e.a.UpdateUser(context.Background(), u.TenantID, u.ID, auth.UpdateUserRequest{Active: &off})
	require.NoError(t, err)
	problem(t, e.call("POST", prefix+"/password/reset", "", map[string]string{"token": tok, "password": newPassword + "2"}), 403, "user_inactive")
}

func TestForgotPasswordRateLimited(t *testing.T) {
	e := newEnvWith(t, envConfig{lifecycle: true, cfg: auth.Config{Limits: auth.Limits{
		ResetPerIP: auth.Limit{Burst: 3, Period: time.Hour}, ResetPerAccount: auth.Limit{Burst: 1, Period: time.Hour},
		LoginPerIP: auth.Limit{Burst: -1}, LoginPerAccount: auth.Limit{Burst: -1}, RegisterPerIP: auth.Limit{Burst: -1},
		RefreshPerIP: auth.Limit{Burst: -1},
	}}})
	u, _ := e.user(auth.RoleViewer, "")
	forgot := func(email, remote string) *httptest.ResponseRecorder {
		r := req("POST", prefix+"/password/forgot", map[string]string{"email": email})
		r.RemoteAddr = remote
		return e.do(r)
	}
	// Per address: the second request for an address is refused, whether
	// the account exists or not, so a 429 says nothing about it either.
	unknown := newEmail()
	require.Equal(t, 202, forgot(u.Email, "192.0.2.1:1").Code)
	require.Equal(t, 202, forgot(unknown, "192.0.2.2:1").Code)
	known429, unknown429 := forgot(u.Email, "192.0.2.3:1"), forgot(unknown, "192.0.2.4:1")
	problem(t, known429, 429, "rate_limited")
	problem(t, unknown429, 429, "rate_limited")
	require.Equal(t, known429.Body.String(), unknown429.Body.String())
	require.Equal(t, "3600", known429.Header().Get("Retry-After"), "one per hour once the burst is spent")
	require.Equal(t, known429.Header().Get("Retry-After"), unknown429.Header().Get("Retry-After"))

	// Per client: the fourth request from one address, for fresh addresses.
	for range 3 {
		require.Equal(t, 202, forgot(newEmail(), "198.51.100.9:1").Code)
	}
	rec := forgot(newEmail(), "198.51.100.9:1")
	problem(t, rec, 429, "rate_limited")
	secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	require.NoError(t, err)
	require.Greater(t, secs, 0)
	require.Len(t, e.outbox.Messages(u.Email), 1)
}

func TestChangePassword(t *testing.T) {
	e := newEnvWith(t, envConfig{cfg: auth.Config{Limits: auth.Limits{
		LoginPerAccount: auth.Limit{Burst: 3, Period: 15 * time.Minute}, LoginPerIP: auth.Limit{Burst: -1},
		RegisterPerIP: auth.Limit{Burst: -1}, RefreshPerIP: auth.Limit{Burst: -1},
	}}})
	u, p1 := e.user(auth.RoleViewer, "")
	p2, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	change := func(tok string, body any) *httptest.ResponseRecorder {
		return e.call("POST", prefix+"/password/change", tok, body)
	}

	rec := change(p1.AccessToken, map[string]string{"current_password": "wrong password", "new_password": password + " 2"})
	p := problem(t, rec, 403, "invalid_credentials")
	require.Equal(t, "The current password is incorrect.", p.Detail)
	noChallenge(t, rec)
	require.Equal(t, 200, e.call("GET", prefix+"/me", p1.AccessToken, nil).Code, "the access token is still good")

	for _, tc := range []struct {
		body  any
		code  string
		field string
	}{
		{map[string]any{"current_password": password, "new_password": "x", "password": "y"}, "unknown_field", "password"},
		{map[string]any{"current_password": password, "new_password": password + "!", "user_id": u.ID}, "unknown_field", "user_id"},
		{map[string]any{"current_password": password, "New_Password": password + "!"}, "unknown_field", "New_Password"},
		{map[string]any{"current_password": password}, "missing_field", "new_password"},
		{map[string]any{"new_password": password}, "missing_field", "current_password"},
	} {
		p := problem(t, change(p1.AccessToken, tc.body), 400, tc.code)
		require.Equal(t, tc.field, p.Field)
	}
	problem(t, change(p1.AccessToken, map[string]string{"current_password": password, "new_password": "short"}), 422, "password_too_short")
	problem(t, change("", map[string]string{"current_password": password, "new_password": password + "!"}), 401, "unauthenticated")

	newPassword := password + " changed"
	rec = change(p1.AccessToken, map[string]string{"current_password": password, "new_password": newPassword})
	require.Equal(t, 204, rec.Code, rec.Body.String())
	requireSecurityHeaders(t, rec)
	require.Equal(t, 200, e.call("GET", prefix+"/me", p1.AccessToken, nil).Code, "the current session stays")
	problem(t, e.call("GET", prefix+"/me", p2.AccessToken, nil), 401, "invalid_token")
	problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": p2.RefreshToken}), 401, "invalid_token")
	require.Equal(t, 200, e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": newPassword}).Code)

	// Wrong current passwords count against the login lockout.
	for range 3 {
		problem(t, change(p1.AccessToken, map[string]string{"current_password": "wrong password", "new_password": password}), 403, "invalid_credentials")
	}
	rec = change(p1.AccessToken, map[string]string{"current_password": newPassword, "new_password": password})
	problem(t, rec, 429, "rate_limited")
	require.NotEmpty(t, rec.Header().Get("Retry-After"))
}

func TestChangeAndConfirmEmail(t *testing.T) {
	e := newEnvWith(t, envConfig{lifecycle: true})
	u, pair := e.user(auth.RoleViewer, "")
	other, _ := e.user(auth.RoleViewer, "")
	change := func(body any) *httptest.ResponseRecorder {
		return e.call("POST", prefix+"/email/change", pair.AccessToken, body)
	}

	rec := change(map[string]string{"password": "wrong password", "new_email": newEmail()})
	problem(t, rec, 403, "invalid_credentials")
	noChallenge(t, rec)
	problem(t, change(map[string]string{"password": password, "new_email": other.Email}), 409, "email_taken")
	problem(t, change(map[string]string{"password": password, "new_email": "not an address"}), 422, "invalid_email")
	for _, tc := range []struct {
		body  any
		code  string
		field string
	}{
		{map[string]any{"password": password, "new_email": newEmail(), "email": newEmail()}, "unknown_field", "email"},
		{map[string]any{"password": password, "new_email": newEmail(), "verified": true}, "unknown_field", "verified"},
		{`{"password":"x","new_email":"a@example.com","NEW_EMAIL":"b@example.com"}`, "duplicate_field", "NEW_EMAIL"},
		{map[string]any{"password": password}, "missing_field", "new_email"},
	} {
		p := problem(t, change(tc.body), 400, tc.code)
		require.Equal(t, tc.field, p.Field)
	}
	problem(t, e.call("POST", prefix+"/email/change", "", map[string]string{"password": password, "new_email": newEmail()}), 401, "unauthenticated")

	to := newEmail()
	rec = change(map[string]string{"password": password, "new_email": strings.ToUpper(to)})
	decodeJSON(t, rec, 202, &map[string]any{})
	require.JSONEq(t, `{"status":"accepted"}`, rec.Body.String())
	tok := e.lastToken(to, auth.MessageChangeEmail)
	_, ok := e.outbox.Last(u.Email, auth.MessageEmailChangeRequested)
	require.True(t, ok, "the current address is told")
	var me userBody
	decodeJSON(t, e.call("GET", prefix+"/me", pair.AccessToken, nil), 200, &me)
	require.Equal(t, u.Email, me.Email, "nothing changes before the confirmation")

	problem(t, e.call("POST", prefix+"/email/confirm", "", map[string]any{"token": tok, "email": "x@example.com"}), 400, "unknown_field")
	problem(t, e.call("POST", prefix+"/email/confirm", "", map[string]any{}), 400, "missing_field")
	var got userBody
	decodeJSON(t, e.call("POST", prefix+"/email/confirm", "", map[string]string{"token": tok}), 200, &got)
	require.Equal(t, to, got.Email)
	require.True(t, got.Verified)
	rec = e.call("POST", prefix+"/email/confirm", "", map[string]string{"token": tok})
	problem(t, rec, 422, "invalid_action_token")
	noChallenge(t, rec)
	problem(t, e.call("POST", prefix+"/email/confirm", "", map[string]string{"token": "garbage"}), 422, "invalid_action_token")

	// The address is taken between the request and the confirmation.
	to2 := newEmail()
	require.Equal(t, 202, change(map[string]string{"password": password, "new_email": to2}).Code)
	tok2 := e.lastToken(to2, auth.MessageChangeEmail)
	_, err := e.a.CreateUser(context.Background(), auth.CreateUserRequest{Email: to2, Password: password})
	require.NoError(t, err)
	problem(t, e.call("POST", prefix+"/email/confirm", "", map[string]string{"token": tok2}), 409, "email_taken")
}

func TestChangeEmailEnumerationSafe(t *testing.T) {
	e := newEnvWith(t, envConfig{lifecycle: true, cfg: auth.Config{EnumerationSafe: true}})
	u, pair := e.verifiedUser(auth.RoleViewer)
	other, _ := e.verifiedUser(auth.RoleViewer)
	change := func(to string) *httptest.ResponseRecorder {
		return e.call("POST", prefix+"/email/change", pair.AccessToken, map[string]string{"password": password, "new_email": to})
	}
	notices := func() int {
		n := 0
		for _, m := range e.outbox.Messages(u.Email) {
			if m.Kind == auth.MessageEmailChangeRequested {
				n++
			}
		}
		return n
	}
	pendingTo := newEmail()
	require.Equal(t, 202, change(pendingTo).Code)
	pending := e.lastToken(pendingTo, auth.MessageChangeEmail)
	require.Equal(t, 1, notices())

	free := change(newEmail())
	require.Equal(t, 2, notices(), "a free address: the current one gets the notice")
	taken := change(other.Email)
	require.Equal(t, 3, notices(), "a taken address: the current one gets the same notice")
	require.Equal(t, 202, free.Code)
	require.Equal(t, free.Code, taken.Code)
	require.Equal(t, free.Body.String(), taken.Body.String())
	free.Header().Del("Date")
	taken.Header().Del("Date")
	require.Equal(t, free.Header(), taken.Header())
	_, sent := e.outbox.Last(other.Email, auth.MessageChangeEmail)
	require.False(t, sent, "nothing that changes the address is sent to a taken one")

	// A new request cancels the pending change on both paths.
	problem(t, e.call("POST", prefix+"/email/confirm", "", map[string]string{"token": pending}), 422, "invalid_action_token")
	pendingTo = newEmail()
	require.Equal(t, 202, change(pendingTo).Code)
	pending = e.lastToken(pendingTo, auth.MessageChangeEmail)
	require.Equal(t, 202, change(other.Email).Code)
	problem(t, e.call("POST", prefix+"/email/confirm", "", map[string]string{"token": pending}), 422, "invalid_action_token")

	problem(t, e.call("POST", prefix+"/email/change", pair.AccessToken, map[string]string{"password": "wrong password", "new_email": newEmail()}), 403, "invalid_credentials")
}

func TestRevokeOtherSessions(t *testing.T) {
	e := newEnv(t)
	u, p1 := e.user(auth.RoleViewer, "")
	var others []*auth.TokenPair
	for range 2 {
		p, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password})
		require.NoError(t, err)
		others = append(others, p)
	}
	_, stranger := e.user(auth.RoleViewer, "")

	rec := e.call("DELETE", prefix+"/sessions", p1.AccessToken, nil)
	require.Equal(t, 204, rec.Code)
	requireSecurityHeaders(t, rec)
	require.Empty(t, rec.Result().Cookies())
	for _, p := range others {
		problem(t, e.call("GET", prefix+"/me", p.AccessToken, nil), 401, "invalid_token")
		problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": p.RefreshToken}), 401, "invalid_token")
	}
	var list struct{ Sessions []sessionBody }
	decodeJSON(t, e.call("GET", prefix+"/sessions", p1.AccessToken, nil), 200, &list)
	require.Len(t, list.Sessions, 1)
	require.True(t, list.Sessions[0].Current)
	require.Equal(t, 200, e.call("GET", prefix+"/me", stranger.AccessToken, nil).Code, "other users are untouched")
	problem(t, e.call("DELETE", prefix+"/sessions", "", nil), 401, "unauthenticated")
}

func TestUnlockUser(t *testing.T) {
	e := newEnvWith(t, envConfig{cfg: auth.Config{
		Roles: []auth.Role{"viewer", "editor", "admin", "owner"},
		Limits: auth.Limits{
			LoginPerAccount: auth.Limit{Burst: 2, Period: time.Hour}, LoginPerIP: auth.Limit{Burst: -1},
			RegisterPerIP: auth.Limit{Burst: -1}, RefreshPerIP: auth.Limit{Burst: -1},
		},
	}})
	tb := e.tenant()
	victim, _ := e.user("viewer", "")
	_, ap := e.user("admin", "")
	_, vp := e.user("viewer", "")
	owner, _ := e.user("owner", "")
	foreign, _ := e.user("viewer", tb)

	login := func(email, pw string) *httptest.ResponseRecorder {
		return e.call("POST", prefix+"/login", "", map[string]string{"email": email, "password": pw})
	}
	for range 2 {
		problem(t, login(victim.Email, "wrong password"), 401, "invalid_credentials")
	}
	problem(t, login(victim.Email, password), 429, "rate_limited")

	problem(t, e.call("POST", prefix+"/users/"+victim.ID+"/unlock", vp.AccessToken, nil), 403, "insufficient_role")
	problem(t, e.call("POST", prefix+"/users/"+victim.ID+"/unlock", "", nil), 401, "unauthenticated")
	rec := e.call("POST", prefix+"/users/"+victim.ID+"/unlock", ap.AccessToken, nil)
	require.Equal(t, 204, rec.Code, rec.Body.String())
	requireSecurityHeaders(t, rec)
	require.Equal(t, 200, login(victim.Email, password).Code)

	// Another tenant's user is not found, exactly like a missing one.
	missing := e.call("POST", prefix+"/users/00000000-0000-7000-8000-000000000000/unlock", ap.AccessToken, nil)
	problem(t, missing, 404, "user_not_found")
	cross := e.call("POST", prefix+"/users/"+foreign.ID+"/unlock", ap.AccessToken, nil)
	problem(t, cross, 404, "user_not_found")
	require.Equal(t, missing.Body.String(), cross.Body.String())
	problem(t, e.call("POST", prefix+"/users/not-an-id/unlock", ap.AccessToken, nil), 404, "user_not_found")
	problem(t, e.call("POST", prefix+"/users/"+owner.ID+"/unlock", ap.AccessToken, nil), 403, "role_above_caller")
}

func TestEndpointsAloneLifecycle(t *testing.T) {
	e := newEnvWith(t, envConfig{lifecycle: true, audit: true})
	a := e.a
	mux := http.NewServeMux()
	for _, pattern := range []string{
		"POST /verify-email", "POST /verify-email/resend", "POST /password/forgot", "POST /password/reset",
		"POST /password/change", "POST /email/change", "POST /email/confirm", "DELETE /sessions",
		"POST /users/{id}/unlock", "GET /audit-events",
	} {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" "+prefix+path, e.h)
	}
	do := func(method, path, token string, body any) *httptest.ResponseRecorder {
		return serve(mux, method, path, token, body)
	}
	u, pair := e.user(auth.RoleViewer, "")
	admin, ap := e.user(auth.RoleAdmin, "")
	require.Equal(t, 202, do("POST", prefix+"/verify-email/resend", pair.AccessToken, nil).Code)
	require.Equal(t, 200, do("POST", prefix+"/verify-email", "", map[string]string{"token": e.lastToken(u.Email, auth.MessageVerifyEmail)}).Code)
	require.Equal(t, 202, do("POST", prefix+"/password/forgot", "", map[string]string{"email": u.Email}).Code)
	require.Equal(t, 204, do("POST", prefix+"/password/reset", "", map[string]string{"token": e.lastToken(u.Email, auth.MessageResetPassword), "password": password + " 1"}).Code)
	e.clock.Advance(time.Second) // past the reset's revocation cutoff
	pair, _, err := a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password + " 1"})
	require.NoError(t, err)
	require.Equal(t, 204, do("POST", prefix+"/password/change", pair.AccessToken, map[string]string{"current_password": password + " 1", "new_password": password}).Code)
	to := newEmail()
	require.Equal(t, 202, do("POST", prefix+"/email/change", pair.AccessToken, map[string]string{"password": password, "new_email": to}).Code)
	require.Equal(t, 200, do("POST", prefix+"/email/confirm", "", map[string]string{"token": e.lastToken(to, auth.MessageChangeEmail)}).Code)
	require.Equal(t, 204, do("DELETE", prefix+"/sessions", pair.AccessToken, nil).Code)
	require.Equal(t, 204, do("POST", prefix+"/users/"+u.ID+"/unlock", ap.AccessToken, nil).Code)
	require.Equal(t, 200, do("GET", prefix+"/audit-events", ap.AccessToken, nil).Code)
	for _, path := range []string{prefix + "/verify-email/resend", prefix + "/password/change", prefix + "/email/change", prefix + "/users/" + u.ID + "/unlock"} {
		problem(t, do("POST", path, "", nil), 401, "unauthenticated")
	}
	problem(t, do("GET", prefix+"/audit-events", pair.AccessToken, nil), 403, "insufficient_role")
	problem(t, do("POST", prefix+"/users/"+admin.ID+"/unlock", pair.AccessToken, nil), 403, "insufficient_role")
}
