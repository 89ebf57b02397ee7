// Package totphttp puts factor/totp on HTTP: a middleware.Extension whose
// endpoints enrol, confirm, disable and list a user's TOTP and recovery
// codes, and enrol from a login's enrol-only ticket. A package of its own
// so that factor/totp, which the stores import for its types, does not
// depend on net/http handlers.
//
//	h, err := middleware.New(a, middleware.WithExtensions(totphttp.New(f)))
package totphttp

import (
	"net/http"
	"time"

	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/middleware"
)

// Extension is the HTTP side of a *totp.TOTP. With
// middleware.WithExtensions(totphttp.New(f)) the Handler serves, under its
// prefix:
//
//	GET    /factors/totp                  the caller's TOTP state
//	POST   /factors/totp                  start an enrolment: secret, otpauth:// URI, QR code
//	POST   /factors/totp/confirm          confirm it with the first code: new tokens and the recovery codes
//	DELETE /factors/totp                  disable TOTP (a recent authentication required)
//	POST   /factors/totp/recovery-codes   a new set of recovery codes (a recent authentication required)
//	POST   /login/mfa/totp/enroll         start an enrolment from a login's enrol-only ticket
//	POST   /login/mfa/totp/confirm        confirm it and finish the login
//
// Codes at login and step-up go to the Handler's own /login/mfa and
// /step-up. Starting an enrolment needs a recent authentication too
// (Config.RecentAuth): a stolen access token alone cannot put a factor of
// the thief's on the account.

type Extension struct{ t *totp.TOTP }

// New returns the Extension of f.
func New(f *totp.TOTP) *Extension { return &Extension{t: f} }

var _ middleware.Extension = (*Extension)(nil)

type (
	codeBody struct {
		Code string `json:"code"`
	}
	ticketBody struct {
		Ticket string `json:"ticket"`
	}
	ticketCodeBody struct {
		Ticket string `json:"ticket"`
		Code   string `json:"code"`
	}
	enrollmentResponse struct {
		Secret string `json:"secret"`
		URI    string `json:"uri"`
		// QRPNG is base64 (standard, padded) in JSON.
		QRPNG []byte `json:"qr_png"`
	}
	recoveryResponse struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	statusResponse struct {
		Enrolled          bool       `json:"enrolled"`
		Pending           bool       `json:"pending"`
		ConfirmedAt       *time.Time `json:"confirmed_at,omitempty"`
		RecoveryCodesLeft int        `json:"recovery_codes_left"`
	}
)

// Routes implements middleware.Extension.
func (e *Extension) Routes(h *middleware.Handler) []middleware.Route {
	return []middleware.Route{
		{Method: "GET", Path: "/factors/totp", Access: middleware.Authenticated, Statuses: []int{200},
			Handle: func(w http.ResponseWriter, r *http.Request) error { return e.serveStatus(h, w, r) }},
		{Method: "POST", Path: "/factors/totp", Access: middleware.Sensitive, Statuses: []int{200, 404, 409},
			Handle: func(w http.ResponseWriter, r *http.Request) error { return e.serveEnroll(h, w, r) }},
		{Method: "POST", Path: "/factors/totp/confirm", Access: middleware.Sensitive, Body: true, Statuses: []int{200, 403, 404, 409, 429},
			Handle: func(w http.ResponseWriter, r *http.Request) error { return e.serveConfirm(h, w, r) }},
		{Method: "DELETE", Path: "/factors/totp", Access: middleware.Sensitive, Statuses: []int{204, 409},
			Handle: func(w http.ResponseWriter, r *http.Request) error { return e.serveDisable(h, w, r) }},
		{Method: "POST", Path: "/factors/totp/recovery-codes", Access: middleware.Sensitive, Statuses: []int{200, 409},
			Handle: func(w http.ResponseWriter, r *http.Request) error { return e.serveRegenerate(h, w, r) }},
		{Method: "POST", Path: "/login/mfa/totp/enroll", Access: middleware.Public, Body: true, Statuses: []int{200, 401, 403, 409, 503},
			Handle: func(w http.ResponseWriter, r *http.Request) error { return e.serveEnrollTicket(h, w, r) }},
		{Method: "POST", Path: "/login/mfa/totp/confirm", Access: middleware.Public, Body: true, Statuses: []int{200, 401, 403, 409, 429, 503},
			Handle: func(w http.ResponseWriter, r *http.Request) error { return e.serveConfirmLogin(h, w, r) }},
	}
}

func (e *Extension) serveStatus(h *middleware.Handler, w http.ResponseWriter, r *http.Request) error {
	c, _ := middleware.ClaimsFrom(r)
	st, err := e.t.Status(r.Context(), c.UserID)
	if err != nil {
		return err
	}
	resp := statusResponse{Enrolled: st.Enrolled, Pending: st.Pending, RecoveryCodesLeft: st.RecoveryCodesLeft}
	if !st.ConfirmedAt.IsZero() {
		resp.ConfirmedAt = &st.ConfirmedAt
	}
	return h.WriteJSON(w, http.StatusOK, resp)
}

// serveEnroll starts an enrolment for the caller, who must have
// authenticated recently.
func (e *Extension) serveEnroll(h *middleware.Handler, w http.ResponseWriter, r *http.Request) error {
	c, _ := middleware.ClaimsFrom(r)
	en, err := e.t.EnrollCaller(r.Context(), c)
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, enrollmentResponse{Secret: en.Secret, URI: en.URI, QRPNG: en.QRPNG})
}

func (e *Extension) serveConfirm(h *middleware.Handler, w http.ResponseWriter, r *http.Request) error {
	c, _ := middleware.ClaimsFrom(r)
	var b codeBody
	if err := h.DecodeJSON(w, r, &b, "code"); err != nil {
		return err
	}
	conf, pair, err := e.t.ConfirmCaller(r.Context(), c, b.Code, h.Client(r))
	if err != nil {
		return middleware.ReauthError(err) // 403 invalid_code: the token is fine
	}
	// The caller's session was replaced by a multi-factor one: its tokens,
	// with the recovery codes to show once.
	return h.WriteTokensWith(w, pair, nil, map[string]any{"recovery_codes": conf.RecoveryCodes})
}

func (e *Extension) serveDisable(h *middleware.Handler, w http.ResponseWriter, r *http.Request) error {
	c, _ := middleware.ClaimsFrom(r)
	if err := e.t.Disable(r.Context(), c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (e *Extension) serveRegenerate(h *middleware.Handler, w http.ResponseWriter, r *http.Request) error {
	c, _ := middleware.ClaimsFrom(r)
	codes, err := e.t.RegenerateRecoveryCodes(r.Context(), c)
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, recoveryResponse{RecoveryCodes: codes})
}

func (e *Extension) serveEnrollTicket(h *middleware.Handler, w http.ResponseWriter, r *http.Request) error {
	if err := h.CheckCrossOrigin(r); err != nil {
		return err
	}
	var b ticketBody
	if err := h.DecodeJSON(w, r, &b, "ticket"); err != nil {
		return err
	}
	en, _, err := e.t.EnrollTicket(r.Context(), b.Ticket)
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, enrollmentResponse{Secret: en.Secret, URI: en.URI, QRPNG: en.QRPNG})
}

func (e *Extension) serveConfirmLogin(h *middleware.Handler, w http.ResponseWriter, r *http.Request) error {
	if err := h.CheckCrossOrigin(r); err != nil {
		return err
	}
	var b ticketCodeBody
	if err := h.DecodeJSON(w, r, &b, "ticket", "code"); err != nil {
		return err
	}
	pair, u, conf, err := e.t.ConfirmLogin(r.Context(), b.Ticket, b.Code, h.Client(r))
	if err != nil {
		return err
	}
	// The token response of a login, with the recovery codes to show once.
	return h.WriteTokensWith(w, pair, u, map[string]any{"recovery_codes": conf.RecoveryCodes})
}
