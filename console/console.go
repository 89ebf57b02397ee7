// Package console is a web console for an auth.Authenticator: account
// pages (sign in with a password and a second factor, register, sessions
// and devices, password change) and an administrators' dashboard (users,
// actions on them, the audit log and its export), rendered on the server
// with html/template from embedded files. It needs no CDN and no fonts
// from elsewhere, so it works offline, and no JavaScript but on the pages
// that e-mailed links open, where one small script file moves the link's
// token from the fragment into the form (see VerifyEmailPath).
//
// Browsers hold the console's sign-in in cookies of its own, separate from
// the API's cookie mode (middleware.WithCookies): HttpOnly, Secure
// (browsers accept Secure cookies from http://localhost and 127.0.0.1, so
// the console works there without TLS), SameSite=Lax and "__Host-"
// prefixed. Every unsafe request must pass http.CrossOriginProtection and
// carry the form token of a double-submit "__Host-" cookie (OWASP CSRF
// cheat sheet); every answer carries a strict Content-Security-Policy with
// frame-ancestors 'none', no inline script or style, and no script at all
// but that file on those pages.
//
// Mount it beside the API:
//
//	mw, _ := middleware.New(a)
//	con, err := console.New(a, mw)
//	...
//	mw.Mount(mux)
//	con.Mount(mux) // pages at /, /sign-in, /account, /admin/users, ...
package console

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/middleware"
)

//go:embed ui
var ui embed.FS

// Cookie names. The "__Host-" prefix makes browsers insist on Secure,
// Path=/ and no Domain, so a sibling subdomain cannot plant them.
const (
	accessCookie  = "__Host-console"
	refreshCookie = "__Host-console-refresh"
	ticketCookie  = "__Host-console-mfa"
	csrfCookie    = "__Host-console-csrf"
)

// csp is the Content-Security-Policy of every answer but the link pages
// (tokenCSP): the console's own stylesheet and images only (the TOTP QR
// code is a data: URI), forms posted to itself, never framed, no script.
const csp = "default-src 'none'; " + cspRest

// cspRest is what every policy of the console holds after default-src.
const cspRest = "style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// formLimit bounds a form body; the console's forms are a few fields.
const formLimit = 64 << 10

// Option configures a Console; see New.
type Option func(*config)

type config struct {
	prefix     string
	adminRole  auth.Role
	noRegister bool
	title      string
	log        *slog.Logger
	extensions []Extension
}

// WithPrefix sets the path under which Mount registers the pages: "" (the
// default) for the root, or a path that starts with "/" and does not end
// with one, such as "/console".
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithAdminRole sets the role (or any above it) that may use the
// administrators' pages. Default: auth.RoleAdmin.
func WithAdminRole(role auth.Role) Option { return func(c *config) { c.adminRole = role } }

// WithoutRegistration removes the registration page, for hosts whose
// users are created by administrators.
func WithoutRegistration() Option { return func(c *config) { c.noRegister = true } }

// WithTitle sets the product name shown in page titles and the header.
// Default: "Account".
func WithTitle(title string) Option { return func(c *config) { c.title = title } }

// WithLogger sets where unexpected errors are logged; they never reach
// the browser. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// Console serves the pages. It is an http.Handler for the paths Mount
// registers; create it with New.
type Console struct {
	a     *auth.Authenticator
	h     *middleware.Handler
	c     config
	csrf  *http.CrossOriginProtection
	pages map[string]*template.Template
	// layout is the page frame, cloned for every page and extension template.
	layout *template.Template
	mux    *http.ServeMux
	now    func() time.Time
	// routes are every page, the extensions' included; notices the
	// messages a redirect may name; the links lead to extensions' pages.
	all          []route
	notices      map[string]string
	accountLinks []link
	enrollLinks  []link
}

// New returns a Console over a. h supplies how clients are identified
// (its IPResolver), so that the console's sign-ins count against the same
// per-IP limits as the API's. Errors: an invalid option.
func New(a *auth.Authenticator, h *middleware.Handler, opts ...Option) (*Console, error) {
	if a == nil || h == nil {
		return nil, errors.New("console: New needs an Authenticator and a middleware.Handler")
	}
	c := &Console{a: a, h: h, c: config{adminRole: auth.RoleAdmin, title: "Account", log: slog.Default()},
		csrf: http.NewCrossOriginProtection(), now: time.Now}
	for _, o := range opts {
		o(&c.c)
	}
	if p := c.c.prefix; p != "" && (!strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasSuffix(p, "/") ||
		strings.ContainsAny(p, "{}?#* ")) {
		return nil, fmt.Errorf("console: invalid prefix %q", p)
	}
	if !slices.Contains(a.Roles(), c.c.adminRole) {
		return nil, fmt.Errorf("console: unknown admin role %q", c.c.adminRole)
	}
	if c.c.log == nil {
		c.c.log = slog.Default()
	}
	layout, pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.layout, c.pages = layout, pages
	c.notices = maps.Clone(notices)
	own := c.ownRoutes()
	ext, err := c.extensionRoutes(own)
	if err != nil {
		return nil, err
	}
	c.all = append(own, ext...)
	c.mux = http.NewServeMux()
	for _, rt := range c.all {
		c.mux.Handle(rt.pattern, rt.h)
	}
	return c, nil
}

type route struct {
	pattern string
	h       http.Handler
}

// Router is where Mount registers the pages; *http.ServeMux is one.
type Router interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers every page and the stylesheet on r under the prefix.
func (c *Console) Mount(r Router) {
	for _, rt := range c.all {
		r.Handle(rt.pattern, c)
	}
}

// ServeHTTP serves the console's pages; other paths are 404.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w.Header())
	c.mux.ServeHTTP(w, r)
}

// secureHeaders sets the headers every answer carries.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// ownRoutes are the console's own pages.
func (c *Console) ownRoutes() []route {
	p := c.c.prefix
	page := func(method, path string, fn handlerFunc) route {
		return route{pattern: method + " " + p + path, h: c.serve(fn)}
	}
	rts := []route{
		{pattern: "GET " + p + "/assets/console.css", h: http.HandlerFunc(serveCSS)},
		{pattern: "GET " + p + "/assets/console.js", h: http.HandlerFunc(serveJS)},
		page("GET", "/{$}", c.home),
		page("GET", "/sign-in", c.signInPage),
		page("POST", "/sign-in", c.signIn),
		page("POST", "/sign-in/code", c.signInCode),
		page("POST", "/sign-out", c.signOut),
		page("GET", "/account", c.account),
		page("POST", "/account/password", c.changePassword),
		page("POST", "/account/confirm", c.confirm),
		page("POST", "/account/email", c.changeEmail),
		page("POST", "/account/verify", c.resendVerification),
		page("GET", "/forgot-password", c.forgotPage),
		page("POST", "/forgot-password", c.forgot),
		page("GET", VerifyEmailPath, c.tokenPage("Verify your address", verifyForm)),
		page("POST", VerifyEmailPath, c.verifyEmail),
		page("GET", ResetPasswordPath, c.tokenPage("Choose a new password", resetForm)),
		page("POST", ResetPasswordPath, c.resetPassword),
		page("GET", ConfirmEmailPath, c.tokenPage("Confirm your new address", confirmForm)),
		page("POST", ConfirmEmailPath, c.confirmEmail),
		page("POST", "/account/sessions/{id}/revoke", c.revokeSession),
		page("POST", "/account/sessions/revoke-all", c.signOutEverywhere),
		page("GET", "/admin/{$}", c.adminOverview),
		page("GET", "/admin/users", c.adminUsers),
		page("GET", "/admin/users/{id}", c.adminUser),
		page("POST", "/admin/users/{id}", c.adminAction),
		page("GET", "/admin/audit", c.adminAudit),
		page("GET", "/admin/audit/export", c.adminAuditExport),
	}
	if !c.c.noRegister {
		rts = append(rts, page("GET", "/register", c.registerPage), page("POST", "/register", c.register))
	}
	return rts
}

// path returns the console's path for a page.
func (c *Console) path(p string) string { return c.c.prefix + p }

func serveCSS(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, "ui/console.css", "text/css; charset=utf-8")
}

// serveAsset serves an embedded file.
func serveAsset(w http.ResponseWriter, name, contentType string) {
	b, err := fs.ReadFile(ui, name)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// handlerFunc serves one page; an error it returns becomes an error page
// (see fail).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// serve wraps a page: pages are never cached, an unsafe request passes
// the cross-origin check and the form token first, and a returned error
// becomes an error page.
func (c *Console) serve(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, formLimit)
			if err := c.checkForm(r); err != nil {
				c.fail(w, r, err)
				return
			}
		}
		if err := fn(w, r); err != nil {
			c.fail(w, r, err)
		}
	})
}

// errForbiddenForm is a form post that failed the CSRF checks.
var errForbiddenForm = errors.New("console: cross-site request refused")

// checkForm applies the CSRF defences to a post: the browser's own
// signals (Sec-Fetch-Site, Origin) through http.CrossOriginProtection, and
// the double-submit token: the form's csrf field must equal the csrf
// cookie, compared in constant time.
func (c *Console) checkForm(r *http.Request) error {
	if c.csrf.Check(r) != nil {
		return errForbiddenForm
	}
	if err := r.ParseForm(); err != nil {
		return errBadForm
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || ck.Value == "" {
		return errForbiddenForm
	}
	if subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		return errForbiddenForm
	}
	return nil
}

// errBadForm is a form the console cannot read.
var errBadForm = errors.New("console: malformed form")

// csrfToken returns the form token of the browser, setting a new one when
// it has none (or when renew is set, at a sign-in).
func (c *Console) csrfToken(w http.ResponseWriter, r *http.Request, renew bool) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 43 && !renew {
		return ck.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	v := base64.RawURLEncoding.EncodeToString(b)
	// Lax like the sign-in cookies: a link from another site brings
	// them, and must bring this one too, or the token would be minted
	// anew and the forms of the browser's other tabs would fail. Posts
	// from other sites are refused by the origin check all the same.
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
	// A renewed token must reach this answer's forms too: it replaces the
	// old one in the request (r.Cookie returns the first of a name).
	setRequestCookie(r, csrfCookie, v)
	return v
}

// setRequestCookie replaces (or adds) the cookie name in r's Cookie header.
func setRequestCookie(r *http.Request, name, value string) {
	kept := make([]string, 0, 4)
	for _, ck := range r.Cookies() {
		if ck.Name != name {
			kept = append(kept, ck.String())
		}
	}
	kept = append(kept, (&http.Cookie{Name: name, Value: value}).String())
	r.Header.Set("Cookie", strings.Join(kept, "; "))
}

// setCookie sets one of the console's cookies; a zero expiry deletes it.
func setCookie(w http.ResponseWriter, name, value string, expires time.Time) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if expires.IsZero() {
		ck.Value, ck.MaxAge = "", -1
	} else {
		ck.Expires = expires
	}
	http.SetCookie(w, ck)
}
