package memstore

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"github.com/maestro-ml/auth"
)

func cloneUser(u *auth.User) *auth.User {
	c := *u
	c.Meta = bytes.Clone(u.Meta)
	if u.LastLoginAt != nil {
		t := *u.LastLoginAt
		c.LastLoginAt = &t
	}
	return &c
}

// CreateUser implements auth.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[u.TenantID]; !ok {
		return auth.ErrTenantNotFound
	}
	if _, taken := s.byEmail[u.Email]; taken {
		return auth.ErrEmailTaken
	}
	if _, taken := s.users[u.ID]; taken {
		return auth.ErrConflict
	}
	s.users[u.ID] = cloneUser(u)
	s.byEmail[u.Email] = u.ID
	return nil
}

// User implements auth.UserStore.
func (s *Store) User(ctx context.Context, id string) (*auth.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return nil, auth.ErrUserNotFound
	}
	return cloneUser(u), nil
}

// UserByEmail implements auth.UserStore.
func (s *Store) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byEmail[email]
	if !ok {
		return nil, auth.ErrUserNotFound
	}
	return cloneUser(s.users[id]), nil
}

// UpdateUser implements auth.UserStore.
func (s *Store) UpdateUser(ctx context.Context, tenantID, id string, upd auth.UserUpdate) (*auth.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || (tenantID != "" && u.TenantID != tenantID) {
		return nil, auth.ErrUserNotFound
	}
	if upd.IfPasswordHash != nil && *upd.IfPasswordHash != u.PasswordHash {
		return nil, auth.ErrConflict
	}
	if upd.Email != nil && *upd.Email != u.Email {
		if _, taken := s.byEmail[*upd.Email]; taken {
			return nil, auth.ErrEmailTaken
		}
		delete(s.byEmail, u.Email)
		s.byEmail[*upd.Email] = u.ID
		u.Email = *upd.Email
	}
	set(&u.PasswordHash, upd.PasswordHash)
	set(&u.Name, upd.Name)
	set(&u.Role, upd.Role)
	set(&u.Active, upd.Active)
	set(&u.Verified, upd.Verified)
	if upd.LastLoginAt != nil {
		t := *upd.LastLoginAt
		u.LastLoginAt = &t
	}
	if upd.Meta != nil {
		u.Meta = bytes.Clone(upd.Meta)
	}
	u.UpdatedAt = upd.At
	return cloneUser(u), nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// ListUsers implements auth.UserStore.
func (s *Store) ListUsers(ctx context.Context, q auth.UserQuery) ([]*auth.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*auth.User
	for _, u := range s.users {
		if u.TenantID != q.TenantID || (q.Role != "" && u.Role != q.Role) ||
			(q.Active != nil && u.Active != *q.Active) || (q.Verified != nil && u.Verified != *q.Verified) ||
			(q.After != "" && u.ID <= q.After) || !matchSearch(u, q.Search) {
			continue
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *auth.User) int { return strings.Compare(a.ID, b.ID) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	for i, u := range out {
		out[i] = cloneUser(u)
	}
	return out, nil
}

// matchSearch reports whether u's email or name contains search, ignoring
// case (UserQuery.Search).
func matchSearch(u *auth.User, search string) bool {
	if search == "" {
		return true
	}
	s := strings.ToLower(search)
	return strings.Contains(strings.ToLower(u.Email), s) || strings.Contains(strings.ToLower(u.Name), s)
}
