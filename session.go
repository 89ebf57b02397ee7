package auth

import (
	"context"
	"time"
)

// Session is one login: a family of refresh tokens, each replacing the one
// before. Only SHA-256 hashes of refresh tokens are stored.
type Session struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	TenantID string `json:"tenant_id"`
	// RefreshHash is the hash of the refresh token that is valid now.
	RefreshHash []byte `json:"-"`
	// PreviousHash is the hash of the token RefreshHash replaced, kept to
	// tell a concurrent retry (within the grace window) from reuse.
	PreviousHash []byte `json:"-"`
	// RotatedAt is when RefreshHash replaced PreviousHash; zero before the
	// first rotation.
	RotatedAt  time.Time `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	// IdleExpiresAt is when the session ends unless refreshed; never later
	// than ExpiresAt.
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time `json:"expires_at"`
	// RevokedAt is when the session was revoked; zero while it is live.
	RevokedAt time.Time `json:"-"`
	UserAgent string    `json:"user_agent"`
	IP        string    `json:"ip"`
}

// Live reports whether the session is neither revoked nor expired at now.
func (s *Session) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.IdleExpiresAt) && now.Before(s.ExpiresAt)
}

// Rotation replaces a session's refresh token.
type Rotation struct {
	// From is the hash the session must currently hold.
	From []byte
	// To is the hash of the new refresh token.
	To []byte
	// At is the time of the rotation; it becomes RotatedAt and LastUsedAt.
	At time.Time
	// IdleExpiresAt is the new idle expiry.
	IdleExpiresAt time.Time
}

// SessionRevocation selects the sessions RevokeSessions ends.
type SessionRevocation struct {
	// UserID is required: only this user's sessions are touched.
	UserID string
	// SessionID, if set, limits the revocation to that one session.
	SessionID string
	// ExceptID, if set, spares that session ("sign out other devices").
	ExceptID string
	// At is the revocation time.
	At time.Time
}

// SessionStore persists sessions. Implementations must be safe for
// concurrent use.
type SessionStore interface {
	// CreateSession inserts s, whose ID is set.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByRefreshHash returns the session whose current refresh hash,
	// or any hash it has replaced since the session began, equals hash,
	// revoked or not; otherwise ErrSessionNotFound. Keeping every replaced
	// hash until the session is swept is what lets reuse of a token that is
	// several rotations old be detected as theft (RFC 9700 §4.14.2).
	SessionByRefreshHash(ctx context.Context, hash []byte) (*Session, error)
	// RotateSession atomically replaces the refresh hash of session id if,
	// and only if, it still equals r.From and the session is not revoked:
	// of any number of concurrent calls with the same From, exactly one
	// succeeds and the others get ErrConflict. It returns the updated
	// session, or ErrSessionNotFound if there is no such session.
	RotateSession(ctx context.Context, id string, r Rotation) (*Session, error)
	// ListSessions returns the user's sessions that are not revoked and not
	// expired at now, newest first.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]*Session, error)
	// RevokeSessions marks the selected sessions that are not revoked yet
	// (expired ones included) revoked at r.At and returns their IDs; none
	// selected is not an error.
	RevokeSessions(ctx context.Context, r SessionRevocation) ([]string, error)
}

// RevocationKind says what a deny-list entry revokes.
type RevocationKind uint8

// Kinds of deny-list entries.
const (
	// RevokeToken revokes one access token by its jti.
	RevokeToken RevocationKind = iota + 1
	// RevokeSession revokes every access token carrying the session ID.
	RevokeSession
	// RevokeUser revokes every access token of the user issued at or
	// before the entry's time (a cutoff that only moves forward).
	RevokeUser
)

// Valid reports whether r can be stored: a known kind, a non-empty ID,
// and non-zero At and ExpiresAt.
func (r Revocation) Valid() bool {
	return r.Kind >= RevokeToken && r.Kind <= RevokeUser && r.ID != "" && !r.At.IsZero() && !r.ExpiresAt.IsZero()
}

// String returns "token", "session" or "user".
func (k RevocationKind) String() string {
	switch k {
	case RevokeToken:
		return "token"
	case RevokeSession:
		return "session"
	case RevokeUser:
		return "user"
	}
	return "unknown"
}

// Revocation is one deny-list entry.
type Revocation struct {
	Kind RevocationKind
	ID   string
	// At is the revocation time; for RevokeUser, the cutoff.
	At time.Time
	// ExpiresAt is when the entry may be forgotten: once every token it
	// could match has expired.
	ExpiresAt time.Time
}

// RevocationQuery names the three entries that can revoke one access token.
type RevocationQuery struct {
	TokenID   string
	SessionID string
	UserID    string
}

// RevocationStatus is the answer to a RevocationQuery.
type RevocationStatus struct {
	TokenRevoked   bool
	SessionRevoked bool
	// UserCutoff is zero or the latest RevokeUser time for the user.
	UserCutoff time.Time
}

// Revokes reports whether the status revokes a token issued at iat, with
// millisecond precision: a cutoff revokes tokens issued at or before it.
func (s RevocationStatus) Revokes(iat time.Time) bool {
	return s.TokenRevoked || s.SessionRevoked || (!s.UserCutoff.IsZero() && iat.UnixMilli() <= s.UserCutoff.UnixMilli())
}

// RevocationStore is the deny-list Authenticate consults on every request.
// Implementations must be safe for concurrent use and should answer Revoked
// without a network round trip in the common case (see store/redisstore).
type RevocationStore interface {
	// Revoke records r. For RevokeUser, a cutoff earlier than the stored
	// one is ignored. Entries must be kept at least until r.ExpiresAt.
	// Once Revoke returns, Revoked on the same store reports the entry
	// (read your writes). An unknown kind, an empty ID, a zero ExpiresAt or
	// a zero At is ErrInvalidInput. An unreachable store yields an error
	// wrapping ErrUnavailable, never a false success.
	Revoke(ctx context.Context, r Revocation) error
	// Revoked returns the status of the three entries of q in one look-up.
	// An unreachable store yields an error wrapping ErrUnavailable.
	Revoked(ctx context.Context, q RevocationQuery) (RevocationStatus, error)
}

// Sweeper is implemented by stores that delete expired sessions,
// revocations and action tokens when asked (memstore and bunstore run it
// periodically too).
type Sweeper interface {
	// Sweep deletes entries that ended before now and returns how many.
	Sweep(ctx context.Context, now time.Time) (int, error)
}
