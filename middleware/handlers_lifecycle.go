package middleware

import (
	"errors"
	"net/http"

	"github.com/maestro-ml/auth"
)

// The account-lifecycle endpoints need auth.Config.ActionTokens and
// auth.Config.Notifier (except password change); without them they answer
// 501 not_configured.
//
// Tokens from e-mailed links (verification, reset, e-mail change) travel
// in the request body, never in the URL (OWASP ASVS 5.0 V14.2): the page
// the link opens reads them from the fragment and posts them. Such a token
// that is unknown, used or expired gets 422 invalid_action_token, not the
// 401 of a bad access token: it is data, not the request's credential, and
// a 401 challenge would tell a signed-in client to drop its access token
// (RFC 6750 §3).

// Request bodies of the lifecycle endpoints.
type (
	actionTokenBody struct {
		Token string `json:"token"`
	}
	forgotPasswordBody struct {
		Email string `json:"email"`
	}
	resetPasswordBody struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	changePasswordBody struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	changeEmailBody struct {
		Password string `json:"password"`
		NewEmail string `json:"new_email"`
	}
)

func decodeActionToken(body []byte) (b actionTokenBody, err error) {
	return b, decodeObject(body, &b, "token")
}

func decodeForgotPassword(body []byte) (b forgotPasswordBody, err error) {
	return b, decodeObject(body, &b, "email")
}

func decodeResetPassword(body []byte) (b resetPasswordBody, err error) {
	return b, decodeObject(body, &b, "token", "password")
}

func decodeChangePassword(body []byte) (b changePasswordBody, err error) {
	return b, decodeObject(body, &b, "current_password", "new_password")
}

func decodeChangeEmail(body []byte) (b changeEmailBody, err error) {
	return b, decodeObject(body, &b, "password", "new_email")
}

// actionTokenError turns the Authenticator's verdict on an e-mailed token
// into errInvalidActionToken; other errors pass through.
func actionTokenError(err error) error {
	if errors.Is(err, auth.ErrInvalidToken) {
		return errInvalidActionToken
	}
	return err
}

// reauthError turns a wrong current password of an authenticated caller
// into errWrongPassword (403); other errors pass through.
func reauthError(err error) error {
	if errors.Is(err, auth.ErrInvalidCredentials) {
		return errWrongPassword
	}
	return err
}

// verifyEmail answers POST {"token"} with 200 and the user, whose address
// is now verified. The token is single-use. Errors: 422
// invalid_action_token (unknown, used or expired, or for an address the
// user no longer has), 400, 413, 415, 501, 503.
func (h *Handler) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	b, err := readJSON(h, w, r, decodeActionToken)
	if err != nil {
		return err
	}
	u, err := h.a.VerifyEmail(r.Context(), b.Token)
	if err != nil {
		return actionTokenError(err)
	}
	return writeJSON(w, http.StatusOK, newUserResponse(u))
}

// resendVerification answers an authenticated POST by sending the caller
// a new verification message (older tokens stop working), with 202 and
// {"status":"accepted"}; a verified user is sent nothing, with the same
// answer. Errors: those of Authenticate, 404 if the user no longer
// exists, 429 (per-account limit, auth.Limits.ResetPerAccount), 501, 503.
func (h *Handler) resendVerification(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	if err := h.a.RequestVerification(r.Context(), c.UserID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, acceptedBody)
}

// forgotPassword answers POST {"email"} with 202 and
// {"status":"accepted"}: the same status, body and headers whether or not
// the address belongs to an account, and also for an address that is not
// valid at all, so that the endpoint cannot tell who has an account (OWASP
// ASVS 5.0 V6.4; auth.Authenticator.RequestPasswordReset does the same
// store work either way). An active account's owner is sent a reset
// token. Errors: 429 with Retry-After (per client address and per address
// asked for, auth.Limits.Reset*: neither depends on whether the account
// exists), 400, 413, 415, 501, 503.
func (h *Handler) forgotPassword(w http.ResponseWriter, r *http.Request) error {
	b, err := readJSON(h, w, r, decodeForgotPassword)
	if err != nil {
		return err
	}
	if err := h.a.RequestPasswordReset(r.Context(), b.Email, h.client(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, acceptedBody)
}

// resetPassword answers POST {"token", "password"} with 204 after setting
// the new password: every session of the user ends and every access
// token is revoked. The password is checked against the policy before the
// token is used up, so a refused password (422) can be retried with the
// same token. Errors: 422 invalid_action_token or a password policy code,
// 403 user_inactive, 400, 413, 415, 501, 503 (also busy).
func (h *Handler) resetPassword(w http.ResponseWriter, r *http.Request) error {
	b, err := readJSON(h, w, r, decodeResetPassword)
	if err != nil {
		return err
	}
	if err := h.a.ResetPassword(r.Context(), b.Token, b.Password); err != nil {
		return actionTokenError(err)
	}
	return writeNoContent(w)
}

// changePassword answers an authenticated POST {"current_password",
// "new_password"} with 204 after changing the password (re-authentication,
// OWASP ASVS 5.0 V6.2.3); every other session of the user ends, the
// caller's stays. A wrong current password is 403 invalid_credentials, not
// 401: the caller's access token is fine, and a 401 challenge would make
// clients discard it. Attempts count against the login lockout (429).
// Errors also: those of Authenticate, 403 user_inactive, 404, 422 password
// policy codes, 400, 413, 415, 503.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	b, err := readJSON(h, w, r, decodeChangePassword)
	if err != nil {
		return err
	}
	if err := h.a.ChangePassword(r.Context(), c, b.CurrentPassword, b.NewPassword); err != nil {
		return reauthError(err)
	}
	return writeNoContent(w)
}

// changeEmail answers an authenticated POST {"password", "new_email"} with
// 202 and {"status":"accepted"} after sending a confirmation token to the
// new address and a notice to the current one; the address changes only
// when the token is confirmed (confirmEmail). A wrong password is 403
// invalid_credentials (see changePassword). An address that is already
// registered is 409 email_taken, or, with
// auth.Config.EnumerationSafe, the same 202 as a free one. Errors
// also: those of Authenticate, 403 user_inactive, 404, 422 invalid_email,
// 429, 400, 413, 415, 501, 503.
func (h *Handler) changeEmail(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	b, err := readJSON(h, w, r, decodeChangeEmail)
	if err != nil {
		return err
	}
	err = h.a.RequestEmailChange(r.Context(), c, b.Password, b.NewEmail)
	if h.a.EnumerationSafe() && errors.Is(err, auth.ErrEmailTaken) {
		err = nil // answer a taken address like a free one (ASVS 5.0 V6.3.8)
	}
	if err != nil {
		return reauthError(err)
	}
	return writeJSON(w, http.StatusAccepted, acceptedBody)
}

// confirmEmail answers POST {"token"} with 200 and the user, now at the
// new, verified, address. Errors: 422 invalid_action_token, 409
// email_taken (someone registered the address meanwhile), 400, 413, 415,
// 501, 503.
func (h *Handler) confirmEmail(w http.ResponseWriter, r *http.Request) error {
	b, err := readJSON(h, w, r, decodeActionToken)
	if err != nil {
		return err
	}
	u, err := h.a.ConfirmEmailChange(r.Context(), b.Token)
	if err != nil {
		return actionTokenError(err)
	}
	return writeJSON(w, http.StatusOK, newUserResponse(u))
}
