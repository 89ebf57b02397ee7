package middleware

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/maestro-ml/auth"
)

// The user-administration endpoints are for the admin role (WithAdminRole)
// and scoped to the caller's tenant: another tenant's user is 404, exactly
// like one that does not exist. Their errors include those of
// Authenticate and 403 insufficient_role.

// Request bodies of the administration endpoints. Their json tags are the
// only accepted field names.
type (
	createUserBody struct {
		Email    string          `json:"email"`
		Password string          `json:"password"`
		Name     string          `json:"name"`
		Role     auth.Role       `json:"role"`
		Verified bool            `json:"verified"`
		Meta     json.RawMessage `json:"meta"`
	}
	updateUserBody struct {
		Role     *auth.Role `json:"role"`
		Active   *bool      `json:"active"`
		Verified *bool      `json:"verified"`
	}
)

func decodeCreateUser(body []byte) (b createUserBody, err error) {
	if err := decodeObject(body, &b, "email", "password"); err != nil {
		return b, err
	}
	return b, checkMeta(b.Meta)
}

func decodeUpdateUser(body []byte) (b updateUserBody, err error) {
	return b, decodeObject(body, &b)
}

// userList is the body of a user listing.
type userList struct {
	Users      []*userResponse `json:"users"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// listUsers answers GET with 200 and a page of the users of the caller's
// tenant ordered by ID. Query parameters: limit (1-100, default 20),
// cursor (the next_cursor of the previous page), role, active (true or
// false). Errors also: 400 invalid_parameter for an unknown, repeated or
// invalid parameter.
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	q, err := h.userQuery(r)
	if err != nil {
		return err
	}
	users, next, err := h.a.ListUsers(r.Context(), q)
	if err != nil {
		return err
	}
	out := userList{Users: make([]*userResponse, 0, len(users)), NextCursor: next}
	for _, u := range users {
		out.Users = append(out.Users, newUserResponse(u))
	}
	return writeJSON(w, http.StatusOK, out)
}

// userQuery parses the query of a user listing, scoped to the caller's
// tenant. Every parameter must be known, given once and valid.
func (h *Handler) userQuery(r *http.Request) (auth.UserQuery, error) {
	q := auth.UserQuery{TenantID: TenantID(r)}
	err := queryParams(r, func(name, v string) bool {
		switch name {
		case "limit":
			return pageLimit(v, &q.Limit)
		case "cursor":
			q.After = v
			return auth.ValidID(v)
		case "role":
			q.Role = auth.Role(v)
			return slices.Contains(h.a.Roles(), q.Role)
		case "active":
			b, err := strconv.ParseBool(v)
			q.Active = &b
			return err == nil && (v == "true" || v == "false")
		case "verified":
			b, err := strconv.ParseBool(v)
			q.Verified = &b
			return err == nil && (v == "true" || v == "false")
		case "search":
			q.Search = v
			return v != "" && auth.ValidSearch(v)
		}
		return false
	})
	return q, err
}

// getUser answers GET of the user named by the path wildcard {id} with
// 200 and the user. Errors also: 404.
func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := h.a.User(r.Context(), TenantID(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newUserResponse(u))
}

// updateUser answers PATCH {"role"?, "active"?, "verified"?} of the user
// named by {id} with 200 and the updated user; role changes and
// deactivation revoke the user's tokens at once. An administrator cannot
// change their own role or active flag (403 self_modification: no
// accidental lock-out), grant a role above their own or manage a user
// ranked above them (403 role_above_caller). Errors also: 404, 400, 413,
// 415, 422 invalid_role.
func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	id := r.PathValue("id")
	b, err := readJSON(h, w, r, decodeUpdateUser)
	if err != nil {
		return err
	}
	if id == c.UserID && (b.Role != nil || b.Active != nil) {
		return errSelfModification
	}
	if b.Role != nil && h.aboveCaller(c, *b.Role) {
		return errRoleAboveCaller
	}
	target, err := h.a.User(r.Context(), c.TenantID, id)
	if err != nil {
		return err
	}
	if h.aboveCaller(c, target.Role) {
		return errRoleAboveCaller
	}
	u, err := h.a.UpdateUser(r.Context(), c.TenantID, id, auth.UpdateUserRequest{Role: b.Role, Active: b.Active, Verified: b.Verified})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newUserResponse(u))
}

// createUser answers POST {"email", "password", "name"?, "role"?,
// "verified"?, "meta"?} with 201, a Location and the new user, created
// active in the caller's tenant (the tenant is never taken from the
// body). Errors also: 403 role_above_caller, 400, 409 email_taken, 413,
// 415, 422.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	b, err := readJSON(h, w, r, decodeCreateUser)
	if err != nil {
		return err
	}
	if b.Role != "" && h.aboveCaller(c, b.Role) {
		return errRoleAboveCaller
	}
	u, err := h.a.CreateUser(r.Context(), auth.CreateUserRequest{
		TenantID: c.TenantID, Email: b.Email, Password: b.Password, Name: b.Name, Role: b.Role,
		Verified: b.Verified, Meta: b.Meta,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", h.c.prefix+"/users/"+u.ID)
	return writeJSON(w, http.StatusCreated, newUserResponse(u))
}

// unlockUser answers POST by lifting the login lockout of the user named
// by the path wildcard {id} (auth.Authenticator.Unlock of the user's
// address) with 204. A user ranked above the caller is 403
// role_above_caller (least privilege, OWASP ASVS 5.0 V8.2). Errors also:
// 404, 503.
func (h *Handler) unlockUser(w http.ResponseWriter, r *http.Request) error {
	u, err := h.manageable(r)
	if err != nil {
		return err
	}
	if err := h.a.Unlock(r.Context(), u.Email); err != nil {
		return err
	}
	return writeNoContent(w)
}

// manageable returns the user the path's {id} names, of the caller's
// tenant and not ranked above the caller.
func (h *Handler) manageable(r *http.Request) (*auth.User, error) {
	c, _ := ClaimsFrom(r)
	u, err := h.a.User(r.Context(), c.TenantID, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if h.aboveCaller(c, u.Role) {
		return nil, errRoleAboveCaller
	}
	return u, nil
}

// aboveCaller reports whether role is a known role ranked above the
// caller's (least privilege, OWASP ASVS 5.0 V8.2). Unknown roles are
// left for the Authenticator to refuse with ErrInvalidRole.
func (h *Handler) aboveCaller(c *auth.Claims, role auth.Role) bool {
	return slices.Contains(h.a.Roles(), role) && !h.a.RoleAtLeast(c.Role, role)
}
