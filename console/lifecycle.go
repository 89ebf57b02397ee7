package console

import (
	"errors"
	"net/http"

	"github.com/maestro-ml/auth"
)

// The pages that e-mailed links open. Links carry their token in the
// fragment (…/verify-email#token=…), which browsers never send to a
// server, nor in a Referer: console.js, the console's only script, copies
// it into the page's form, and the user's click posts it. These pages
// alone allow that script (tokenCSP).
const (
	VerifyEmailPath   = "/verify-email"
	ResetPasswordPath = "/reset-password"
	ConfirmEmailPath  = "/confirm-email"
)

// tokenCSP is the policy of the pages that read a token from the link's
// fragment: the console's policy and its own script file, nothing inline.
const tokenCSP = "default-src 'none'; script-src 'self'; " + cspRest

type tokenData struct {
	Action    string // the form's path
	Button    string
	Password  bool // the form asks for a new password
	MinLength int
}

// tokenPage shows the form that posts a link's token.
func (c *Console) tokenPage(title string, d tokenData) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return c.showTokenPage(w, r, http.StatusOK, title, d, "")
	}
}

func (c *Console) showTokenPage(w http.ResponseWriter, r *http.Request, status int, title string, d tokenData, msg string) error {
	w.Header().Set("Content-Security-Policy", tokenCSP)
	w.Header().Set("Referrer-Policy", "no-referrer")
	d.MinLength = c.a.PasswordPolicy().MinLength
	return c.render(w, r, status, "token", view{Title: title, Error: msg, Data: d})
}

var (
	verifyForm  = tokenData{Action: VerifyEmailPath, Button: "Verify my address"}
	resetForm   = tokenData{Action: ResetPasswordPath, Button: "Set the new password", Password: true}
	confirmForm = tokenData{Action: ConfirmEmailPath, Button: "Move my account to this address"}
)

// linkError explains a refused link token.
func (c *Console) linkError(w http.ResponseWriter, r *http.Request, title string, d tokenData, err error) error {
	p, known := explain(err)
	if !known {
		return err
	}
	if errors.Is(err, auth.ErrInvalidToken) {
		p.msg = "This link is not valid any more: it was used, has expired, or a newer one was sent. Ask for a new one."
	}
	return c.showTokenPage(w, r, p.status, title, d, p.msg)
}

func (c *Console) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	if _, err := c.a.VerifyEmail(r.Context(), r.PostForm.Get("token")); err != nil {
		return c.linkError(w, r, "Verify your address", verifyForm, err)
	}
	return c.redirect(w, r, "/sign-in", "verified")
}

func (c *Console) resetPassword(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	if f.Get("password") != f.Get("confirm") {
		return c.showTokenPage(w, r, http.StatusBadRequest, "Choose a new password", resetForm, "The passwords do not match.")
	}
	if err := c.a.ResetPassword(r.Context(), f.Get("token"), f.Get("password")); err != nil {
		return c.linkError(w, r, "Choose a new password", resetForm, err)
	}
	// Every session ended, this browser's too.
	c.clearSession(w)
	return c.redirect(w, r, "/sign-in", "reset")
}

func (c *Console) confirmEmail(w http.ResponseWriter, r *http.Request) error {
	if _, err := c.a.ConfirmEmailChange(r.Context(), r.PostForm.Get("token")); err != nil {
		return c.linkError(w, r, "Confirm your new address", confirmForm, err)
	}
	return c.redirect(w, r, "/account", "email-changed")
}

func (c *Console) forgotPage(w http.ResponseWriter, r *http.Request) error {
	return c.render(w, r, http.StatusOK, "forgot", view{Title: "Forgot your password?"})
}

// forgot asks for a reset link. The answer is the same whether or not the
// address has an account (auth.Authenticator.RequestPasswordReset).
func (c *Console) forgot(w http.ResponseWriter, r *http.Request) error {
	if err := c.a.RequestPasswordReset(r.Context(), r.PostForm.Get("email"), c.h.Client(r)); err != nil {
		p, known := explain(err)
		if !known {
			return err
		}
		return c.render(w, r, p.status, "forgot", view{Title: "Forgot your password?", Error: p.msg})
	}
	return c.redirect(w, r, "/sign-in", "reset-sent")
}

// changeEmail asks to move the account to another address: a link goes to
// it. Under Config.EnumerationSafe a taken address is answered like a free
// one (its owner is told instead).
func (c *Console) changeEmail(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.signedIn(w, r)
	if !ok || err != nil {
		return err
	}
	if err := c.a.RequireMFAByPolicy(claims); err != nil {
		return c.needsMFA(w, r, claims, "/account")
	}
	err = c.a.RequestEmailChange(r.Context(), claims, r.PostForm.Get("password"), r.PostForm.Get("email"))
	if err == nil || (c.a.EnumerationSafe() && errors.Is(err, auth.ErrEmailTaken)) {
		return c.redirect(w, r, "/account", "email-sent")
	}
	p, known := explain(err)
	if !known {
		return err
	}
	if errors.Is(err, auth.ErrInvalidCredentials) {
		p.msg = "Your password is not right."
	}
	return c.showAccount(w, r, claims, p.status, p.msg)
}

// resendVerification sends the signed-in user a new verification link.
func (c *Console) resendVerification(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.signedIn(w, r)
	if !ok || err != nil {
		return err
	}
	if err := c.a.RequestVerification(r.Context(), claims.UserID); err != nil {
		return err
	}
	return c.redirect(w, r, "/account", "verify-sent")
}

// serveJS serves console.js: it copies the token of an e-mailed link from
// the fragment into the page's form and removes it from the address bar.
func serveJS(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, "ui/console.js", "text/javascript; charset=utf-8")
}
