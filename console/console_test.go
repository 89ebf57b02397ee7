package console_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	otptotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/console"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/factor/totp/totpconsole"
	"github.com/maestro-ml/auth/middleware"
	"github.com/maestro-ml/auth/store/memstore"
)

const password = "correct horse battery staple"

var noLimits = auth.Limits{
	LoginPerIP: auth.Limit{Burst: -1}, LoginPerAccount: auth.Limit{Burst: -1}, RegisterPerIP: auth.Limit{Burst: -1},
	RefreshPerIP: auth.Limit{Burst: -1}, ResetPerIP: auth.Limit{Burst: -1}, ResetPerAccount: auth.Limit{Burst: -1},
}

type env struct {
	t      *testing.T
	a      *auth.Authenticator
	f      *totp.TOTP
	st     *memstore.Store
	clock  *authtest.Clock
	srv    *httptest.Server
	outbox *authtest.Outbox
}

func newEnv(t *testing.T, opts ...console.Option) *env {
	t.Helper()
	return newEnvWith(t, auth.MFAPolicy{}, opts...)
}

// newEnvWith is newEnv with an MFA policy.
func newEnvWith(t *testing.T, policy auth.MFAPolicy, opts ...console.Option) *env {
	t.Helper()
	return newEnvSetup(t, envSetup{policy: policy}, opts...)
}

// envSetup varies the environment: an MFA policy, a revocation store
// wrapped around the memstore.
type envSetup struct {
	policy      auth.MFAPolicy
	revocations func(auth.RevocationStore) auth.RevocationStore
}

func newEnvSetup(t *testing.T, setup envSetup, opts ...console.Option) *env {
	t.Helper()
	policy := setup.policy
	st := memstore.New(memstore.WithSweepInterval(0))
	t.Cleanup(func() { _ = st.Close() })
	clock := authtest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	key := totp.Key{ID: "k1", Secret: make([]byte, 32)}
	_, _ = rand.Read(key.Secret)
	f, err := totp.New(totp.Config{Store: st, Keys: []totp.Key{key}, Issuer: "Test", Now: clock.Now})
	require.NoError(t, err)
	outbox := &authtest.Outbox{}
	var revocations auth.RevocationStore = st
	if setup.revocations != nil {
		revocations = setup.revocations(st)
	}
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: revocations}, clock,
		auth.Config{Limits: noLimits, Events: st, AuditLog: st, ActionTokens: st, Notifier: outbox,
			SecondFactors: []auth.SecondFactor{f}, MFA: policy})
	h, err := middleware.New(a)
	require.NoError(t, err)
	c, err := console.New(a, h, append([]console.Option{console.WithExtensions(totpconsole.New(f))}, opts...)...)
	require.NoError(t, err)
	mux := http.NewServeMux()
	h.Mount(mux)
	c.Mount(mux)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, a: a, f: f, st: st, clock: clock, srv: srv, outbox: outbox}
}

// browser is one browser: its own cookies, and the form token of the last
// page it loaded, read from the page as a browser's form would send it.
type browser struct {
	e    *env
	c    *http.Client
	csrf string
	body string
	url  string
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	c := e.srv.Client()
	cc := *c
	cc.Jar = jar
	return &browser{e: e, c: &cc}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) keep(res *http.Response) *http.Response {
	body, err := io.ReadAll(res.Body)
	require.NoError(b.e.t, err)
	_ = res.Body.Close()
	b.body, b.url = string(body), res.Request.URL.Path
	if m := csrfField.FindStringSubmatch(b.body); m != nil {
		b.csrf = m[1]
	}
	return res
}

func (b *browser) get(path string) *http.Response {
	b.e.t.Helper()
	res, err := b.c.Get(b.e.srv.URL + path)
	require.NoError(b.e.t, err)
	return b.keep(res)
}

// post sends a form as the page's own form would: same origin, with the
// page's form token.
func (b *browser) post(path string, form url.Values) *http.Response {
	b.e.t.Helper()
	return b.postWith(path, form, b.csrf, "same-origin")
}

func (b *browser) postWith(path string, form url.Values, csrf, site string) *http.Response {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if csrf != "" {
		form.Set("csrf", csrf)
	}
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	require.NoError(b.e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", site)
	res, err := b.c.Do(req)
	require.NoError(b.e.t, err)
	return b.keep(res)
}

func (b *browser) signIn(email string) *http.Response {
	b.e.t.Helper()
	b.get("/sign-in")
	return b.post("/sign-in", url.Values{"email": {email}, "password": {password}})
}

func (e *env) user(role auth.Role) *auth.User {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.a.CreateUser(ctx, auth.CreateUserRequest{Email: rand.Text()[:10] + "@example.com", Password: password,
		Role: role, Verified: true})
	require.NoError(e.t, err)
	return u
}

// TestEveryPageIsLockedDown: each page and the stylesheet carry the
// strict policy, and no page has a script or an inline style.
func TestEveryPageIsLockedDown(t *testing.T) {
	e := newEnv(t)
	admin := e.user(auth.RoleAdmin)
	b := e.browser()
	b.signIn(admin.Email)
	require.Equal(t, "/account", b.url)
	const policy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	for _, p := range []string{"/sign-in", "/register", "/forgot-password", "/account", "/account/totp", "/admin/", "/admin/users",
		"/admin/users/" + admin.ID, "/admin/audit", "/assets/console.css", "/admin/users/not-an-id"} {
		res := b.get(p)
		h := res.Header
		require.Equal(t, policy, h.Get("Content-Security-Policy"), p)
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), p)
		require.Equal(t, "DENY", h.Get("X-Frame-Options"), p)
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			require.NotContains(t, b.body, "<script", p)
			require.NotContains(t, b.body, " style=", p)
			require.NotRegexp(t, `\son[a-z]+\s*=`, b.body, p+": no inline event handlers")
			require.Equal(t, "no-store", h.Get("Cache-Control"), p)
		}
	}
}

// TestLinkPagesRunOneScript: the pages that e-mailed links open load the
// console's one script file, which their policy alone allows, and send no
// Referer.
func TestLinkPagesRunOneScript(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, p := range []string{console.VerifyEmailPath, console.ResetPasswordPath, console.ConfirmEmailPath} {
		res := b.get(p)
		require.Equal(t, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
			res.Header.Get("Content-Security-Policy"), p)
		require.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"), p)
		require.Equal(t, 1, strings.Count(b.body, "<script"), p)
		require.Contains(t, b.body, `<script src="/assets/console.js"></script>`, p)
		require.NotRegexp(t, `\son[a-z]+\s*=`, b.body, p)
	}
	res := b.get("/assets/console.js")
	require.Equal(t, "text/javascript; charset=utf-8", res.Header.Get("Content-Type"))
	require.Contains(t, b.body, "history.replaceState")
}

// TestSignInAndOut: a password sign-in shows the account; signing out ends
// the session on the server, not only in the browser.
func TestSignInAndOut(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.get("/")
	require.Equal(t, "/sign-in", b.url)

	res := b.post("/sign-in", url.Values{"email": {u.Email}, "password": {"wrong password here"}})
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Contains(t, b.body, "The email address or password is not right.")
	require.Contains(t, b.body, `value="`+u.Email+`"`, "the address is kept")

	res = b.signIn(u.Email)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "/account", b.url)
	require.Contains(t, b.body, u.Email)
	require.Contains(t, b.body, "This browser")
	sessions, err := e.a.Sessions(context.Background(), u.ID)
	require.NoError(t, err)
	require.Len(t, sessions, 1)

	b.post("/sign-out", nil)
	require.Equal(t, "/sign-in", b.url)
	require.Contains(t, b.body, "You are signed out.")
	sessions, err = e.a.Sessions(context.Background(), u.ID)
	require.NoError(t, err)
	require.Empty(t, sessions, "the session ended on the server")
	b.get("/account")
	require.Equal(t, "/sign-in", b.url)
}

// TestExpiredAccessTokenIsRefreshed: past the access token's lifetime the
// refresh cookie signs the browser in again, rotating the refresh token.
func TestExpiredAccessTokenIsRefreshed(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	e.clock.Advance(time.Hour)
	b.get("/account")
	require.Equal(t, "/account", b.url)
	require.Contains(t, b.body, u.Email)
	sessions, err := e.a.Sessions(context.Background(), u.ID)
	require.NoError(t, err)
	require.Len(t, sessions, 1)
	require.False(t, sessions[0].RotatedAt.IsZero(), "the refresh token rotated")
}

// TestCrossSiteFormsAreRefused: a post from another site, one without the
// form token, and one with another browser's token change nothing.
func TestCrossSiteFormsAreRefused(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	b.get("/account")
	other := e.browser()
	other.get("/sign-in")

	for name, res := range map[string]func() *http.Response{
		"cross-site": func() *http.Response { return b.postWith("/account/sessions/revoke-all", nil, b.csrf, "cross-site") },
		"no token":   func() *http.Response { return b.postWith("/account/sessions/revoke-all", nil, "", "same-origin") },
		"another's token": func() *http.Response {
			return b.postWith("/account/sessions/revoke-all", nil, other.csrf, "same-origin")
		},
		"sign-in, no token": func() *http.Response {
			return other.postWith("/sign-in", url.Values{"email": {u.Email}, "password": {password}}, "", "same-origin")
		},
	} {
		r := res()
		require.Equal(t, http.StatusForbidden, r.StatusCode, name)
	}
	sessions, err := e.a.Sessions(context.Background(), u.ID)
	require.NoError(t, err)
	require.Len(t, sessions, 1, "nothing was signed out, and no one signed in")
}

// TestSignInWithSecondFactor: with TOTP enrolled, the password leads to
// the code form; a wrong code keeps the form, the right one signs in with
// mfa in the session.
func TestSignInWithSecondFactor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.user(auth.RoleViewer)
	en, err := e.f.Enroll(ctx, u)
	require.NoError(t, err)
	code, err := otptotp.GenerateCode(en.Secret, e.clock.Now())
	require.NoError(t, err)
	_, err = e.f.Confirm(ctx, u, code)
	require.NoError(t, err)
	e.clock.Advance(30 * time.Second)

	b := e.browser()
	res := b.signIn(u.Email)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, b.body, `autocomplete="one-time-code"`)
	require.NotContains(t, b.body, "ticket", "the ticket stays in its cookie")

	res = b.post("/sign-in/code", url.Values{"code": {"000000"}})
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Contains(t, b.body, "That code is not right.")

	code, err = otptotp.GenerateCode(en.Secret, e.clock.Now())
	require.NoError(t, err)
	b.post("/sign-in/code", url.Values{"code": {code}})
	require.Equal(t, "/account", b.url)
	require.Contains(t, b.body, "with a second factor")
	sessions, err := e.a.Sessions(ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, sessions, 1)
	require.Contains(t, sessions[0].AMR, auth.Method("mfa"))
}

// TestRevokeAnotherSession: one browser signs the other out; the other's
// next page is the sign-in page.
func TestRevokeAnotherSession(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	phone, laptop := e.browser(), e.browser()
	phone.signIn(u.Email)
	laptop.signIn(u.Email)
	sessions, err := e.a.Sessions(context.Background(), u.ID)
	require.NoError(t, err)
	require.Len(t, sessions, 2)

	laptop.get("/account")
	m := regexp.MustCompile(`/account/sessions/([0-9a-f-]{36})/revoke`).FindAllStringSubmatch(laptop.body, -1)
	require.Len(t, m, 2)
	other := m[1][1] // the current session is listed first
	laptop.post("/account/sessions/"+other+"/revoke", nil)
	require.Equal(t, "/account", laptop.url)
	require.Contains(t, laptop.body, "The session was signed out.")

	phone.get("/account")
	require.Equal(t, "/sign-in", phone.url, "the revoked browser is signed out at once")
	laptop.get("/account")
	require.Equal(t, "/account", laptop.url)
}

// TestAdminDeactivates: an administrator deactivates a user from the
// dashboard; the user's open page stops working, the audit log names the
// administrator, and both exports carry the event.
func TestAdminDeactivates(t *testing.T) {
	e := newEnv(t)
	admin, u := e.user(auth.RoleAdmin), e.user(auth.RoleViewer)
	ab, ub := e.browser(), e.browser()
	ab.signIn(admin.Email)
	ub.signIn(u.Email)

	ab.get("/admin/users?role=viewer&active=yes")
	require.Contains(t, ab.body, u.Email)
	require.NotContains(t, ab.body, admin.Email, "the role filter applies")
	ab.get("/admin/users/" + u.ID)
	require.Contains(t, ab.body, `id="deactivate"`)
	ab.post("/admin/users/"+u.ID, url.Values{"action": {"deactivate"}})
	require.Equal(t, "/admin/users/"+u.ID, ab.url)
	require.Contains(t, ab.body, "The user was deactivated")
	require.Contains(t, ab.body, "deactivated, verified")

	ub.get("/account")
	require.Equal(t, "/sign-in", ub.url, "the deactivated user's page stops working")

	ab.get("/admin/audit?user=" + u.ID)
	require.Contains(t, ab.body, string(auth.EventActivationChanged))
	require.Contains(t, ab.body, admin.ID, "the actor is named")

	res := ab.get("/admin/audit/export?format=jsonl&user=" + u.ID)
	require.Equal(t, "application/jsonl; charset=utf-8", res.Header.Get("Content-Type"))
	require.Contains(t, res.Header.Get("Content-Disposition"), `attachment; filename="audit-`)
	var found bool
	for line := range strings.Lines(ab.body) {
		var ev struct {
			Type    string `json:"type"`
			ActorID string `json:"actor_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &ev), "each line is one JSON object")
		found = found || (ev.Type == string(auth.EventActivationChanged) && ev.ActorID == admin.ID)
	}
	require.True(t, found, "the export has the deactivation by the administrator")
	res = ab.get("/admin/audit/export?format=csv&user=" + u.ID)
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	require.True(t, strings.HasPrefix(ab.body, "id,time,type,user_id,actor_id,session_id,ip,user_agent,reason\n"))
	require.Contains(t, ab.body, string(auth.EventActivationChanged))
}

// TestAdminPagesAreForAdmins: a viewer gets 403 on every admin page and
// cannot act; an admin cannot deactivate themselves or act on a user
// of another tenant.
func TestAdminPagesAreForAdmins(t *testing.T) {
	e := newEnv(t)
	admin, viewer := e.user(auth.RoleAdmin), e.user(auth.RoleViewer)
	vb := e.browser()
	vb.signIn(viewer.Email)
	for _, p := range []string{"/admin/users", "/admin/users/" + admin.ID, "/admin/audit", "/admin/audit/export?format=csv"} {
		require.Equal(t, http.StatusForbidden, vb.get(p).StatusCode, p)
		require.Contains(t, vb.body, "This page is for administrators.")
	}
	vb.get("/account")
	require.Equal(t, http.StatusForbidden, vb.post("/admin/users/"+admin.ID, url.Values{"action": {"deactivate"}}).StatusCode)

	ab := e.browser()
	ab.signIn(admin.Email)
	ab.get("/admin/users/" + admin.ID)
	require.NotContains(t, ab.body, `id="deactivate"`, "no self-deactivation offered")
	require.Equal(t, http.StatusForbidden, ab.post("/admin/users/"+admin.ID, url.Values{"action": {"deactivate"}}).StatusCode)

	ctx := context.Background()
	other, err := e.a.CreateTenant(ctx, "Other", "other")
	require.NoError(t, err)
	stranger, err := e.a.CreateUser(ctx, auth.CreateUserRequest{TenantID: other.ID, Email: "stranger@example.com", Password: password})
	require.NoError(t, err)
	ab.get("/account")
	require.Equal(t, http.StatusNotFound, ab.get("/admin/users/"+stranger.ID).StatusCode)
	ab.get("/account")
	require.Equal(t, http.StatusNotFound, ab.post("/admin/users/"+stranger.ID, url.Values{"action": {"deactivate"}}).StatusCode)
	got, err := e.a.User(ctx, other.ID, stranger.ID)
	require.NoError(t, err)
	require.True(t, got.Active)
}

// TestRegister: the form creates an account; a mismatch or a weak
// password is explained, and nothing internal shows.
func TestRegister(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get("/register")
	res := b.post("/register", url.Values{"email": {"new@example.com"}, "password": {password}, "confirm": {"other"}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, b.body, "The passwords do not match.")
	res = b.post("/register", url.Values{"email": {"new@example.com"}, "password": {"password"}, "confirm": {"password"}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, b.body, "That password is too common.")
	b.post("/register", url.Values{"email": {"new@example.com"}, "password": {password}, "confirm": {password}, "name": {"<b>Ada</b>"}})
	require.Equal(t, "/sign-in", b.url)
	require.Contains(t, b.body, "Your account was created.")
	b.post("/sign-in", url.Values{"email": {"new@example.com"}, "password": {password}})
	require.Equal(t, "/account", b.url)
	require.Contains(t, b.body, "&lt;b&gt;Ada&lt;/b&gt;", "names are escaped")

	e2 := newEnv(t, console.WithoutRegistration())
	require.Equal(t, http.StatusNotFound, e2.browser().get("/register").StatusCode)
}

// TestOverview: the administrators' overview counts the last day's
// sign-ins and failures, and draws them as SVG bars, one per kind for the
// current hour.
func TestOverview(t *testing.T) {
	e := newEnv(t)
	admin, u := e.user(auth.RoleAdmin), e.user(auth.RoleViewer)
	b := e.browser()
	for range 3 {
		b.signIn(u.Email)
		b.post("/sign-out", nil)
	}
	for range 2 {
		b.post("/sign-in", url.Values{"email": {u.Email}, "password": {"wrong password here"}})
	}
	b.signIn(admin.Email)
	require.Contains(t, b.body, `href="/admin/"`)
	b.get("/admin/")
	require.Contains(t, b.body, `<dd id="stat-signins">4</dd>`, "three of the user's, one of the admin's")
	require.Contains(t, b.body, `<dd id="stat-failures">2</dd>`)
	require.Contains(t, b.body, `<dd id="stat-lockouts">0</dd>`)
	require.Equal(t, 1, strings.Count(b.body, `<rect class="ok"`))
	require.Equal(t, 1, strings.Count(b.body, `<rect class="fail"`))
	require.Contains(t, b.body, ": 4 sign-ins</title>")
	require.Regexp(t, `<rect class="ok" x="\d+" y="10" width="12" height="160">`, b.body, "the busiest bar is full height")

	vb := e.browser()
	vb.signIn(u.Email)
	require.Equal(t, http.StatusForbidden, vb.get("/admin/").StatusCode)
}

// TestUserSearch: the administrators' list finds users by part of the
// address or name, and filters by the verified flag; a malformed search
// is a clear error.
func TestUserSearch(t *testing.T) {
	e := newEnv(t)
	admin, u := e.user(auth.RoleAdmin), e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(admin.Email)
	b.get("/admin/users?q=" + url.QueryEscape(strings.ToUpper(u.Email[:6])))
	require.Contains(t, b.body, u.Email)
	require.NotContains(t, b.body, admin.Email)
	require.Contains(t, b.body, `value="`+strings.ToUpper(u.Email[:6])+`"`, "the search stays in its box")
	b.get("/admin/users?verified=no")
	require.Contains(t, b.body, "No users match.", "both are verified")
	res := b.get("/admin/users?q=" + url.QueryEscape("a\x00b"))
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
}

// TestCSVExportDefusesFormulas: a cell a spreadsheet would run as a
// formula (here a user agent, which any client chooses) is exported with
// a leading apostrophe.
func TestCSVExportDefusesFormulas(t *testing.T) {
	e := newEnv(t)
	admin, u := e.user(auth.RoleAdmin), e.user(auth.RoleViewer)
	_, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password,
		Client: auth.ClientInfo{IP: "192.0.2.1", UserAgent: `=HYPERLINK("http://evil.example")`}})
	require.NoError(t, err)
	b := e.browser()
	b.signIn(admin.Email)
	b.get("/admin/audit/export?format=csv&user=" + u.ID)
	require.Contains(t, b.body, `"'=HYPERLINK(""http://evil.example"")"`)
	require.NotContains(t, b.body, `,"=HYPERLINK`)
}
