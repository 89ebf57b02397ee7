// Package totpconsole adds the TOTP second factor's pages to the web
// console (console.WithExtensions): set up an authenticator app with its
// QR code, see the recovery codes once, make new ones, turn the factor
// off; and, at a sign-in whose policy requires a second factor the user
// has not set up, set one up to finish it.
//
//	con, err := console.New(a, mw, console.WithExtensions(totpconsole.New(f)))
package totpconsole

import (
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/console"
	"github.com/maestro-ml/auth/factor/totp"
)

//go:embed ui
var ui embed.FS

// Extension is the console extension of a *totp.TOTP.
type Extension struct {
	t *totp.TOTP
}

// New returns the console pages of f.
func New(f *totp.TOTP) *Extension { return &Extension{t: f} }

// pages holds the parsed templates of one console.
type pages struct {
	e                     *Extension
	c                     *console.Console
	status, enroll, codes *console.Template
}

// ConsolePages implements console.Extension.
func (e *Extension) ConsolePages(c *console.Console) ([]console.Page, error) {
	p := &pages{e: e, c: c}
	for name, t := range map[string]**console.Template{"status": &p.status, "enroll": &p.enroll, "codes": &p.codes} {
		tmpl, err := c.Template(ui, "ui/"+name+".html")
		if err != nil {
			return nil, err
		}
		*t = tmpl
	}
	const back = "/account/totp"
	return []console.Page{
		{Method: http.MethodGet, Path: "/account/totp", Serve: p.serveStatus, Account: "Authenticator app",
			Notices: map[string]string{"totp-off": "The authenticator app was removed from your account."}},
		{Method: http.MethodPost, Path: "/account/totp/enroll", Serve: p.serveEnroll, Return: back},
		{Method: http.MethodPost, Path: "/account/totp/confirm", Serve: p.serveConfirm, Return: back},
		{Method: http.MethodPost, Path: "/account/totp/recovery", Serve: p.serveRecovery, Return: back},
		{Method: http.MethodPost, Path: "/account/totp/disable", Serve: p.serveDisable, Return: back},
		{Method: http.MethodGet, Path: "/sign-in/totp", Serve: p.serveSignInStart, SignInEnroll: "Set up an authenticator app"},
		{Method: http.MethodPost, Path: "/sign-in/totp/enroll", Serve: p.serveSignInEnroll},
		{Method: http.MethodPost, Path: "/sign-in/totp/confirm", Serve: p.serveSignInConfirm},
	}, nil
}

type statusData struct {
	totp.Status
}

type enrollData struct {
	QR     template.URL // a data: URI of the PNG
	Secret string
	Action string // where the first code goes
	Retry  bool   // a wrong first code: the app has the secret already
	Start  bool   // at sign-in, before the secret is made
}

type codesData struct {
	Codes []string
	Next  string // where the user continues
}

const title = "Authenticator app"

func (p *pages) serveStatus(w http.ResponseWriter, r *http.Request, claims *auth.Claims) error {
	st, err := p.e.t.Status(r.Context(), claims.UserID)
	if err != nil {
		return err
	}
	return p.c.Render(w, r, http.StatusOK, p.status, title, claims, "", statusData{st})
}

// serveEnroll makes a new secret for the signed-in user (a recent sign-in
// is required: else the console asks to confirm, then returns).
func (p *pages) serveEnroll(w http.ResponseWriter, r *http.Request, claims *auth.Claims) error {
	en, err := p.e.t.EnrollCaller(r.Context(), claims)
	if errors.Is(err, totp.ErrAlreadyEnrolled) {
		return p.statusError(w, r, claims, "An authenticator app is already set up. Remove it first to set up another.")
	}
	if err != nil {
		return err
	}
	return p.c.Render(w, r, http.StatusOK, p.enroll, title, claims, "", enrollment(en, p.c.Path("/account/totp/confirm")))
}

// serveConfirm checks the app's first code: the factor is on, the session
// is replaced by one with the second factor, and the recovery codes are
// shown once.
func (p *pages) serveConfirm(w http.ResponseWriter, r *http.Request, claims *auth.Claims) error {
	conf, pair, err := p.e.t.ConfirmCaller(r.Context(), claims, r.PostForm.Get("code"), p.c.Client(r))
	switch {
	case errors.Is(err, auth.ErrInvalidCode):
		return p.c.Render(w, r, http.StatusUnauthorized, p.enroll, title, claims,
			"That code is not right. Type the code your app shows now.",
			enrollData{Action: p.c.Path("/account/totp/confirm"), Retry: true})
	case errors.Is(err, totp.ErrNoPendingEnrollment):
		return p.statusError(w, r, claims, "The set-up took too long. Start again.")
	case errors.Is(err, totp.ErrAlreadyEnrolled):
		return p.statusError(w, r, claims, "An authenticator app is already set up.")
	case err != nil:
		return err
	}
	p.c.UseTokens(w, r, pair)
	return p.c.Render(w, r, http.StatusOK, p.codes, "Your recovery codes", claims, "",
		codesData{Codes: conf.RecoveryCodes, Next: p.c.Path("/account/totp")})
}

func (p *pages) serveRecovery(w http.ResponseWriter, r *http.Request, claims *auth.Claims) error {
	codes, err := p.e.t.RegenerateRecoveryCodes(r.Context(), claims)
	if errors.Is(err, totp.ErrNotEnrolled) {
		return p.statusError(w, r, claims, "No authenticator app is set up.")
	}
	if err != nil {
		return err
	}
	return p.c.Render(w, r, http.StatusOK, p.codes, "Your new recovery codes", claims, "",
		codesData{Codes: codes, Next: p.c.Path("/account/totp")})
}

func (p *pages) serveDisable(w http.ResponseWriter, r *http.Request, claims *auth.Claims) error {
	err := p.e.t.Disable(r.Context(), claims)
	if errors.Is(err, totp.ErrNotEnrolled) {
		return p.statusError(w, r, claims, "No authenticator app is set up.")
	}
	if err != nil {
		return err
	}
	return p.c.Redirect(w, r, "/account/totp", "totp-off")
}

// statusError shows the status page with a message.
func (p *pages) statusError(w http.ResponseWriter, r *http.Request, claims *auth.Claims, msg string) error {
	st, err := p.e.t.Status(r.Context(), claims.UserID)
	if err != nil {
		return err
	}
	return p.c.Render(w, r, http.StatusConflict, p.status, title, claims, msg, statusData{st})
}

// serveSignInStart offers the set-up that a sign-in needs; the secret is
// made by the post that follows, not by loading the page.
func (p *pages) serveSignInStart(w http.ResponseWriter, r *http.Request, _ *auth.Claims) error {
	return p.c.Render(w, r, http.StatusOK, p.enroll, title, nil, "", enrollData{Start: true, Action: p.c.Path("/sign-in/totp/enroll")})
}

func (p *pages) serveSignInEnroll(w http.ResponseWriter, r *http.Request, _ *auth.Claims) error {
	en, _, err := p.e.t.EnrollTicket(r.Context(), p.c.Ticket(r))
	if err != nil {
		return p.signInError(w, r, err)
	}
	return p.c.Render(w, r, http.StatusOK, p.enroll, title, nil, "", enrollment(en, p.c.Path("/sign-in/totp/confirm")))
}

// serveSignInConfirm confirms the set-up with the app's first code and
// finishes the sign-in.
func (p *pages) serveSignInConfirm(w http.ResponseWriter, r *http.Request, _ *auth.Claims) error {
	pair, _, conf, err := p.e.t.ConfirmLogin(r.Context(), p.c.Ticket(r), r.PostForm.Get("code"), p.c.Client(r))
	if errors.Is(err, auth.ErrInvalidCode) {
		return p.c.Render(w, r, http.StatusUnauthorized, p.enroll, title, nil,
			"That code is not right. Type the code your app shows now.",
			enrollData{Action: p.c.Path("/sign-in/totp/confirm"), Retry: true})
	}
	if err != nil {
		return p.signInError(w, r, err)
	}
	p.c.UseTokens(w, r, pair)
	return p.c.Render(w, r, http.StatusOK, p.codes, "Your recovery codes", nil, "",
		codesData{Codes: conf.RecoveryCodes, Next: p.c.Path("/account")})
}

// signInError answers a set-up at sign-in whose ticket is missing, used,
// expired or not for enrolment: the sign-in starts over.
func (p *pages) signInError(w http.ResponseWriter, r *http.Request, err error) error {
	if errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrMFARequired) || errors.Is(err, auth.ErrInvalidInput) {
		return p.c.Render(w, r, http.StatusUnauthorized, p.enroll, title, nil,
			"Your sign-in took too long or was already used. Sign in again.", enrollData{})
	}
	return err
}

// enrollment is the page data of a new secret.
func enrollment(en *totp.Enrollment, action string) enrollData {
	return enrollData{
		// A data: URI: the page's img-src allows it, and the secret never
		// sits at a URL of its own.
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG)),
		Secret: en.Secret,
		Action: action,
	}
}
