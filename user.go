package auth

import (
	"context"
	"encoding/json"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"
)

// Role names a user's level of privilege within a tenant. Config.Roles
// orders the known roles from least to most privileged.
type Role string

// The default role hierarchy, least privileged first.
const (
	RoleViewer Role = "viewer"
	RoleEditor Role = "editor"
	RoleAdmin  Role = "admin"
)

// Limits on user fields, enforced before anything reaches a store.
const (
	MaxEmailBytes = 254 // RFC 5321 §4.5.3.1.3 path limit less the angle brackets
	MaxNameBytes  = 200
	MaxMetaBytes  = 16 << 10
)

// User is an account. PasswordHash is never serialised to JSON.
type User struct {
	ID           string
	TenantID     string
	Email        string
	PasswordHash string `json:"-"`
	Name         string
	Role         Role
	Active       bool
	Verified     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastLoginAt  *time.Time
	Meta         json.RawMessage
}

// UserUpdate lists the fields to change; nil fields are left alone.
// UpdatedAt is set by the store to At.
type UserUpdate struct {
	Email        *string
	PasswordHash *string
	Name         *string
	Role         *Role
	Active       *bool
	Verified     *bool
	LastLoginAt  *time.Time
	Meta         json.RawMessage
	// IfPasswordHash, if set, makes the update conditional: it applies only
	// if the stored password hash still equals *IfPasswordHash; otherwise
	// nothing changes and UpdateUser returns ErrConflict. It guards writes
	// made after a password was verified against a concurrent change.
	IfPasswordHash *string
	// At is the time of the change. Required.
	At time.Time
}

// UserQuery selects a page of a tenant's users, ordered by ID.
type UserQuery struct {
	TenantID string
	// Role filters by role when non-empty.
	Role Role
	// Active filters by the active flag when non-nil.
	Active *bool
	// Verified filters by the verified flag when non-nil.
	Verified *bool
	// Search, if set, keeps users whose email or name contains it,
	// ignoring case (in SQLite, the case of ASCII letters only): an
	// administrator's search box. At most MaxSearchLength bytes of valid
	// UTF-8 without control characters.
	Search string
	// After is the cursor: the last ID of the previous page, or empty.
	After string
	// Limit is the page size, 1 to 100. Zero: 20.
	Limit int
}

// UserStore persists users. Implementations must be safe for concurrent use.
// Emails arrive normalised (see NormalizeEmail); uniqueness is global.
type UserStore interface {
	// CreateUser inserts u, whose ID is set. It returns ErrEmailTaken if
	// the email is in use and ErrTenantNotFound if the tenant does not exist.
	CreateUser(ctx context.Context, u *User) error
	// User returns the user with the given ID, or ErrUserNotFound.
	User(ctx context.Context, id string) (*User, error)
	// UserByEmail returns the user with the given normalised email, or
	// ErrUserNotFound.
	UserByEmail(ctx context.Context, email string) (*User, error)
	// UpdateUser applies upd to the user id atomically and returns the
	// updated user. A non-empty tenantID scopes the update: a user of
	// another tenant is ErrUserNotFound. A new email that is taken is
	// ErrEmailTaken; a failed upd.IfPasswordHash condition is ErrConflict.
	UpdateUser(ctx context.Context, tenantID, id string, upd UserUpdate) (*User, error)
	// ListUsers returns up to q.Limit users matching q, ordered by ID.
	ListUsers(ctx context.Context, q UserQuery) ([]*User, error)
}

// NormalizeEmail returns the canonical form of an email address: trimmed,
// NFKC-normalised and lower-cased, so that "Kate@X.com" and "kate@x.com"
// are one account. It returns ErrInvalidEmail unless the input is a single
// bare addr-spec (no display name, comment or group) of at most
// MaxEmailBytes with a local part of at most 64 bytes and a dotted domain.
func NormalizeEmail(email string) (string, error) {
	if len(email) > 4*MaxEmailBytes || !utf8.ValidString(email) {
		return "", ErrInvalidEmail
	}
	e := strings.ToLower(norm.NFKC.String(strings.TrimSpace(email)))
	if e == "" || len(e) > MaxEmailBytes || strings.ContainsFunc(e, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '<' || r == '>' || r == '(' || r == ')' || r == ',' || r == ';' || r == '"' || r == '\\'
	}) {
		return "", ErrInvalidEmail
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Name != "" || addr.Address != e {
		return "", ErrInvalidEmail
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || len(local) > 64 || strings.Contains(domain, "@") ||
		!strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", ErrInvalidEmail
	}
	return e, nil
}

// ValidID reports whether id is a canonical lower-case UUID, the form of
// every ID this package creates. Calls taking an ID return a not-found
// error for anything else, without consulting a store.
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// validateMeta checks that meta is empty or a JSON object within MaxMetaBytes.
func validateMeta(meta json.RawMessage) (json.RawMessage, error) {
	if len(meta) == 0 {
		return json.RawMessage("{}"), nil
	}
	if len(meta) > MaxMetaBytes || !json.Valid(meta) {
		return nil, ErrInvalidInput
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(meta, &obj); err != nil || obj == nil {
		return nil, ErrInvalidInput
	}
	return meta, nil
}

// validateName checks a display name: valid UTF-8 without control
// characters, at most MaxNameBytes.
func validateName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if len(name) > MaxNameBytes || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return "", ErrInvalidInput
	}
	return name, nil
}

func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}
