package console

import (
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/maestro-ml/auth"
)

// Extension adds pages to the console: a credential package brings its
// own (enrolment, management), as it brings its endpoints to the API
// through middleware.WithExtensions. The console never imports one.
type Extension interface {
	// ConsolePages returns the extension's pages; c renders them and
	// holds the browser's sign-in.
	ConsolePages(c *Console) ([]Page, error)
}

// Page is one page of an extension.
type Page struct {
	// Method is GET or POST. A POST passes the console's CSRF checks, and
	// its form is parsed, before Serve runs.
	Method string
	// Path is under the console's prefix and must start with "/account/"
	// (a signed-in user's page) or "/sign-in/" (a step of a sign-in in
	// progress, before there is a session).
	Path string
	// Serve answers the request. Under /account/ claims are the signed-in
	// user's (also in the request's context, auth.NewContext); under
	// /sign-in/ they are nil. An error it returns becomes the console's
	// error page, and an *auth.InsufficientAuthError the page that asks
	// the user to confirm who they are, then returns to Return.
	Serve func(w http.ResponseWriter, r *http.Request, claims *auth.Claims) error
	// Return is where the user goes back to after confirming who they are
	// (a GET page of the console, under the prefix); empty: /account.
	Return string
	// Account, if set, is the label of a link from the account page to
	// this GET page.
	Account string
	// SignInEnroll, if set, is the label of a link to this GET page from
	// the second-factor step of a sign-in whose policy requires a second
	// factor the user has not enrolled.
	SignInEnroll string
	// Notices are the messages Redirect may name, by name. Fixed texts,
	// so that a link cannot put words of its choosing on a page.
	Notices map[string]string
}

// link is a labelled link to an extension's page.
type link struct{ Label, Path string }

// WithExtensions adds the pages of extensions; New fails when two pages
// share a method and path, or a path is outside /account/ and /sign-in/.
func WithExtensions(e ...Extension) Option {
	return func(c *config) { c.extensions = append(c.extensions, e...) }
}

// extensionRoutes collects the pages of the extensions; own are the
// console's, which no extension page may shadow.
func (c *Console) extensionRoutes(own []route) ([]route, error) {
	var rts []route
	seen := map[string]bool{}
	for _, e := range c.c.extensions {
		pages, err := e.ConsolePages(c)
		if err != nil {
			return nil, fmt.Errorf("console: extension pages: %w", err)
		}
		for _, p := range pages {
			pattern := p.Method + " " + p.Path
			signIn := strings.HasPrefix(p.Path, "/sign-in/")
			switch {
			case p.Method != http.MethodGet && p.Method != http.MethodPost:
				return nil, fmt.Errorf("console: extension page %s: method must be GET or POST", pattern)
			case !strings.HasPrefix(p.Path, "/account/") && !signIn, strings.ContainsAny(p.Path, "{}?# "):
				return nil, fmt.Errorf("console: extension page %s: path must be a fixed path under /account/ or /sign-in/", pattern)
			case p.Serve == nil:
				return nil, fmt.Errorf("console: extension page %s: no Serve", pattern)
			case seen[pattern] || slices.ContainsFunc(own, func(rt route) bool { return rt.pattern == p.Method+" "+c.path(p.Path) }):
				return nil, fmt.Errorf("console: extension page %s: registered twice", pattern)
			}
			seen[pattern] = true
			for k, v := range p.Notices {
				if _, dup := c.notices[k]; dup {
					return nil, fmt.Errorf("console: extension page %s: notice %q registered twice", pattern, k)
				}
				c.notices[k] = v
			}
			if p.Account != "" && p.Method == http.MethodGet {
				c.accountLinks = append(c.accountLinks, link{p.Account, c.path(p.Path)})
			}
			if p.SignInEnroll != "" && p.Method == http.MethodGet {
				c.enrollLinks = append(c.enrollLinks, link{p.SignInEnroll, c.path(p.Path)})
			}
			rts = append(rts, route{pattern: p.Method + " " + c.path(p.Path), h: c.serve(c.extensionPage(p, signIn))})
		}
	}
	return rts, nil
}

func (c *Console) extensionPage(p Page, signIn bool) handlerFunc {
	back := p.Return
	if back == "" {
		back = "/account"
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if signIn {
			return p.Serve(w, r, nil)
		}
		claims, r, ok, err := c.signedIn(w, r)
		if !ok || err != nil {
			return err
		}
		err = p.Serve(w, r, claims)
		var insufficient *auth.InsufficientAuthError
		if errors.As(err, &insufficient) {
			// A password cannot satisfy a policy that wants a second
			// factor: without one, the user sets one up at sign-in.
			if c.a.RequireMFAByPolicy(claims) != nil {
				return c.needsMFA(w, r, claims, back)
			}
			return c.askConfirm(w, r, claims, back, http.StatusUnauthorized, "")
		}
		return err
	}
}

// Template is a page template of an extension, rendered inside the
// console's layout; see Console.Template.
type Template struct{ t *template.Template }

// Template parses the file of fsys that defines the extension page's
// "content" template, with the console's layout around it. The data of
// the content template has .CSRF (the value of the hidden "csrf" field
// every form must carry), .P (the prefix, for links and form actions),
// .Me (the claims, or nil), .Error, .Notice and .Data.
func (c *Console) Template(fsys fs.FS, file string) (*Template, error) {
	t, err := template.Must(c.layout.Clone()).ParseFS(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return &Template{t: t}, nil
}

// Render writes an extension's page: status, t with data, under title.
// msg, if set, is shown as an error.
func (c *Console) Render(w http.ResponseWriter, r *http.Request, status int, t *Template, title string, claims *auth.Claims, msg string, data any) error {
	return c.renderTemplate(w, r, status, t.t, view{Title: title, Me: claims, Error: msg, Data: data})
}

// Redirect answers a successful post of an extension: 303 to path (under
// the prefix), whose page shows the notice the extension's pages declared
// under the name done (see Page.Notices); empty: none.
func (c *Console) Redirect(w http.ResponseWriter, r *http.Request, path, done string) error {
	return c.redirect(w, r, path, done)
}

// UseTokens makes pair the browser's sign-in: after a flow that replaced
// the session (a factor confirmed as a step-up) or finished a sign-in.
// The form token is renewed with it, for the page rendered next as well.
func (c *Console) UseTokens(w http.ResponseWriter, r *http.Request, pair *auth.TokenPair) {
	c.setSession(w, r, pair)
	c.csrfToken(w, r, true)
}

// Ticket returns the ticket of the sign-in in progress (its second step),
// or "" when there is none.
func (c *Console) Ticket(r *http.Request) string {
	ck, err := r.Cookie(ticketCookie)
	if err != nil {
		return ""
	}
	return ck.Value
}

// Path returns the console's path of a page (the prefix and p), for
// links and form actions.
func (c *Console) Path(p string) string { return c.path(p) }

// Client returns the client of r as the API identifies it.
func (c *Console) Client(r *http.Request) auth.ClientInfo { return c.h.Client(r) }

// Authenticator returns the Authenticator the console serves.
func (c *Console) Authenticator() *auth.Authenticator { return c.a }
