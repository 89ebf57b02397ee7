package main_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	otptotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"
)

// screenshots, when set, makes TestConsole write the README's pictures of
// the console into docs/console.
var screenshots = flag.Bool("screenshots", false, "write the console screenshots into ../../docs/console")

// browserTimeout bounds each browser test as a whole.
const browserTimeout = 3 * time.Minute

// cspWatch collects what the browser reports as a Content-Security-Policy
// violation, from every tab it listens to.
type cspWatch struct {
	mu   sync.Mutex
	seen []string
}

func (w *cspWatch) listen(ev any) {
	var e *log.EventEntryAdded
	switch v := ev.(type) {
	case *log.EventEntryAdded:
		e = v
	case log.EventEntryAdded:
		e = &v
	default:
		return
	}
	if e.Entry != nil && strings.Contains(e.Entry.Text, "Content Security Policy") {
		w.mu.Lock()
		w.seen = append(w.seen, e.Entry.Text)
		w.mu.Unlock()
	}
}

func (w *cspWatch) violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// headless starts Debian's Chromium, headless, with a profile of its own
// and no traffic of its own to the network. The test fails, never skips,
// when Chromium is missing: .ci/browser.sh installs it.
func headless(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	require.NoError(t, err, "Chromium is required for the console tests: run bash .ci/browser.sh")
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	first, cancelFirst := chromedp.NewContext(alloc)
	t.Cleanup(cancelFirst)
	require.NoError(t, chromedp.Do(first), "start Chromium")
	return first
}

// tab opens a tab in a browser context of its own: its own cookies, as a
// second browser would have.
func tab(t *testing.T, browser context.Context, w *cspWatch) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(w.listen))
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx))
	return ctx
}

// run runs the steps, failing the test with what went wrong.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...), what)
}

// stepTimeout bounds one step of a browser test (a page load, a form).
const stepTimeout = 30 * time.Second

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	require.NoError(t, err, sel)
	return s
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	return s
}

// signIn fills and sends the sign-in form, then waits for the account page.
func signIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	run(t, ctx, "sign in as "+email, passwordStep(base, email, password), chromedp.WaitVisible(chromedp.ID("account-email")))
}

// passwordStep opens the sign-in page and sends the password form.
func passwordStep(base, email, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/sign-in"),
		chromedp.SendKeys(chromedp.ID("email"), email, chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
	)
}

// signInWithCode signs in with a password and a second factor's code.
func signInWithCode(t *testing.T, ctx context.Context, base, email, password, code string) {
	t.Helper()
	run(t, ctx, "sign in as "+email, passwordStep(base, email, password),
		chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("account-email")),
	)
}

// totpCode is the code an authenticator app shows for secret, offset from now.
func totpCode(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	code, err := otptotp.GenerateCode(secret, time.Now().Add(offset))
	require.NoError(t, err)
	return code
}

// pageChecks are checked on every page the test visits: each visible
// field has a label, and nothing is wider than a phone's screen.
const unlabelled = `[...document.querySelectorAll('input:not([type=hidden]):not([hidden]), select')].filter(e => e.labels.length === 0).length`
const overflows = `document.documentElement.scrollWidth > window.innerWidth`

// With -screenshots, the page is saved as docs/console/NAME.png, and at
// phone width as NAME-phone.png for the account page.
func checkPage(t *testing.T, ctx context.Context, url, name string) {
	t.Helper()
	run(t, ctx, url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("main h1")))
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](unlabelled))
	require.NoError(t, err)
	require.Zero(t, n, "%s: every field has a label", url)
	run(t, ctx, "phone width", chromedp.EmulateViewport(390, 844))
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](overflows))
	require.NoError(t, err)
	require.False(t, wide, "%s: fits a 390 px wide screen", url)
	if *screenshots && name == "account" {
		shoot(t, ctx, name+"-phone")
	}
	run(t, ctx, "desktop width", chromedp.EmulateViewport(1280, 900))
	if *screenshots {
		shoot(t, ctx, name)
	}
}

func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := filepath.Join("..", "..", "docs", "console")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// TestCSPWatchSeesViolations proves the watcher of TestConsole can fail: a
// page under the console's policy with an inline script is reported.
func TestCSPWatchSeesViolations(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'")
		fmt.Fprint(w, `<!doctype html><title>x</title><h1>x</h1><script>document.title = "ran"</script>`)
	}))
	defer bad.Close()
	var w cspWatch
	ctx := tab(t, headless(t), &w)
	run(t, ctx, "load", chromedp.Navigate(bad.URL), chromedp.WaitVisible(chromedp.CSS("h1")))
	title, err := chromedp.Run(ctx, chromedp.Title())
	require.NoError(t, err)
	require.Equal(t, "x", title, "the inline script was blocked")
	require.Eventually(t, func() bool { return len(w.violations()) > 0 }, 10*time.Second, 50*time.Millisecond,
		"the violation is reported")
}

// TestConsole drives the console of the reference server in Chromium: a
// newcomer registers, verifies the address from the e-mailed link, signs
// in, sets up an authenticator app and signs in
// with its code; the same user in a second browser is
// signed out from the first; an administrator made with create-admin
// deactivates the user, whose open page stops working, and finds it in
// the audit log; a form posted from another site is refused. No page
// may break its Content-Security-Policy.
func TestConsole(t *testing.T) {
	bin := buildServer(t)
	dir := t.TempDir()
	mail := filepath.Join(dir, "mail")
	env := map[string]string{"MAIL_DIR": mail}
	_, errOut, code := runCLI(t, bin, dir, env, adminPassword+"\n", "create-admin", "-email", "admin@example.com")
	require.Equal(t, 0, code, errOut)
	srv := startServer(t, bin, dir, env)
	base := srv.base
	var csp cspWatch
	browser := headless(t)
	newcomer, laptop, admin := tab(t, browser, &csp), tab(t, browser, &csp), tab(t, browser, &csp)
	const email, password = "nora@example.com", "nora has a long password"

	// A newcomer opens the console, registers and signs in.
	run(t, newcomer, "open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("email")))
	require.Equal(t, base+"/sign-in", location(t, newcomer))
	run(t, newcomer, "register",
		chromedp.Click(chromedp.CSS(`a[href="/register"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("confirm"), password),
		chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	require.Contains(t, text(t, newcomer, ".notice"), "Your account was created.")

	// The e-mailed link verifies the address: console.js moves the token
	// from the fragment into the form and out of the address bar.
	token := awaitToken(t, dirMailbox{mail}, email, "/verify-email", map[string]bool{})
	run(t, newcomer, "open the link", chromedp.Navigate(base+"/verify-email#token="+url.QueryEscape(token)),
		chromedp.WaitVisible(chromedp.ID("token-submit")))
	require.Equal(t, base+"/verify-email", location(t, newcomer), "the token left the address bar")
	run(t, newcomer, "verify", chromedp.Click(chromedp.ID("token-submit")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	require.Contains(t, text(t, newcomer, ".notice"), "Your address is verified.")
	signIn(t, newcomer, base, email, password)
	require.Equal(t, email, text(t, newcomer, "#account-email"))
	// The newcomer sets up an authenticator app: QR code, first code,
	// recovery codes shown once.
	run(t, newcomer, "set up TOTP",
		chromedp.Click(chromedp.CSS(`a[href="/account/totp"]`)),
		chromedp.WaitVisible(chromedp.ID("totp-setup")),
		chromedp.Click(chromedp.ID("totp-setup")),
		chromedp.WaitVisible(chromedp.ID("totp-secret")),
	)
	qr, err := chromedp.Run(newcomer, chromedp.Evaluate[bool](`document.querySelector("img.qr").naturalWidth > 0`))
	require.NoError(t, err)
	require.True(t, qr, "the QR code is shown")
	if *screenshots {
		shoot(t, newcomer, "totp-enroll")
	}
	secret := text(t, newcomer, "#totp-secret")
	run(t, newcomer, "first code",
		chromedp.SendKeys(chromedp.ID("code"), totpCode(t, secret, 0)),
		chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")),
	)
	recovery := strings.Fields(text(t, newcomer, "#recovery-codes"))
	require.Len(t, recovery, 10)

	// Sign out, and in again with the password and the app's code (the
	// next period's: the first one was used, and a verifier accepts one
	// period of skew).
	run(t, newcomer, "sign out", chromedp.Click(chromedp.CSS(`nav button`)), chromedp.WaitVisible(chromedp.ID("password")))
	signInWithCode(t, newcomer, base, email, password, totpCode(t, secret, 30*time.Second))
	require.Contains(t, text(t, newcomer, "main"), "with a second factor")

	// The same user on a laptop, with a recovery code; the first browser
	// signs the laptop out.
	signInWithCode(t, laptop, base, email, password, recovery[0])
	run(t, newcomer, "see two sessions", chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.CSS("#sessions li:nth-child(2)")))
	run(t, newcomer, "sign the laptop out",
		chromedp.Click(chromedp.CSS("#sessions li:nth-child(2) button")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	require.Contains(t, text(t, newcomer, ".notice"), "The session was signed out.")
	checkPage(t, newcomer, base+"/account", "account")
	checkPage(t, newcomer, base+"/account/totp", "totp")
	run(t, laptop, "laptop reloads", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("password")))
	require.Equal(t, base+"/sign-in", location(t, laptop), "the laptop is signed out")

	// A form posted from another site changes nothing.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>evil</title><form method="post" action="%s/account/sessions/revoke-all">`+
			`<input type="hidden" name="csrf" value="guess"><button id="go">Win a prize</button></form>`, base)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site
	run(t, newcomer, "a cross-site post", chromedp.Navigate(evilURL), chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	require.Contains(t, text(t, newcomer, ".error"), "sent from another site")
	run(t, newcomer, "still signed in", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.ID("account-email")))

	// The administrator deactivates the user; the user's page stops working.
	signIn(t, admin, base, "admin@example.com", adminPassword)
	run(t, admin, "find the user",
		chromedp.Click(chromedp.CSS(`nav a[href="/admin/users"]`)),
		chromedp.WaitVisible(chromedp.ID("users")),
		chromedp.Click(chromedp.Search(`//table[@id="users"]//a[text()="`+email+`"]`)),
		chromedp.WaitVisible(chromedp.ID("deactivate")),
	)
	userURL := location(t, admin)
	checkPage(t, admin, base+"/admin/users", "admin-users")
	checkPage(t, admin, userURL, "admin-user")
	run(t, admin, "deactivate", chromedp.Click(chromedp.ID("deactivate")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	require.Contains(t, text(t, admin, "#user-status"), "deactivated")
	run(t, newcomer, "the user's page", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("password")))
	require.Equal(t, base+"/sign-in", location(t, newcomer), "the deactivated user is signed out")
	run(t, newcomer, "sign in again",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	require.Contains(t, text(t, newcomer, ".error"), "deactivated")

	// The audit log shows it, by the administrator.
	userID := userURL[strings.LastIndex(userURL, "/")+1:]
	run(t, admin, "audit log", chromedp.Navigate(base+"/admin/audit?user="+userID), chromedp.WaitVisible(chromedp.ID("events")))
	require.Contains(t, text(t, admin, "#events"), "user.activation_changed")
	checkPage(t, admin, base+"/admin/audit", "admin-audit")
	checkPage(t, admin, base+"/admin/", "admin-overview")
	require.Equal(t, "1", text(t, admin, "#stat-failures"), "the deactivated user's refused sign-in")
	checkPage(t, newcomer, base+"/sign-in", "sign-in")
	checkPage(t, newcomer, base+"/register", "register")

	require.Empty(t, csp.violations(), "Content-Security-Policy violations")
	srv.stop(t)
}
