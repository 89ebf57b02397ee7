package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/console"
	"github.com/maestro-ml/auth/middleware"
)

// flakyRevocations fails the next Revoked call when armed: a Redis blip.
type flakyRevocations struct {
	auth.RevocationStore
	failNext atomic.Bool
}

func (f *flakyRevocations) Revoked(ctx context.Context, q auth.RevocationQuery) (auth.RevocationStatus, error) {
	if f.failNext.CompareAndSwap(true, false) {
		return auth.RevocationStatus{}, fmt.Errorf("redis: i/o timeout: %w", auth.ErrUnavailable)
	}
	return f.RevocationStore.Revoked(ctx, q)
}

// TestRefreshSurvivesAnOutage: when the check of a just-refreshed token
// fails (the store is briefly unavailable), the rotated refresh token
// still reaches the browser, so its next request is not taken for a
// stolen token's reuse.
func TestRefreshSurvivesAnOutage(t *testing.T) {
	flaky := &flakyRevocations{}
	e := newEnvSetup(t, envSetup{revocations: func(st auth.RevocationStore) auth.RevocationStore {
		flaky.RevocationStore = st
		return flaky
	}})
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	e.clock.Advance(20 * time.Minute) // the access token expired
	flaky.failNext.Store(true)        // the check of the refreshed token fails
	res := b.get("/account")
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.NotContains(t, b.body, "redis", "no internal text on the page")

	e.clock.Advance(11 * time.Second) // past the refresh grace
	b.get("/account")
	require.Equal(t, "/account", b.url, "still signed in")
	reused, _, err := e.a.AuditEvents(context.Background(), auth.EventQuery{TenantID: u.TenantID, UserID: u.ID, Type: auth.EventRefreshReused})
	require.NoError(t, err)
	require.Empty(t, reused, "no reuse was detected")
}

// TestConcurrentRefreshes: several pages loaded at once with one expired
// access cookie all succeed (the core's refresh grace), ending nothing.
func TestConcurrentRefreshes(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	e.clock.Advance(20 * time.Minute)
	srvURL, err := url.Parse(e.srv.URL)
	require.NoError(t, err)
	cookies := b.c.Jar.Cookies(srvURL)
	var wg sync.WaitGroup
	paths := make([]string, 8)
	for i := range paths {
		wg.Go(func() {
			jar, err := cookiejar.New(nil)
			if err != nil {
				return
			}
			jar.SetCookies(srvURL, cookies)
			cl := *e.srv.Client()
			cl.Jar = jar
			if res, err := cl.Get(e.srv.URL + "/account"); err == nil {
				paths[i] = res.Request.URL.Path
				_ = res.Body.Close()
			}
		})
	}
	wg.Wait()
	for i, p := range paths {
		require.Equal(t, "/account", p, "request %d", i)
	}
	sessions, err := e.a.Sessions(context.Background(), u.ID)
	require.NoError(t, err)
	require.Len(t, sessions, 1)
}

// link returns the query of the first link on the page whose href
// matches pattern (one group: the href), as a browser would follow it.
func link(t *testing.T, body, pattern string) url.Values {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(body)
	require.NotNil(t, m, pattern)
	u, err := url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	return u.Query()
}

// TestLinksKeepTheirFilters: the next-page and export links carry the
// cursor and the filters (an export link that lost its user filter would
// export the whole tenant's log).
func TestLinksKeepTheirFilters(t *testing.T) {
	e := newEnv(t)
	admin := e.user(auth.RoleAdmin)
	var u *auth.User
	for range 55 {
		u = e.user(auth.RoleViewer)
	}
	b := e.browser()
	b.signIn(admin.Email)
	b.get("/admin/users?role=viewer&active=yes&verified=yes&q=example")
	next := link(t, b.body, `href="(/admin/users\?[^"]*)">Next page`)
	require.NotEmpty(t, next.Get("after"))
	require.Equal(t, "viewer", next.Get("role"))
	require.Equal(t, "yes", next.Get("active"))
	require.Equal(t, "yes", next.Get("verified"))
	require.Equal(t, "example", next.Get("q"))

	b.get("/admin/audit?user=" + u.ID + "&type=user.created")
	for _, format := range []string{"csv", "jsonl"} {
		q := link(t, b.body, `href="(/admin/audit/export\?format=`+format+`[^"]*)"`)
		require.Equal(t, u.ID, q.Get("user"), format)
		require.Equal(t, "user.created", q.Get("type"), format)
	}
}

// TestSignInRenewsTheFormToken: a sign-in finished by an extension's page
// (set-up at sign-in) renews the form token, as the password sign-in does.
func TestSignInRenewsTheFormToken(t *testing.T) {
	e := newEnvWith(t, auth.MFAPolicy{All: true})
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	b.get("/sign-in/totp")
	before := b.csrf
	b.post("/sign-in/totp/enroll", nil)
	secret := secretShown.FindStringSubmatch(b.body)[1]
	b.post("/sign-in/totp/confirm", url.Values{"code": {e.code(secret)}})
	b.get("/account")
	require.Equal(t, "/account", b.url)
	require.NotEqual(t, before, b.csrf)
	b.post("/sign-out", nil)
	require.Equal(t, "/sign-in", b.url, "the new token works")
}

// TestSignOutRenewsTheFormToken: a token seen while signed in does not
// outlive the sign-out.
func TestSignOutRenewsTheFormToken(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	before := b.csrf
	b.post("/sign-out", nil)
	require.NotEqual(t, before, b.csrf)
}

// TestSignInOverASession: signing in on a browser already signed in ends
// the session it held, which no cookie would lead to any more.
func TestSignInOverASession(t *testing.T) {
	e := newEnv(t)
	u, v := e.user(auth.RoleViewer), e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	b.post("/sign-in", url.Values{"email": {v.Email}, "password": {password}})
	require.Contains(t, b.body, v.Email)
	sessions, err := e.a.Sessions(context.Background(), u.ID)
	require.NoError(t, err)
	require.Empty(t, sessions, "the first session ended")
}

// promoted signs a viewer in with the password alone, then makes them an
// administrator, whom the policy requires a second factor of.
func promoted(t *testing.T) (*auth.User, *browser) {
	e := newEnvWith(t, auth.MFAPolicy{Roles: []auth.Role{auth.RoleAdmin}})
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	role := auth.RoleAdmin
	_, err := e.a.UpdateUser(context.Background(), u.TenantID, u.ID, auth.UpdateUserRequest{Role: &role})
	require.NoError(t, err)
	e.clock.Advance(time.Second)
	b.get("/account")
	require.Contains(t, b.body, "with one factor")
	return u, b
}

// TestSensitiveChangesFollowTheMFAPolicy: as on the API, a user the MFA
// policy covers changes the password or the address only from a sign-in
// with a second factor.
func TestSensitiveChangesFollowTheMFAPolicy(t *testing.T) {
	_, b := promoted(t)
	const pw = "another fine passphrase 42"
	b.post("/account/password", url.Values{"current": {password}, "new": {pw}, "confirm": {pw}})
	require.NotContains(t, b.body, "Your password was changed")
	require.Contains(t, b.body, "needs a second factor")
	b.get("/account")
	b.post("/account/email", url.Values{"email": {"moved@example.com"}, "password": {password}})
	require.NotContains(t, b.body, "Follow the link")
	require.Contains(t, b.body, "needs a second factor")
}

// TestPolicyUserWithoutFactorIsToldHowToEnrol: a covered user without a
// factor, whose password cannot satisfy the policy, is not sent round
// the confirmation page forever: the page says to sign in again, which
// offers the set-up.
func TestPolicyUserWithoutFactorIsToldHowToEnrol(t *testing.T) {
	u, b := promoted(t)
	b.get("/account/totp")
	b.post("/account/totp/enroll", nil)
	require.NotContains(t, b.body, "Confirm it is you")
	require.Contains(t, b.body, "Sign out, then sign in again")

	b.post("/sign-out", nil)
	b.signIn(u.Email)
	require.Contains(t, b.body, "Your account needs a second factor")
	require.Contains(t, b.body, `href="/sign-in/totp"`)
}

// TestFormTokenSurvivesCrossSiteLinks: the form-token cookie is Lax, so a
// link from another site (which brings the Lax session cookies) does not
// make the console mint a new token and break the forms of open tabs.
func TestFormTokenSurvivesCrossSiteLinks(t *testing.T) {
	e := newEnv(t)
	res := e.browser().get("/sign-in")
	var found bool
	for _, ck := range res.Cookies() {
		if ck.Name == "__Host-console-csrf" {
			found = true
			require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
		}
	}
	require.True(t, found)
}

// TestPrefixCannotNameAnotherHost: a prefix starting with "//" would make
// every redirect leave the site.
func TestPrefixCannotNameAnotherHost(t *testing.T) {
	e := newEnv(t)
	h, err := middleware.New(e.a)
	require.NoError(t, err)
	_, err = console.New(e.a, h, console.WithPrefix("//evil.example"))
	require.Error(t, err)
}
