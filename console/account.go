package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
)

// home sends a signed-in browser to its account, others to sign in.
func (c *Console) home(w http.ResponseWriter, r *http.Request) error {
	claims, err := c.session(w, r)
	if err != nil {
		return err
	}
	to := "/sign-in"
	if claims != nil {
		to = "/account"
	}
	return c.redirect(w, r, to, "")
}

type signInData struct {
	Email    string
	Register bool
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) error {
	claims, err := c.session(w, r)
	if err != nil {
		return err
	}
	if claims != nil {
		return c.redirect(w, r, "/account", "")
	}
	return c.render(w, r, http.StatusOK, "sign-in", view{Title: "Sign in", Data: signInData{Register: !c.c.noRegister}})
}

// signIn checks the password. When a second factor is due, the ticket goes
// into a short-lived cookie (never into the page or a URL) and the code
// form is shown.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) error {
	email := r.PostForm.Get("email")
	pair, _, err := c.a.Login(r.Context(), auth.LoginRequest{Email: email, Password: r.PostForm.Get("password"), Client: c.h.Client(r)})
	var mfa *auth.MFARequiredError
	if err == nil || errors.As(err, &mfa) {
		// A browser signed in already (a stale tab) gives up that
		// session: no cookie would lead to it any more.
		if err := c.endPrevious(w, r); err != nil {
			return err
		}
	}
	switch {
	case errors.As(err, &mfa):
		return c.askCode(w, r, mfa, "")
	case err != nil:
		p, known := explain(err)
		if !known {
			return err
		}
		return c.render(w, r, p.status, "sign-in", view{Title: "Sign in", Error: p.msg,
			Data: signInData{Email: email, Register: !c.c.noRegister}})
	}
	return c.startSession(w, r, pair)
}

type codeData struct {
	Factors []string
	Enroll  bool
	Links   []link // the extensions' enrolment pages
}

// askCode shows the second-factor form for a pending sign-in.
func (c *Console) askCode(w http.ResponseWriter, r *http.Request, mfa *auth.MFARequiredError, msg string) error {
	status := http.StatusOK
	if msg != "" {
		status = http.StatusUnauthorized
	}
	setCookie(w, ticketCookie, mfa.Ticket, mfa.ExpiresAt)
	return c.render(w, r, status, "code", view{Title: "Second factor", Error: msg,
		Data: codeData{Factors: mfa.Factors, Enroll: mfa.Enroll, Links: c.enrollLinks}})
}

// signInCode finishes a sign-in with a code of a second factor (a TOTP
// code or a recovery code: the core tries each factor the user has).
func (c *Console) signInCode(w http.ResponseWriter, r *http.Request) error {
	ck, err := r.Cookie(ticketCookie)
	if err != nil || ck.Value == "" {
		return c.render(w, r, http.StatusUnauthorized, "sign-in", view{Title: "Sign in",
			Error: "Your sign-in took too long. Start again.", Data: signInData{Register: !c.c.noRegister}})
	}
	pair, _, err := c.a.LoginMFA(r.Context(), auth.MFARequest{Ticket: ck.Value, Code: r.PostForm.Get("code"), Client: c.h.Client(r)})
	if err != nil {
		p, known := explain(err)
		if !known {
			return err
		}
		if errors.Is(err, auth.ErrInvalidCode) || errors.Is(err, auth.ErrRateLimited) {
			// The ticket stays good for another try until it expires.
			t, terr := c.a.MFATicket(r.Context(), ck.Value)
			if terr == nil {
				return c.askCode(w, r, &auth.MFARequiredError{Ticket: ck.Value, ExpiresAt: t.ExpiresAt, Factors: t.Factors}, p.msg)
			}
		}
		setCookie(w, ticketCookie, "", time.Time{})
		if errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrInvalidCredentials) {
			p.msg = "Your sign-in took too long or was already used. Start again."
		}
		return c.render(w, r, p.status, "sign-in", view{Title: "Sign in", Error: p.msg, Data: signInData{Register: !c.c.noRegister}})
	}
	return c.startSession(w, r, pair)
}

// startSession sets the cookies of a new sign-in, with a fresh form token
// (a token known before the sign-in must not outlive it), and goes to the
// account page.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, pair *auth.TokenPair) error {
	c.setSession(w, r, pair)
	c.csrfToken(w, r, true)
	return c.redirect(w, r, "/account", "")
}

// signOut ends the browser's session.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) error {
	claims, err := c.session(w, r)
	if err != nil {
		return err
	}
	if claims != nil {
		if err := c.a.Logout(context.WithoutCancel(r.Context()), claims); err != nil {
			return err
		}
	}
	c.clearSession(w)
	c.csrfToken(w, r, true)
	return c.redirect(w, r, "/sign-in", "signed-out")
}

// endPrevious ends the session the browser's cookies hold, if any.
func (c *Console) endPrevious(w http.ResponseWriter, r *http.Request) error {
	claims, err := c.session(w, r)
	if err != nil || claims == nil {
		return err
	}
	return c.a.Logout(context.WithoutCancel(r.Context()), claims)
}

type accountData struct {
	User     *auth.User
	Sessions []*auth.Session
	Current  string
	Factors  []string
	MFA      bool
	Links    []link // the extensions' account pages
}

func (c *Console) account(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.signedIn(w, r)
	if !ok || err != nil {
		return err
	}
	return c.showAccount(w, r, claims, http.StatusOK, "")
}

// showAccount renders the account page with status and an error message.
func (c *Console) showAccount(w http.ResponseWriter, r *http.Request, claims *auth.Claims, status int, msg string) error {
	u, err := c.a.CurrentUser(r.Context(), claims)
	if err != nil {
		return err
	}
	sessions, err := c.a.Sessions(r.Context(), claims.UserID)
	if err != nil {
		return err
	}
	factors, err := c.a.SecondFactors(r.Context(), claims.UserID)
	if err != nil {
		return err
	}
	// The current session first, then the most recently used.
	slices.SortStableFunc(sessions, func(a, b *auth.Session) int {
		switch {
		case a.ID == claims.SessionID:
			return -1
		case b.ID == claims.SessionID:
			return 1
		}
		return b.LastUsedAt.Compare(a.LastUsedAt)
	})
	return c.render(w, r, status, "account", view{Title: "Your account", Me: claims, Error: msg,
		Data: accountData{User: u, Sessions: sessions, Current: claims.SessionID, Factors: factors,
			MFA: slices.Contains(claims.AMR, auth.Method("mfa")), Links: c.accountLinks}})
}

func (c *Console) changePassword(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.signedIn(w, r)
	if !ok || err != nil {
		return err
	}
	if err := c.a.RequireMFAByPolicy(claims); err != nil {
		return c.needsMFA(w, r, claims, "/account")
	}
	if r.PostForm.Get("new") != r.PostForm.Get("confirm") {
		return c.showAccount(w, r, claims, http.StatusBadRequest, "The new passwords do not match.")
	}
	if err := c.a.ChangePassword(r.Context(), claims, r.PostForm.Get("current"), r.PostForm.Get("new")); err != nil {
		p, known := explain(err)
		if !known {
			return err
		}
		if errors.Is(err, auth.ErrInvalidCredentials) {
			p.msg = "Your current password is not right."
		}
		return c.showAccount(w, r, claims, p.status, p.msg)
	}
	return c.redirect(w, r, "/account", "password")
}

// revokeSession signs out one of the user's sessions; the current one
// signs this browser out.
func (c *Console) revokeSession(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.signedIn(w, r)
	if !ok || err != nil {
		return err
	}
	id := r.PathValue("id")
	if !auth.ValidID(id) {
		return auth.ErrSessionNotFound
	}
	if err := c.a.RevokeSession(context.WithoutCancel(r.Context()), claims.UserID, id); err != nil {
		return err
	}
	if id == claims.SessionID {
		c.clearSession(w)
		return c.redirect(w, r, "/sign-in", "signed-out")
	}
	return c.redirect(w, r, "/account", "revoked")
}

// signOutEverywhere ends every session of the user, this one included.
func (c *Console) signOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.signedIn(w, r)
	if !ok || err != nil {
		return err
	}
	if err := c.a.LogoutAll(context.WithoutCancel(r.Context()), claims.UserID); err != nil {
		return err
	}
	c.clearSession(w)
	return c.redirect(w, r, "/sign-in", "everywhere")
}

type registerData struct {
	Email, Name string
	MinLength   int
}

func (c *Console) registerPage(w http.ResponseWriter, r *http.Request) error {
	return c.render(w, r, http.StatusOK, "register", view{Title: "Create an account",
		Data: registerData{MinLength: c.a.PasswordPolicy().MinLength}})
}

// register creates an account and sends the browser to sign in. Under
// Config.EnumerationSafe the answer is the same whether the address was
// free or not (the owner of a taken one gets an e-mail).
func (c *Console) register(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	d := registerData{Email: f.Get("email"), Name: f.Get("name"), MinLength: c.a.PasswordPolicy().MinLength}
	if f.Get("password") != f.Get("confirm") {
		return c.render(w, r, http.StatusBadRequest, "register", view{Title: "Create an account",
			Error: "The passwords do not match.", Data: d})
	}
	_, err := c.a.Register(r.Context(), auth.RegisterRequest{Email: d.Email, Password: f.Get("password"), Name: d.Name,
		Client: c.h.Client(r)})
	if c.a.EnumerationSafe() && (err == nil || errors.Is(err, auth.ErrEmailTaken)) {
		return c.redirect(w, r, "/sign-in", "registered-verify")
	}
	if err != nil {
		p, known := explain(err)
		if !known {
			return err
		}
		return c.render(w, r, p.status, "register", view{Title: "Create an account", Error: p.msg, Data: d})
	}
	return c.redirect(w, r, "/sign-in", "registered")
}

type confirmData struct {
	Return string
	Code   bool // the user has a second factor: confirm with a code
}

// askConfirm shows the page on which a signed-in user confirms who they
// are before an action that needs a recent sign-in (or one with their
// second factor): a code when they have a second factor, else their
// password. back is the page to return to (under the prefix).
func (c *Console) askConfirm(w http.ResponseWriter, r *http.Request, claims *auth.Claims, back string, status int, msg string) error {
	factors, err := c.a.SecondFactors(r.Context(), claims.UserID)
	if err != nil {
		return err
	}
	return c.render(w, r, status, "confirm", view{Title: "Confirm it is you", Me: claims, Error: msg,
		Data: confirmData{Return: back, Code: len(factors) > 0}})
}

// confirm is a step-up: the session is replaced by one with a fresh
// auth_time (and, with a code, the second factor in its amr), then the
// browser returns to the page it came from.
func (c *Console) confirm(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.signedIn(w, r)
	if !ok || err != nil {
		return err
	}
	back := r.PostForm.Get("return")
	if !c.returnable(back) {
		back = "/account"
	}
	factors, err := c.a.SecondFactors(r.Context(), claims.UserID)
	if err != nil {
		return err
	}
	var pair *auth.TokenPair
	if len(factors) > 0 {
		pair, err = c.a.StepUpCode(r.Context(), claims, "", r.PostForm.Get("code"), c.h.Client(r))
	} else {
		pair, err = c.a.StepUpPassword(r.Context(), claims, r.PostForm.Get("password"), c.h.Client(r))
	}
	if err != nil {
		p, known := explain(err)
		if !known {
			return err
		}
		if errors.Is(err, auth.ErrInvalidCredentials) && len(factors) == 0 {
			p.msg = "That password is not right."
		}
		return c.askConfirm(w, r, claims, back, p.status, p.msg)
	}
	c.setSession(w, r, pair)
	return c.redirect(w, r, back, "")
}

// returnable reports whether p is a GET page of the console under
// /account/ (the pages that can ask for a confirmation): an allow-list,
// so that the return field is never an open redirect.
func (c *Console) returnable(p string) bool {
	if p == "/account" {
		return true
	}
	for _, rt := range c.all {
		if rt.pattern == "GET "+c.path(p) && strings.HasPrefix(p, "/account/") {
			return true
		}
	}
	return false
}

// needsMFA answers an action that the MFA policy allows only from a
// sign-in with a second factor (as the API's sensitive endpoints do): a
// user with a factor confirms with its code, then returns to back; a user
// without one is told how to set one up.
func (c *Console) needsMFA(w http.ResponseWriter, r *http.Request, claims *auth.Claims, back string) error {
	factors, err := c.a.SecondFactors(r.Context(), claims.UserID)
	if err != nil {
		return err
	}
	if len(factors) > 0 {
		return c.askConfirm(w, r, claims, back, http.StatusUnauthorized,
			"Your account needs a second factor for this: confirm with your code.")
	}
	return c.render(w, r, http.StatusForbidden, "error", view{Title: "A second factor is needed", Me: claims,
		Error: "Your account needs a second factor for this, and has none yet. Sign out, then sign in again: " +
			"the sign-in will offer to set one up."})
}
