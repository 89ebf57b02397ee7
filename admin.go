package auth

import (
	"context"
	"slices"
	"unicode"
	"unicode/utf8"
)

// tenantOf returns the tenant of a user for an audit record, or "".
func (a *Authenticator) tenantOf(ctx context.Context, userID string) string {
	if c, ok := ClaimsFromContext(ctx); ok && c.UserID == userID {
		return c.TenantID
	}
	if u, err := a.cfg.Users.User(ctx, userID); err == nil {
		return u.TenantID
	}
	return ""
}

// CurrentUser returns the user an access token was issued to. It reads the
// user store; ErrUserNotFound if the user was deleted.
func (a *Authenticator) CurrentUser(ctx context.Context, c *Claims) (*User, error) {
	u, err := a.cfg.Users.User(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	if u.TenantID != c.TenantID {
		return nil, ErrUserNotFound
	}
	return u, nil
}

// User returns a user of the tenant; a user of another tenant is ErrUserNotFound.
func (a *Authenticator) User(ctx context.Context, tenantID, userID string) (*User, error) {
	if !ValidID(userID) {
		return nil, ErrUserNotFound
	}
	u, err := a.cfg.Users.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.TenantID != tenantID {
		return nil, ErrUserNotFound
	}
	return u, nil
}

// ListUsers returns a page of the tenant's users ordered by ID, and the
// cursor for the next page (empty on the last page). Errors:
// ErrTenantNotFound, ErrInvalidRole, ErrInvalidInput (a limit out of
// range, a malformed cursor or search).
func (a *Authenticator) ListUsers(ctx context.Context, q UserQuery) ([]*User, string, error) {
	if q.TenantID == "" {
		return nil, "", ErrTenantNotFound
	}
	switch {
	case q.Limit == 0:
		q.Limit = 20
	case q.Limit < 0 || q.Limit > 100:
		return nil, "", ErrInvalidInput
	}
	if q.After != "" && !ValidID(q.After) {
		return nil, "", ErrInvalidInput
	}
	if q.Role != "" && !slices.Contains(a.cfg.Roles, q.Role) {
		return nil, "", ErrInvalidRole
	}
	if !ValidSearch(q.Search) {
		return nil, "", ErrInvalidInput
	}
	limit := q.Limit
	q.Limit++ // one more tells whether there is a next page
	users, err := a.cfg.Users.ListUsers(ctx, q)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = users[limit-1].ID
	}
	return users, next, nil
}

// UpdateUserRequest is what an administrator may change about a user.
type UpdateUserRequest struct {
	Role     *Role
	Active   *bool
	Verified *bool
}

// UpdateUser applies an administrator's change to a user of the tenant. A
// role change or deactivation takes effect at once: the user's existing
// access tokens are revoked (deactivation also ends every session), and the
// next refresh carries the new role. Removing the verified flag under
// Config.RequireVerifiedEmail or EnumerationSafe ends every session like a
// deactivation. Each changed field is an audit event naming the actor
// (from the context's claims) and the old and new values. Errors: ErrUserNotFound (also for a
// user of another tenant), ErrInvalidRole.
func (a *Authenticator) UpdateUser(ctx context.Context, tenantID, userID string, upd UpdateUserRequest) (_ *User, err error) {
	ctx, end := a.span(ctx, "auth.UpdateUser")
	defer end(&err)
	if !ValidID(userID) || tenantID == "" {
		return nil, ErrUserNotFound
	}
	if upd.Role != nil && !slices.Contains(a.cfg.Roles, *upd.Role) {
		return nil, ErrInvalidRole
	}
	before, err := a.User(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	now := a.cfg.Now().UTC()
	u, err := a.cfg.Users.UpdateUser(ctx, tenantID, userID, UserUpdate{Role: upd.Role, Active: upd.Active, Verified: upd.Verified, At: now})
	if err != nil {
		return nil, err
	}
	roleChanged := u.Role != before.Role
	deactivated := before.Active && !u.Active
	// Under a verified-only policy, losing the verification is like a
	// deactivation: the user's tokens and sessions end at once.
	unverified := before.Verified && !u.Verified && (a.cfg.RequireVerifiedEmail || a.cfg.EnumerationSafe)
	if roleChanged || deactivated || unverified {
		if err := a.cutoff(ctx, userID, deactivated || unverified); err != nil {
			return nil, err
		}
	}
	ev := Event{UserID: userID, TenantID: tenantID}
	if roleChanged {
		ev.Type, ev.Reason = EventRoleChanged, string(before.Role)+"->"+string(u.Role)
		a.emit(ctx, ev)
	}
	if before.Active != u.Active {
		ev.Type, ev.Reason = EventActivationChanged, map[bool]string{true: "activated", false: "deactivated"}[u.Active]
		a.emit(ctx, ev)
	}
	if !before.Verified && u.Verified {
		ev.Type, ev.Reason = EventEmailVerified, "administrator"
		a.emit(ctx, ev)
	}
	if before.Verified && !u.Verified {
		ev.Type, ev.Reason = EventVerificationRemoved, "verified->unverified"
		a.emit(ctx, ev)
	}
	return u, nil
}

// MaxSearchLength bounds UserQuery.Search, in bytes.
const MaxSearchLength = 100

// ValidSearch reports whether s is a UserQuery.Search the stores take: at
// most MaxSearchLength bytes of valid UTF-8 without control characters.
func ValidSearch(s string) bool {
	if len(s) > MaxSearchLength || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
