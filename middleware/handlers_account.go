package middleware

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/maestro-ml/auth"
)

// registerBody is the request body of registration. Its json tags are the
// only accepted field names.
type registerBody struct {
	Email    string          `json:"email"`
	Password string          `json:"password"`
	Name     string          `json:"name"`
	Meta     json.RawMessage `json:"meta"`
}

func decodeRegister(body []byte) (b registerBody, err error) {
	if err := decodeObject(body, &b, "email", "password"); err != nil {
		return b, err
	}
	return b, checkMeta(b.Meta)
}

// checkMeta checks that meta, if present, is a JSON object, as the schema
// says; the Authenticator checks it again, with its size limit.
func checkMeta(meta json.RawMessage) error {
	if len(meta) > 0 && meta[0] != '{' {
		return withField(errFieldType, "meta")
	}
	return nil
}

// register answers POST {"email", "password", "name"?, "meta"?} with 201
// and the new user (role: auth.Config.DefaultRole, in the default tenant),
// or, with auth.Config.EnumerationSafe, 202 whether or not the address
// was taken. The caller cannot choose the role, tenant, active or verified
// flags: such fields, in any case, are 400 unknown_field (mass
// assignment, OWASP ASVS 5.0 V15.3). Errors: 400, 409 email_taken, 413,
// 415, 422 (invalid email, password policy, ...), 429, 503.
func (h *Handler) register(w http.ResponseWriter, r *http.Request) error {
	b, err := readJSON(h, w, r, decodeRegister)
	if err != nil {
		return err
	}
	u, err := h.a.Register(r.Context(), auth.RegisterRequest{
		Email: b.Email, Password: b.Password, Name: b.Name, Meta: b.Meta, Client: h.client(r),
	})
	if h.a.EnumerationSafe() && (err == nil || errors.Is(err, auth.ErrEmailTaken)) {
		return writeJSON(w, http.StatusAccepted, acceptedBody)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, newUserResponse(u))
}

// me answers an authenticated GET with 200 and the current user. Errors:
// those of Authenticate, and 404 if the user no longer exists.
func (h *Handler) me(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	u, err := h.a.CurrentUser(r.Context(), c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newUserResponse(u))
}
