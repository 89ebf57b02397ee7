package auth

import (
	"context"
	"errors"
	"slices"
)

// Register creates an active, unverified user with Config.DefaultRole in
// tenantID (empty: the default tenant). The role never comes from the
// caller. Errors: ErrInvalidEmail, a password policy error, ErrEmailTaken,
// ErrTenantNotFound, ErrInvalidInput, *RateLimitError.
func (a *Authenticator) Register(ctx context.Context, r RegisterRequest) (_ *User, err error) {
	ctx, end := a.span(ctx, "auth.Register")
	defer end(&err)
	if err := a.allowIP(ctx, "register", r.Client.IP, a.cfg.Limits.RegisterPerIP); err != nil {
		if errors.Is(err, ErrRateLimited) { // not when the limiter is unavailable
			a.emit(ctx, Event{Type: EventRateLimited, Reason: "register_ip", IP: r.Client.IP, UserAgent: r.Client.UserAgent})
		}
		return nil, err
	}
	u, err := a.createUser(ctx, CreateUserRequest{
		TenantID: r.TenantID, Email: r.Email, Password: r.Password, Name: r.Name, Meta: r.Meta,
		Role: a.cfg.DefaultRole,
	})
	switch {
	case err == nil:
		a.emit(ctx, Event{Type: EventUserRegistered, UserID: u.ID, TenantID: u.TenantID, IP: r.Client.IP, UserAgent: r.Client.UserAgent})
		if a.lifecycleReady() == nil {
			if verr := a.RequestVerification(ctx, u.ID); verr != nil {
				a.cfg.Logger.WarnContext(ctx, "auth: verification message not sent", "user", u.ID, "error", verr)
			}
		}
	case errors.Is(err, ErrEmailTaken) && a.cfg.Notifier != nil:
		// Tell the owner; an enumeration-safe HTTP answer hides it from the caller.
		email, _ := NormalizeEmail(r.Email)
		if a.allow(ctx, "exists:acct:"+email, a.cfg.Limits.ResetPerAccount) == nil {
			if owner, oerr := a.cfg.Users.UserByEmail(ctx, email); oerr == nil {
				a.notifyQuietly(ctx, Message{Kind: MessageAccountExists, To: owner.Email, UserID: owner.ID, TenantID: owner.TenantID})
			}
		}
	}
	return u, err
}

// RegisterRequest is the input of Register: only what a user may choose.
type RegisterRequest struct {
	Email    string
	Password string
	Name     string
	// TenantID is the tenant to join; empty means DefaultTenantID. Any
	// active tenant whose ID the caller knows can be joined: expose it to
	// end users only if your tenants are open to self-registration.
	TenantID string
	// Meta is an optional JSON object of application data.
	Meta []byte
	// Client is the registering client, for per-IP rate limits.
	Client ClientInfo
}

// CreateUserRequest is the input of CreateUser, an administrative operation.
type CreateUserRequest struct {
	TenantID string
	Email    string
	Password string
	Name     string
	// Role must be one of Config.Roles. Zero: Config.DefaultRole.
	Role     Role
	Verified bool
	Meta     []byte
}

// CreateUser creates an active user with the given role, for administrators
// and provisioning. Errors as for Register, plus ErrInvalidRole.
func (a *Authenticator) CreateUser(ctx context.Context, n CreateUserRequest) (_ *User, err error) {
	ctx, end := a.span(ctx, "auth.CreateUser")
	defer end(&err)
	u, err := a.createUser(ctx, n)
	if err == nil {
		a.emit(ctx, Event{Type: EventUserCreated, UserID: u.ID, TenantID: u.TenantID, Reason: "role " + string(u.Role)})
	}
	return u, err
}

func (a *Authenticator) createUser(ctx context.Context, n CreateUserRequest) (*User, error) {
	email, err := NormalizeEmail(n.Email)
	if err != nil {
		return nil, err
	}
	if err := a.cfg.Password.Check(n.Password, email); err != nil {
		return nil, err
	}
	name, err := validateName(n.Name)
	if err != nil {
		return nil, err
	}
	meta, err := validateMeta(n.Meta)
	if err != nil {
		return nil, err
	}
	role := n.Role
	if role == "" {
		role = a.cfg.DefaultRole
	}
	if !slices.Contains(a.cfg.Roles, role) {
		return nil, ErrInvalidRole
	}
	tenantID := n.TenantID
	if tenantID == "" {
		tenantID = DefaultTenantID
	}
	if !ValidID(tenantID) {
		return nil, ErrTenantNotFound
	}
	t, err := a.cfg.Tenants.Tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return nil, ErrTenantNotFound
	}
	hash, err := a.cfg.Hasher.Hash(ctx, n.Password)
	if err != nil {
		return nil, err
	}
	now := a.cfg.Now().UTC()
	u := &User{
		ID: newID(), TenantID: tenantID, Email: email, PasswordHash: hash, Name: name, Role: role,
		Active: true, Verified: n.Verified, CreatedAt: now, UpdatedAt: now, Meta: meta,
	}
	if err := a.cfg.Users.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}
