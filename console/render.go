package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
)

// view is what every page template receives.
type view struct {
	Title   string
	Product string
	P       string // the prefix, for links
	CSRF    string
	Me      *auth.Claims
	Admin   bool
	Notice  string
	Error   string
	Data    any
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": func(ms []auth.Method) string {
		s := make([]string, len(ms))
		for i, m := range ms {
			s[i] = string(m)
		}
		return strings.Join(s, ", ")
	},
}

// parsePages parses the layout, and each page of ui/ together with it.
func parsePages() (*template.Template, map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(ui, "ui/layout.html")
	if err != nil {
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	files, err := fs.Glob(ui, "ui/*.html")
	if err != nil {
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(ui, f)
		if err != nil {
			return nil, nil, fmt.Errorf("console: %w", err)
		}
		pages[name] = t
	}
	return layout, pages, nil
}

// render writes a page with status. The page is rendered into a buffer
// first so that a template error becomes an error page, not half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) error {
	t, ok := c.pages[page]
	if !ok {
		return fmt.Errorf("console: no page %q", page)
	}
	return c.renderTemplate(w, r, status, t, v)
}

// renderTemplate writes t in the layout with v, filled in.
func (c *Console) renderTemplate(w http.ResponseWriter, r *http.Request, status int, t *template.Template, v view) error {
	v.Product, v.P = c.c.title, c.c.prefix
	v.CSRF = c.csrfToken(w, r, false)
	if v.Me != nil {
		v.Admin = c.a.RoleAtLeast(v.Me.Role, c.c.adminRole)
	}
	if v.Notice == "" {
		v.Notice = c.notices[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

// notices are the messages a redirect after a successful post names in
// its done parameter; unknown names show nothing, so a link cannot put
// text of its choosing on a page.
var notices = map[string]string{
	"password":          "Your password was changed. Your other sessions were signed out.",
	"revoked":           "The session was signed out.",
	"registered":        "Your account was created. Sign in to continue.",
	"registered-verify": "Check your email: we sent a message to the address to confirm it.",
	"signed-out":        "You are signed out.",
	"everywhere":        "You were signed out everywhere.",
	"updated":           "The user was updated.",
	"unlocked":          "The account was unlocked.",
	"factors":           "The user's second factors were removed.",
	"ended":             "The user's sessions were ended.",
	"deactivated":       "The user was deactivated and their sessions ended.",
	"activated":         "The user was activated.",
	"verified":          "Your address is verified. Sign in to continue.",
	"reset":             "Your password was changed and every session signed out. Sign in with the new password.",
	"reset-sent":        "If that address has an account, a link to choose a new password is on its way.",
	"email-sent":        "Follow the link we sent to the new address to finish the change.",
	"email-changed":     "Your account now uses the new address.",
	"verify-sent":       "A new verification link is on its way.",
}

// redirect answers a successful post: 303 to a page, naming a notice.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, page, done string) error {
	to := c.path(page)
	if done != "" {
		to += "?done=" + done
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// problem is an error the console explains to the user.
type problem struct {
	status int
	msg    string
}

// explain returns the status and message for err; ok is false for an
// unexpected error, whose text must not reach the browser.
func explain(err error) (problem, bool) {
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		secs := int(rl.RetryAfter.Round(time.Second) / time.Second)
		return problem{http.StatusTooManyRequests, fmt.Sprintf("Too many attempts. Try again in %d seconds.", max(secs, 1))}, true
	case errors.Is(err, errForbiddenForm):
		return problem{http.StatusForbidden, "This form was sent from another site or has expired. Reload the page and try again."}, true
	case errors.Is(err, errBadForm):
		return problem{http.StatusBadRequest, "The form could not be read."}, true
	case errors.Is(err, errNotAdmin):
		return problem{http.StatusForbidden, "This page is for administrators."}, true
	case errors.Is(err, errAdminNeedsMFA):
		return problem{http.StatusForbidden, "Administration needs a sign-in with a second factor. Sign out, then sign in with your code."}, true
	case errors.Is(err, errSelf):
		return problem{http.StatusForbidden, "You cannot change your own role or deactivate yourself here."}, true
	case errors.Is(err, errAboveCaller):
		return problem{http.StatusForbidden, "That user's role, or the role asked for, is above yours."}, true
	case errors.Is(err, auth.ErrInvalidCode):
		return problem{http.StatusUnauthorized, "That code is not right. Try the current code from your app, or a recovery code."}, true
	case errors.Is(err, auth.ErrInvalidCredentials):
		return problem{http.StatusUnauthorized, "The email address or password is not right."}, true
	case errors.Is(err, auth.ErrUserInactive):
		return problem{http.StatusForbidden, "This account is deactivated."}, true
	case errors.Is(err, auth.ErrEmailNotVerified):
		return problem{http.StatusForbidden, "Verify your email address first: follow the link we sent you."}, true
	case errors.Is(err, auth.ErrEmailTaken):
		return problem{http.StatusConflict, "That email address cannot be used."}, true
	case errors.Is(err, auth.ErrInvalidEmail):
		return problem{http.StatusBadRequest, "That is not a valid email address."}, true
	case errors.Is(err, auth.ErrPasswordTooShort):
		return problem{http.StatusBadRequest, "That password is too short."}, true
	case errors.Is(err, auth.ErrPasswordTooLong):
		return problem{http.StatusBadRequest, "That password is too long."}, true
	case errors.Is(err, auth.ErrPasswordCommon):
		return problem{http.StatusBadRequest, "That password is too common. Choose another."}, true
	case errors.Is(err, auth.ErrPasswordContext):
		return problem{http.StatusBadRequest, "That password is too close to your email address or the service's name."}, true
	case errors.Is(err, auth.ErrPasswordPolicy):
		return problem{http.StatusBadRequest, "That password cannot be used."}, true
	case errors.Is(err, auth.ErrFactorEnrolled):
		return problem{http.StatusConflict, "That second factor is already set up."}, true
	case errors.Is(err, auth.ErrFactorNotEnrolled):
		return problem{http.StatusConflict, "That second factor is not set up."}, true
	case errors.Is(err, auth.ErrMFARequired):
		return problem{http.StatusUnauthorized, "Your sign-in needs to start again."}, true
	case errors.Is(err, auth.ErrUserNotFound), errors.Is(err, auth.ErrSessionNotFound):
		return problem{http.StatusNotFound, "Not found."}, true
	case errors.Is(err, auth.ErrInvalidRole), errors.Is(err, auth.ErrInvalidInput):
		return problem{http.StatusBadRequest, "That input is not valid."}, true
	case errors.Is(err, auth.ErrInvalidToken):
		return problem{http.StatusUnauthorized, "Your sign-in has ended. Sign in again."}, true
	case errors.Is(err, auth.ErrConflict):
		return problem{http.StatusConflict, "Something changed at the same time. Try again."}, true
	case errors.Is(err, auth.ErrUnavailable):
		return problem{http.StatusServiceUnavailable, "The service is unavailable. Try again in a moment."}, true
	}
	return problem{http.StatusInternalServerError, "Something went wrong. Try again later."}, false
}

// fail answers err with the error page; an unexpected error is logged,
// and only a generic message reaches the browser.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	p, known := explain(err)
	if !known {
		c.c.log.ErrorContext(r.Context(), "console: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	if rerr := c.render(w, r, p.status, "error", view{Title: "Error", Error: p.msg}); rerr != nil {
		c.c.log.ErrorContext(r.Context(), "console: rendering the error page", "error", rerr)
		http.Error(w, p.msg, p.status)
	}
}
