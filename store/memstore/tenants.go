package memstore

import (
	"context"

	"github.com/maestro-ml/auth"
)

// CreateTenant implements auth.TenantStore.
func (s *Store) CreateTenant(ctx context.Context, t *auth.Tenant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[t.ID]; ok {
		return auth.ErrTenantTaken
	}
	if _, ok := s.slugs[t.Slug]; ok {
		return auth.ErrTenantTaken
	}
	c := *t
	s.tenants[t.ID], s.slugs[t.Slug] = &c, t.ID
	return nil
}

// Tenant implements auth.TenantStore.
func (s *Store) Tenant(ctx context.Context, id string) (*auth.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tenants[id]
	if !ok {
		return nil, auth.ErrTenantNotFound
	}
	c := *t
	return &c, nil
}

// TenantBySlug implements auth.TenantStore.
func (s *Store) TenantBySlug(ctx context.Context, slug string) (*auth.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.slugs[slug]
	if !ok {
		return nil, auth.ErrTenantNotFound
	}
	c := *s.tenants[id]
	return &c, nil
}

// SetTenantActive activates or deactivates a tenant.
func (s *Store) SetTenantActive(ctx context.Context, id string, active bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[id]
	if !ok {
		return auth.ErrTenantNotFound
	}
	t.Active = active
	return nil
}
