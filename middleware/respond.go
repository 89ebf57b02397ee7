package middleware

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/maestro-ml/auth"
)

// userResponse is the user in every response that carries one.
type userResponse struct {
	ID          string          `json:"id"`
	TenantID    string          `json:"tenant_id"`
	Email       string          `json:"email"`
	Name        string          `json:"name"`
	Role        auth.Role       `json:"role"`
	Active      bool            `json:"active"`
	Verified    bool            `json:"verified"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	LastLoginAt *time.Time      `json:"last_login_at"`
	Meta        json.RawMessage `json:"meta"`
}

func newUserResponse(u *auth.User) *userResponse {
	meta := u.Meta
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	return &userResponse{
		ID: u.ID, TenantID: u.TenantID, Email: u.Email, Name: u.Name, Role: u.Role, Active: u.Active,
		Verified: u.Verified, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastLoginAt: u.LastLoginAt, Meta: meta,
	}
}

// accepted is the body of every 202: the request was taken, and nothing
// more is said (enumeration-safe registration, password reset, e-mail
// change).
type accepted struct {
	Status string `json:"status"`
}

var acceptedBody = accepted{Status: "accepted"}

// writeJSON writes v as the JSON body of a status response. It returns an
// error, having written nothing, only if v cannot be encoded.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("middleware: encoding response: %w", err)
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// writeNoContent writes a 204. It returns nil, to end an endpoint with.
func writeNoContent(w http.ResponseWriter) error {
	securityHeaders(w.Header())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readJSON reads the body of r, at most the configured limit, and decodes
// it with decode.
func readJSON[T any](h *Handler, w http.ResponseWriter, r *http.Request, decode func([]byte) (T, error)) (T, error) {
	body, err := readBody(w, r, h.c.bodyLimit)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode(body)
}
