package console_test

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	otptotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/console"
	"github.com/maestro-ml/auth/middleware"
	"github.com/maestro-ml/auth/store/memstore"
)

var (
	secretShown = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	codeShown   = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)
)

// code is what an authenticator app shows for secret now.
func (e *env) code(secret string) string {
	e.t.Helper()
	c, err := otptotp.GenerateCode(secret, e.clock.Now())
	require.NoError(e.t, err)
	return c
}

// TestTOTPPages: a signed-in user sets up an app from the account page
// (QR code and key), a wrong first code is refused, the right one turns
// the factor on, replaces the session with a multi-factor one and shows
// ten recovery codes once; the next sign-in asks for a code.
func TestTOTPPages(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	require.Contains(t, b.body, `href="/account/totp"`, "the account page links to the factor's page")
	b.get("/account/totp")
	require.Contains(t, b.body, `id="totp-setup"`)

	b.post("/account/totp/enroll", nil)
	require.Contains(t, b.body, `src="data:image/png;base64,`, "the QR code is inline")
	m := secretShown.FindStringSubmatch(b.body)
	require.NotNil(t, m, "the key is shown for typing")
	secret := m[1]

	res := b.post("/account/totp/confirm", url.Values{"code": {"000000"}})
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Contains(t, b.body, "That code is not right.")

	b.post("/account/totp/confirm", url.Values{"code": {e.code(secret)}})
	codes := codeShown.FindAllStringSubmatch(b.body, -1)
	require.Len(t, codes, 10, "ten recovery codes, shown once")
	b.get("/account")
	require.Contains(t, b.body, "with a second factor", "the session was replaced by a multi-factor one")
	b.get("/account/totp")
	require.Contains(t, b.body, `id="totp-on"`)
	require.Contains(t, b.body, `<strong id="recovery-left">10</strong>`)

	b.post("/sign-out", nil)
	e.clock.Advance(30 * time.Second)
	b.signIn(u.Email)
	require.Contains(t, b.body, `autocomplete="one-time-code"`)
	b.post("/sign-in/code", url.Values{"code": {codes[0][1]}})
	require.Equal(t, "/account", b.url, "a recovery code signs in")
}

// TestConfirmBeforeChanges: past the recent-sign-in window, changing the
// factor first asks for a code; the confirmation returns to the factor's
// page, never to an address the form names elsewhere.
func TestConfirmBeforeChanges(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	b.post("/account/totp/enroll", nil)
	secret := secretShown.FindStringSubmatch(b.body)[1]
	b.post("/account/totp/confirm", url.Values{"code": {e.code(secret)}})

	e.clock.Advance(11 * time.Minute)
	b.get("/account/totp")
	res := b.post("/account/totp/recovery", nil)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Contains(t, b.body, "Confirm it is you")
	require.Contains(t, b.body, `name="return" value="/account/totp"`)
	require.Contains(t, b.body, `autocomplete="one-time-code"`, "an enrolled user confirms with a code")

	e.clock.Advance(30 * time.Second)
	res = b.post("/account/confirm", url.Values{"code": {e.code(secret)}, "return": {"https://evil.example/"}})
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "/account", b.url, "a foreign return address is ignored")
	b.post("/account/totp/recovery", nil)
	require.Len(t, codeShown.FindAllStringSubmatch(b.body, -1), 10, "new codes after the confirmation")

	e.clock.Advance(11 * time.Minute)
	b.get("/account/totp")
	b.post("/account/totp/disable", nil)
	require.Contains(t, b.body, "Confirm it is you")
	e.clock.Advance(30 * time.Second)
	b.post("/account/confirm", url.Values{"code": {e.code(secret)}, "return": {"/account/totp"}})
	require.Equal(t, "/account/totp", b.url)
	b.post("/account/totp/disable", nil)
	require.Contains(t, b.body, "The authenticator app was removed")
	require.Contains(t, b.body, `id="totp-setup"`)
}

// TestEnrolAtSignIn: under a policy that requires a second factor, a user
// without one sets up an app during the sign-in and finishes it with the
// app's first code.
func TestEnrolAtSignIn(t *testing.T) {
	e := newEnvWith(t, auth.MFAPolicy{All: true})
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	require.Contains(t, b.body, "Your account needs a second factor")
	require.Contains(t, b.body, `href="/sign-in/totp"`)
	b.get("/sign-in/totp")
	b.post("/sign-in/totp/enroll", nil)
	secret := secretShown.FindStringSubmatch(b.body)[1]
	b.post("/sign-in/totp/confirm", url.Values{"code": {e.code(secret)}})
	require.Len(t, codeShown.FindAllStringSubmatch(b.body, -1), 10)
	b.get("/account")
	require.Equal(t, "/account", b.url)
	require.Contains(t, b.body, "with a second factor")

	// The ticket was used: the set-up cannot be run again with it.
	other := e.browser()
	other.get("/sign-in/totp")
	res := other.post("/sign-in/totp/enroll", nil)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Contains(t, other.body, "Sign in again")
}

type pagesFunc func(c *console.Console) ([]console.Page, error)

func (f pagesFunc) ConsolePages(c *console.Console) ([]console.Page, error) { return f(c) }

// TestExtensionPagesAreChecked: New refuses pages that would shadow the
// console's, leave its two areas, or come twice.
func TestExtensionPagesAreChecked(t *testing.T) {
	st := memstore.New(memstore.WithSweepInterval(0))
	defer st.Close()
	k, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	keys, err := auth.NewKeySet(k)
	require.NoError(t, err)
	a, err := auth.New(auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st})
	require.NoError(t, err)
	h, err := middleware.New(a)
	require.NoError(t, err)
	serve := func(http.ResponseWriter, *http.Request, *auth.Claims) error { return nil }
	for name, pages := range map[string][]console.Page{
		"shadows a page":   {{Method: "POST", Path: "/account/password", Serve: serve}},
		"outside":          {{Method: "GET", Path: "/admin/mine", Serve: serve}},
		"a pattern":        {{Method: "GET", Path: "/account/{id}", Serve: serve}},
		"twice":            {{Method: "GET", Path: "/account/x", Serve: serve}, {Method: "GET", Path: "/account/x", Serve: serve}},
		"another method":   {{Method: "DELETE", Path: "/account/x", Serve: serve}},
		"no handler":       {{Method: "GET", Path: "/account/x"}},
		"a notice clashes": {{Method: "GET", Path: "/account/x", Serve: serve, Notices: map[string]string{"revoked": "x"}}},
	} {
		_, err := console.New(a, h, console.WithExtensions(pagesFunc(func(*console.Console) ([]console.Page, error) { return pages, nil })))
		require.Error(t, err, name)
	}
	boom := errors.New("boom")
	_, err = console.New(a, h, console.WithExtensions(pagesFunc(func(*console.Console) ([]console.Page, error) { return nil, boom })))
	require.ErrorIs(t, err, boom)
	_, err = console.New(a, h, console.WithPrefix("/console/"))
	require.Error(t, err)
}
