package middleware

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
)

// Second factors over HTTP: the second step of a login, step-up, the
// caller's factors, an administrator's reset, and the middleware that asks
// for a stronger or more recent authentication (RFC 9470). The credential
// kinds themselves (factor/totp, ...) live in packages of their own and
// add their enrolment endpoints with WithExtensions.

type (
	loginMFABody struct {
		Ticket string `json:"ticket"`
		Code   string `json:"code"`
		Factor string `json:"factor"`
	}
	stepUpBody struct {
		Password string `json:"password"`
		Code     string `json:"code"`
		Factor   string `json:"factor"`
	}
	factorsResponse struct {
		// Factors are the names of the second factors the caller has.
		Factors []string `json:"factors"`
		// Required says the policy requires the caller to have one.
		Required bool `json:"required"`
	}
	// mfaProblem is the problem of a login whose second step remains
	// (RFC 9457 §3.2 extension members).
	mfaProblem struct {
		Problem
		Ticket    string    `json:"mfa_ticket"`
		ExpiresAt time.Time `json:"expires_at"`
		Factors   []string  `json:"factors"`
		Enroll    bool      `json:"enroll"`
	}
)

func decodeLoginMFA(body []byte) (b loginMFABody, err error) {
	return b, decodeObject(body, &b, "ticket", "code")
}

func decodeStepUp(body []byte) (b stepUpBody, err error) {
	if err := decodeObject(body, &b); err != nil {
		return b, err
	}
	switch {
	case b.Password == "" && b.Code == "":
		return b, withField(errMissingField, "password")
	case b.Password != "" && (b.Code != "" || b.Factor != ""):
		return b, withField(errInvalidStepUp, "code")
	}
	return b, nil
}

// loginMFA answers POST {"ticket", "code", "factor"?} with 200 and a token
// response, finishing a login that answered 401 mfa_required: the code is
// a second factor's (a TOTP code or a recovery code; "factor" names which,
// or each the user has is tried). Errors: 401 invalid_code (the ticket
// stays usable within its attempts), 401 invalid_token for an unknown,
// used or expired ticket, 403, 422 invalid_input for an unknown factor,
// 429 (past the per-ticket limit the ticket is spent), 400, 413, 415, 503.
func (h *Handler) loginMFA(w http.ResponseWriter, r *http.Request) error {
	if err := h.checkCrossOrigin(r); err != nil { // login CSRF
		return err
	}
	b, err := readJSON(h, w, r, decodeLoginMFA)
	if err != nil {
		return err
	}
	pair, u, err := h.a.LoginMFA(r.Context(), auth.MFARequest{Ticket: b.Ticket, Factor: b.Factor, Code: b.Code, Client: h.client(r)})
	if err != nil {
		return err
	}
	return h.writeTokens(w, pair, u)
}

// stepUp answers an authenticated POST {"password"} or {"code",
// "factor"?} with 200 and a token response for a new session whose
// auth_time is now and whose amr adds the method just proven (and "mfa"
// once two factors are proven). The caller's session ends: the client
// switches to the new tokens. A wrong password is 403 invalid_credentials
// (the token is valid; see changePassword), a wrong code 403 invalid_code.
// Errors also: those of Authenticate, 403 user_inactive, 422, 429, 400,
// 413, 415, 503.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	b, err := readJSON(h, w, r, decodeStepUp)
	if err != nil {
		return err
	}
	var pair *auth.TokenPair
	if b.Password != "" {
		pair, err = h.a.StepUpPassword(r.Context(), c, b.Password, h.client(r))
	} else {
		pair, err = h.a.StepUpCode(r.Context(), c, b.Factor, b.Code, h.client(r))
	}
	if err != nil {
		return ReauthError(err)
	}
	return h.writeTokens(w, pair, nil)
}

// factors answers an authenticated GET with the caller's second factors
// and whether the policy requires one.
func (h *Handler) factors(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	u, err := h.a.CurrentUser(r.Context(), c)
	if err != nil {
		return err
	}
	names, err := h.a.SecondFactors(r.Context(), u.ID)
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	return writeJSON(w, http.StatusOK, factorsResponse{Factors: names, Required: h.a.MFARequiredFor(u)})
}

// resetFactors answers an administrator's DELETE of a tenant user's second
// factors with 204 (never the administrator's own: 403 self_modification): every factor is removed, every session of the user
// ends, and the user next logs in with the password (enrolling anew if the
// policy requires a factor). Errors: those of the admin endpoints, 404,
// 501 when no second factor is configured.
func (h *Handler) resetFactors(w http.ResponseWriter, r *http.Request) error {
	u, err := h.manageable(r)
	if err != nil {
		return err
	}
	// An administrator's own factors change through the factor's own,
	// fresher checks (a recent second factor), never by this reset: a
	// stolen administrator token must not strip the account's factor.
	if c, _ := ClaimsFrom(r); c.UserID == u.ID {
		return errSelfModification
	}
	if err := h.a.ResetSecondFactors(r.Context(), u.TenantID, u.ID); err != nil {
		return err
	}
	return writeNoContent(w)
}

// RequireMFA is middleware, behind Authenticate, that admits only tokens
// of a login that used more than one factor ("mfa" in amr). Others get 401
// with WWW-Authenticate: Bearer error="insufficient_user_authentication",
// acr_values="mfa" (RFC 9470 §3), telling the client to step up.
func (h *Handler) RequireMFA(next http.Handler) http.Handler {
	return h.require(next, func(c *auth.Claims) error { return h.a.RequireMFA(c) })
}

// RequireMFAByPolicy is RequireMFA for the users auth.Config.MFA covers
// (by role and tenant), and lets the others through.
func (h *Handler) RequireMFAByPolicy(next http.Handler) http.Handler {
	return h.require(next, func(c *auth.Claims) error { return h.a.RequireMFAByPolicy(c) })
}

// RequireRecentAuth returns middleware, behind Authenticate, that admits
// only tokens whose user authenticated (logged in or stepped up) within
// maxAge. Others get 401 with an RFC 9470 challenge carrying max_age (and
// acr_values="mfa" when the step-up must bring a second factor).
func (h *Handler) RequireRecentAuth(maxAge time.Duration) func(http.Handler) http.Handler {
	if maxAge <= 0 {
		panic("middleware: RequireRecentAuth needs a positive maxAge")
	}
	return func(next http.Handler) http.Handler {
		return h.require(next, func(c *auth.Claims) error { return h.a.RequireRecentAuth(c, maxAge) })
	}
}

func (h *Handler) require(next http.Handler, check func(*auth.Claims) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFrom(r)
		if !ok {
			h.WriteError(w, r, errNoCredentials)
			return
		}
		if err := check(c); err != nil {
			h.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// insufficientChallenge is the RFC 9470 §3 challenge for e.
func insufficientChallenge(e *auth.InsufficientAuthError) string {
	var b strings.Builder
	b.WriteString(challengeInsufficientAuth)
	b.WriteString(`, error_description="A stronger or more recent authentication is required"`)
	if e.ACR != "" {
		b.WriteString(`, acr_values="` + e.ACR + `"`)
	}
	if e.MaxAge > 0 {
		b.WriteString(", max_age=" + strconv.FormatInt(int64(e.MaxAge/time.Second), 10))
	}
	return b.String()
}
