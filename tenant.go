package auth

import (
	"context"
	"errors"
	"time"
)

// DefaultTenantID is the ID of the tenant that users join when they register
// without naming one. Migrations create it; EnsureDefaultTenant creates it
// on stores that have no migrations.
const DefaultTenantID = "00000000-0000-0000-0000-000000000001"

// DefaultTenantSlug is the slug of the default tenant.
const DefaultTenantSlug = "default"

// Tenant is an isolated group of users.
type Tenant struct {
	ID        string
	Name      string
	Slug      string
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TenantStore persists tenants. Implementations must be safe for concurrent use.
type TenantStore interface {
	// CreateTenant inserts t, or returns ErrTenantTaken if its ID or slug is in use.
	CreateTenant(ctx context.Context, t *Tenant) error
	// Tenant returns the tenant with the given ID, or ErrTenantNotFound.
	Tenant(ctx context.Context, id string) (*Tenant, error)
	// TenantBySlug returns the tenant with the given slug, or
	// ErrTenantNotFound.
	TenantBySlug(ctx context.Context, slug string) (*Tenant, error)
}

// EnsureDefaultTenant creates the default tenant (DefaultTenantID,
// DefaultTenantSlug) if it does not exist, and returns it. Migrations
// create it for SQL stores; call this once at start-up otherwise.
func (a *Authenticator) EnsureDefaultTenant(ctx context.Context) (_ *Tenant, err error) {
	ctx, end := a.span(ctx, "auth.EnsureDefaultTenant")
	defer end(&err)
	t, err := a.cfg.Tenants.Tenant(ctx, DefaultTenantID)
	if err == nil || !errors.Is(err, ErrTenantNotFound) {
		return t, err
	}
	now := a.cfg.Now().UTC()
	t = &Tenant{ID: DefaultTenantID, Name: "Default", Slug: DefaultTenantSlug, Active: true, CreatedAt: now, UpdatedAt: now}
	if err := a.cfg.Tenants.CreateTenant(ctx, t); err != nil && !errors.Is(err, ErrTenantTaken) {
		return nil, err
	}
	return a.cfg.Tenants.Tenant(ctx, DefaultTenantID)
}

// CreateTenant creates an active tenant. The slug must be 1 to 63 lower-case
// letters, digits and hyphens. Errors: ErrInvalidInput, ErrTenantTaken.
func (a *Authenticator) CreateTenant(ctx context.Context, name, slug string) (_ *Tenant, err error) {
	ctx, end := a.span(ctx, "auth.CreateTenant")
	defer end(&err)
	name, err = validateName(name)
	if err != nil || name == "" || !validSlug(slug) {
		return nil, ErrInvalidInput
	}
	now := a.cfg.Now().UTC()
	t := &Tenant{ID: newID(), Name: name, Slug: slug, Active: true, CreatedAt: now, UpdatedAt: now}
	if err := a.cfg.Tenants.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

func validSlug(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
