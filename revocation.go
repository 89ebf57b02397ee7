package auth

import (
	"context"
	"slices"
	"time"
)

// RevocationKind says what a deny-list entry revokes.
type RevocationKind uint8

// Kinds of deny-list entries.
const (
	// RevocationToken revokes one access token by its jti.
	RevocationToken RevocationKind = iota + 1
	// RevocationSession revokes every access token carrying the session ID.
	RevocationSession
	// RevocationUser revokes every access token of the user issued at or
	// before the entry's time (a cutoff that only moves forward).
	RevocationUser
)

// Valid reports whether r can be stored: a known kind, a non-empty ID,
// and non-zero At and ExpiresAt.
func (r Revocation) Valid() bool {
	return r.Kind >= RevocationToken && r.Kind <= RevocationUser && r.ID != "" && !r.At.IsZero() && !r.ExpiresAt.IsZero()
}

// String returns "token", "session" or "user".
func (k RevocationKind) String() string {
	switch k {
	case RevocationToken:
		return "token"
	case RevocationSession:
		return "session"
	case RevocationUser:
		return "user"
	}
	return "unknown"
}

// Revocation is one deny-list entry.
type Revocation struct {
	Kind RevocationKind
	ID   string
	// At is the revocation time; for RevocationUser, the cutoff.
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
	// UserCutoff is zero or the latest RevocationUser time for the user.
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
	// Revoke records r. For RevocationUser, a cutoff earlier than the stored
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

// revocationTTL is how long a session or user entry must outlive now: until
// every access token it can match has expired.
func (a *Authenticator) revocationTTL(now time.Time) time.Time {
	return now.Add(a.cfg.AccessTTL + a.rules.skew + time.Second)
}

// revokeSessions ends the selected sessions and deny-lists their access
// tokens. The deny-list comes first, for every live session the revocation
// selects: a failure half-way must leave sessions live, to be ended by a
// retry, never ended in the store with their access tokens still accepted,
// which no later revocation of this kind would repair (the store only
// reports the sessions it ends). A session that starts meanwhile is
// deny-listed after.
func (a *Authenticator) revokeSessions(ctx context.Context, r SessionRevocation) error {
	var first []string
	if r.SessionID != "" {
		first = []string{r.SessionID}
	} else {
		live, err := a.cfg.Sessions.ListSessions(ctx, r.UserID, r.At)
		if err != nil {
			return err
		}
		for _, s := range live {
			if s.ID != r.ExceptID {
				first = append(first, s.ID)
			}
		}
	}
	revoke := func(id string) error {
		return a.cfg.Revocations.Revoke(ctx, Revocation{Kind: RevocationSession, ID: id, At: r.At, ExpiresAt: a.revocationTTL(r.At)})
	}
	for _, id := range first {
		if err := revoke(id); err != nil {
			return err
		}
	}
	ids, err := a.cfg.Sessions.RevokeSessions(ctx, r)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(first, id) {
			if err := revoke(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// cutoff revokes the user's access tokens issued until now and, with
// sessions set, every session. The cutoff comes first, for the reason
// given at revokeSessions.
func (a *Authenticator) cutoff(ctx context.Context, userID string, sessions bool) error {
	now := a.cfg.Now().UTC()
	if err := a.cfg.Revocations.Revoke(ctx, Revocation{Kind: RevocationUser, ID: userID, At: now, ExpiresAt: a.revocationTTL(now)}); err != nil {
		return err
	}
	if sessions {
		if _, err := a.cfg.Sessions.RevokeSessions(ctx, SessionRevocation{UserID: userID, At: now}); err != nil {
			return err
		}
	}
	return nil
}

// RevokeToken deny-lists a single access token until it expires.
func (a *Authenticator) RevokeToken(ctx context.Context, c *Claims) (err error) {
	ctx, end := a.span(ctx, "auth.RevokeToken")
	defer end(&err)
	err = a.cfg.Revocations.Revoke(ctx, Revocation{Kind: RevocationToken, ID: c.TokenID, At: a.cfg.Now().UTC(), ExpiresAt: c.ExpiresAt.Add(a.rules.skew + time.Second)})
	if err == nil {
		a.emit(ctx, Event{Type: EventTokenRevoked, UserID: c.UserID, TenantID: c.TenantID, SessionID: c.SessionID})
	}
	return err
}
