package bunstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/maestro-ml/auth"
)

const userCols = "id, tenant_id, email, password_hash, name, role, is_active, is_verified, created_at, updated_at, last_login_at, meta"

type scanner interface{ Scan(dest ...any) error }

func scanUser(sc scanner) (*auth.User, error) {
	u := new(auth.User)
	var role string
	var meta []byte
	if err := sc.Scan(&u.ID, &u.TenantID, &u.Email, &u.PasswordHash, &u.Name, &role, &u.Active, &u.Verified,
		timeDest{&u.CreatedAt}, timeDest{&u.UpdatedAt}, nullTimeDest{&u.LastLoginAt}, &meta); err != nil {
		return nil, err
	}
	u.Role, u.Meta = auth.Role(role), json.RawMessage(meta)
	return u, nil
}

// metaArg returns meta as a query argument: text, so that PostgreSQL reads
// it as jsonb and SQLite as TEXT. Empty means an empty object.
func metaArg(meta json.RawMessage) string {
	if len(meta) == 0 {
		return "{}"
	}
	return string(meta)
}

// hasNUL reports whether any string contains a NUL byte, which neither
// database stores in text.
func hasNUL(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return true
		}
	}
	return false
}

// CreateUser implements auth.UserStore: it inserts u. Errors:
// auth.ErrEmailTaken if the email (compared case-insensitively) is in use,
// auth.ErrTenantNotFound if the tenant does not exist, auth.ErrConflict if
// the ID is in use, auth.ErrInvalidInput for a malformed ID or a value the
// schema refuses, and errors wrapping auth.ErrUnavailable or
// context.Canceled.
func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	if !auth.ValidID(u.TenantID) {
		return auth.ErrTenantNotFound
	}
	if !auth.ValidID(u.ID) || hasNUL(u.Email, u.PasswordHash, u.Name, string(u.Role), string(u.Meta)) {
		return auth.ErrInvalidInput
	}
	var lastLogin any
	if u.LastLoginAt != nil {
		lastLogin = s.at(*u.LastLoginAt)
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO auth_users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		u.ID, u.TenantID, u.Email, u.PasswordHash, u.Name, string(u.Role), u.Active, u.Verified,
		s.at(u.CreatedAt), s.at(u.UpdatedAt), lastLogin, metaArg(u.Meta))
	if err == nil {
		return nil
	}
	switch cls, detail := classify(ctx, err); cls {
	case classUnique:
		if isConstraint(detail, "auth_users_pkey", "auth_users.id") {
			return auth.ErrConflict
		}
		return auth.ErrEmailTaken
	case classForeignKey:
		return auth.ErrTenantNotFound
	default:
		return s.failClass(ctx, "CreateUser", err, cls)
	}
}

// User implements auth.UserStore: it returns the user with the given ID, or
// auth.ErrUserNotFound (also for an ID that is not a canonical UUID).
func (s *Store) User(ctx context.Context, id string) (*auth.User, error) {
	if !auth.ValidID(id) {
		return nil, auth.ErrUserNotFound
	}
	return s.oneUser(ctx, "User", "SELECT "+userCols+" FROM auth_users WHERE id = ?", id)
}

// UserByEmail implements auth.UserStore: it returns the user with the given
// normalised email, or auth.ErrUserNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	if email == "" || hasNUL(email) {
		return nil, auth.ErrUserNotFound
	}
	return s.oneUser(ctx, "UserByEmail", "SELECT "+userCols+" FROM auth_users WHERE email = ?", email)
}

func (s *Store) oneUser(ctx context.Context, op, query string, args ...any) (*auth.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, query, args...))
	if err == nil {
		return u, nil
	}
	cls, _ := classify(ctx, err)
	if cls == classNoRows {
		return nil, auth.ErrUserNotFound
	}
	return nil, s.failClass(ctx, op, err, cls)
}

// UpdateUser implements auth.UserStore: it applies upd to the user id in
// one statement and returns the updated user. A non-empty tenantID scopes
// the update. Errors: auth.ErrUserNotFound (also for a user of another
// tenant), auth.ErrEmailTaken if the new email is in use, auth.ErrConflict
// if upd.IfPasswordHash does not match the stored hash (nothing changes),
// auth.ErrInvalidInput for a value the schema refuses, and errors wrapping
// auth.ErrUnavailable or context.Canceled.
func (s *Store) UpdateUser(ctx context.Context, tenantID, id string, upd auth.UserUpdate) (*auth.User, error) {
	if !auth.ValidID(id) || (tenantID != "" && !auth.ValidID(tenantID)) {
		return nil, auth.ErrUserNotFound
	}
	var set strings.Builder
	args := make([]any, 0, 12)
	add := func(col string, v any) {
		set.WriteString(col)
		set.WriteString(" = ?, ")
		args = append(args, v)
	}
	if upd.Email != nil {
		if hasNUL(*upd.Email) {
			return nil, auth.ErrInvalidInput
		}
		add("email", *upd.Email)
	}
	if upd.PasswordHash != nil {
		if hasNUL(*upd.PasswordHash) {
			return nil, auth.ErrInvalidInput
		}
		add("password_hash", *upd.PasswordHash)
	}
	if upd.Name != nil {
		if hasNUL(*upd.Name) {
			return nil, auth.ErrInvalidInput
		}
		add("name", *upd.Name)
	}
	if upd.Role != nil {
		if hasNUL(string(*upd.Role)) {
			return nil, auth.ErrInvalidInput
		}
		add("role", string(*upd.Role))
	}
	if upd.Active != nil {
		add("is_active", *upd.Active)
	}
	if upd.Verified != nil {
		add("is_verified", *upd.Verified)
	}
	if upd.LastLoginAt != nil {
		add("last_login_at", s.at(*upd.LastLoginAt))
	}
	if upd.Meta != nil {
		if hasNUL(string(upd.Meta)) {
			return nil, auth.ErrInvalidInput
		}
		add("meta", metaArg(upd.Meta))
	}
	set.WriteString("updated_at = ?")
	args = append(args, s.at(upd.At), id)
	where := " WHERE id = ?"
	if tenantID != "" {
		where += " AND tenant_id = ?"
		args = append(args, tenantID)
	}
	if upd.IfPasswordHash != nil {
		where += " AND password_hash = ?"
		args = append(args, *upd.IfPasswordHash)
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, "UPDATE auth_users SET "+set.String()+where+" RETURNING "+userCols, args...))
	if err == nil {
		return u, nil
	}
	switch cls, _ := classify(ctx, err); cls {
	case classNoRows:
		if upd.IfPasswordHash != nil {
			// No row: either no such user, or the condition failed.
			if _, err := s.userInScope(ctx, tenantID, id); err == nil {
				return nil, auth.ErrConflict
			} else if !errors.Is(err, auth.ErrUserNotFound) {
				return nil, err
			}
		}
		return nil, auth.ErrUserNotFound
	case classUnique:
		return nil, auth.ErrEmailTaken
	default:
		return nil, s.failClass(ctx, "UpdateUser", err, cls)
	}
}

// userInScope returns the user id, of tenantID unless it is empty.
func (s *Store) userInScope(ctx context.Context, tenantID, id string) (*auth.User, error) {
	u, err := s.User(ctx, id)
	if err == nil && tenantID != "" && u.TenantID != tenantID {
		return nil, auth.ErrUserNotFound
	}
	return u, err
}

// ListUsers implements auth.UserStore: it returns up to q.Limit (zero or
// negative: 20) users of q.TenantID matching q, ordered by ID, after the
// cursor q.After. Errors: auth.ErrInvalidInput for a cursor that is not a
// canonical UUID, and errors wrapping auth.ErrUnavailable or
// context.Canceled.
func (s *Store) ListUsers(ctx context.Context, q auth.UserQuery) ([]*auth.User, error) {
	if q.After != "" && !auth.ValidID(q.After) {
		return nil, auth.ErrInvalidInput
	}
	if !auth.ValidID(q.TenantID) {
		return []*auth.User{}, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	var b strings.Builder
	b.WriteString("SELECT " + userCols + " FROM auth_users WHERE tenant_id = ?")
	args := []any{q.TenantID}
	if q.Role != "" {
		b.WriteString(" AND role = ?")
		args = append(args, string(q.Role))
	}
	if q.Active != nil {
		b.WriteString(" AND is_active = ?")
		args = append(args, *q.Active)
	}
	if q.Verified != nil {
		b.WriteString(" AND is_verified = ?")
		args = append(args, *q.Verified)
	}
	if q.Search != "" {
		// lower() on both sides: PostgreSQL's LIKE is case-sensitive,
		// SQLite's folds ASCII only. The pattern's wildcards are escaped.
		b.WriteString(` AND (lower(email) LIKE ? ESCAPE '\' OR lower(name) LIKE ? ESCAPE '\')`)
		p := "%" + likeEscaper.Replace(strings.ToLower(q.Search)) + "%"
		args = append(args, p, p)
	}
	if q.After != "" {
		b.WriteString(" AND id > ?")
		args = append(args, q.After)
	}
	b.WriteString(" ORDER BY id LIMIT ?")
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, s.fail(ctx, "ListUsers", err)
	}
	defer rows.Close()
	out := make([]*auth.User, 0, min(limit, 128))
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, s.fail(ctx, "ListUsers", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "ListUsers", err)
	}
	return out, nil
}

const tenantCols = "id, name, slug, is_active, created_at, updated_at"

// CreateTenant implements auth.TenantStore: it inserts t. Errors:
// auth.ErrTenantTaken if its ID or slug is in use, auth.ErrInvalidInput for
// a malformed ID or a value the schema refuses, and errors wrapping
// auth.ErrUnavailable or context.Canceled.
func (s *Store) CreateTenant(ctx context.Context, t *auth.Tenant) error {
	if !auth.ValidID(t.ID) || hasNUL(t.Name, t.Slug) {
		return auth.ErrInvalidInput
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO auth_tenants ("+tenantCols+") VALUES (?, ?, ?, ?, ?, ?)",
		t.ID, t.Name, t.Slug, t.Active, s.at(t.CreatedAt), s.at(t.UpdatedAt))
	if err == nil {
		return nil
	}
	cls, _ := classify(ctx, err)
	if cls == classUnique {
		return auth.ErrTenantTaken
	}
	return s.failClass(ctx, "CreateTenant", err, cls)
}

// Tenant implements auth.TenantStore: it returns the tenant with the given
// ID, or auth.ErrTenantNotFound (also for an ID that is not a canonical UUID).
func (s *Store) Tenant(ctx context.Context, id string) (*auth.Tenant, error) {
	if !auth.ValidID(id) {
		return nil, auth.ErrTenantNotFound
	}
	return s.tenantBy(ctx, "Tenant", "id", id)
}

// TenantBySlug implements auth.TenantStore: it returns the tenant with the
// given slug, or auth.ErrTenantNotFound. Errors also wrap
// auth.ErrUnavailable or context.Canceled.
func (s *Store) TenantBySlug(ctx context.Context, slug string) (*auth.Tenant, error) {
	if slug == "" || len(slug) > 63 || hasNUL(slug) {
		return nil, auth.ErrTenantNotFound
	}
	return s.tenantBy(ctx, "TenantBySlug", "slug", slug)
}

// tenantBy reads the tenant whose column col (a constant) equals v.
func (s *Store) tenantBy(ctx context.Context, op, col, v string) (*auth.Tenant, error) {
	t := new(auth.Tenant)
	err := s.db.QueryRowContext(ctx, "SELECT "+tenantCols+" FROM auth_tenants WHERE "+col+" = ?", v).
		Scan(&t.ID, &t.Name, &t.Slug, &t.Active, timeDest{&t.CreatedAt}, timeDest{&t.UpdatedAt})
	if err == nil {
		return t, nil
	}
	cls, _ := classify(ctx, err)
	if cls == classNoRows {
		return nil, auth.ErrTenantNotFound
	}
	return nil, s.failClass(ctx, op, err, cls)
}

// SetTenantActive activates or deactivates a tenant; the users of an
// inactive tenant cannot log in or refresh. It returns auth.ErrTenantNotFound
// if there is no such tenant.
func (s *Store) SetTenantActive(ctx context.Context, id string, active bool) error {
	if !auth.ValidID(id) {
		return auth.ErrTenantNotFound
	}
	res, err := s.db.ExecContext(ctx, "UPDATE auth_tenants SET is_active = ?, updated_at = ? WHERE id = ?", active, s.at(s.now()), id)
	if err != nil {
		return s.fail(ctx, "SetTenantActive", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.fail(ctx, "SetTenantActive", err)
	} else if n == 0 {
		return auth.ErrTenantNotFound
	}
	return nil
}

// likeEscaper escapes the wildcards of a LIKE pattern (ESCAPE '\\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
