package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Session is one login: a family of refresh tokens, each replacing the one
// before. Only SHA-256 hashes of refresh tokens are stored.
type Session struct {
	ID       string
	UserID   string
	TenantID string
	// RefreshHash is the hash of the refresh token that is valid now.
	RefreshHash []byte `json:"-"`
	// PreviousHash is the hash of the token RefreshHash replaced, kept to
	// tell a concurrent retry (within the grace window) from reuse.
	PreviousHash []byte `json:"-"`
	// RotatedAt is when RefreshHash replaced PreviousHash; zero before the
	// first rotation.
	RotatedAt  time.Time
	CreatedAt  time.Time
	LastUsedAt time.Time
	// IdleExpiresAt is when the session ends unless refreshed; never later
	// than ExpiresAt.
	IdleExpiresAt time.Time
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time
	// RevokedAt is when the session was revoked; zero while it is live.
	RevokedAt time.Time
	UserAgent string
	IP        string
	// AMR are the authentication methods (RFC 8176) the login proved, in
	// the order proven, "mfa" last when more than one factor was used.
	// Every access token of the session carries them. Empty for sessions
	// stored before methods were recorded: those were password logins.
	AMR []Method
	// AuthTime is when the user last actively authenticated (the login or
	// the latest step-up); refreshes do not move it. Zero for sessions
	// stored before it was recorded: CreatedAt applies.
	AuthTime time.Time
}

// Methods returns the session's authentication methods ({"pwd"} for a
// session stored before they were recorded).
func (s *Session) Methods() []Method {
	if len(s.AMR) == 0 {
		return []Method{MethodPassword}
	}
	return s.AMR
}

// AuthenticatedAt returns AuthTime, or CreatedAt when it is zero.
func (s *Session) AuthenticatedAt() time.Time {
	if s.AuthTime.IsZero() {
		return s.CreatedAt
	}
	return s.AuthTime
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

// TokenPair is what Login and Refresh return.
type TokenPair struct {
	AccessToken string
	// TokenType is always "Bearer".
	TokenType string
	// IssuedAt is when the pair was issued, by the Authenticator's clock;
	// ExpiresAt.Sub(IssuedAt) is the access token's lifetime.
	IssuedAt time.Time
	// ExpiresAt is when the access token expires.
	ExpiresAt time.Time
	// RefreshToken is the new refresh token. It is empty when Refresh
	// answered a concurrent retry within the grace window: the client
	// keeps the refresh token it already has (RFC 6749 §6).
	RefreshToken string
	// RefreshExpiresAt is when the session ends unless refreshed.
	RefreshExpiresAt time.Time
	// SessionID identifies the session for listing and revocation.
	SessionID string
}

// issue creates the access token for a session of u and returns it with the
// refresh token rt (empty when none was issued).
func (a *Authenticator) issue(u *User, s *Session, now time.Time, rt string) (*TokenPair, error) {
	now = now.Truncate(time.Millisecond)
	c := &Claims{
		UserID: u.ID, TenantID: u.TenantID, SessionID: s.ID, TokenID: newTokenID(now), Role: u.Role,
		Issuer: a.rules.issuer, Audience: []string{a.rules.audience},
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(a.cfg.AccessTTL),
		AMR: s.Methods(), AuthTime: s.AuthenticatedAt().Truncate(time.Second),
	}
	tok, err := signAccessToken(a.keys.Load().SigningKey(), c)
	if err != nil {
		return nil, fmt.Errorf("auth: signing access token: %w", err)
	}
	return &TokenPair{
		AccessToken: tok, TokenType: "Bearer", IssuedAt: now, ExpiresAt: c.ExpiresAt, RefreshToken: rt,
		RefreshExpiresAt: s.IdleExpiresAt, SessionID: s.ID,
	}, nil
}

// createSession stores a new session of u and returns it with its refresh
// token. No access token exists for it yet.
func (a *Authenticator) createSession(ctx context.Context, u *User, client ClientInfo, now time.Time, amr []Method) (*Session, string, error) {
	rt, hash, err := newRefreshToken()
	if err != nil {
		return nil, "", err
	}
	s := &Session{
		ID: newID(), UserID: u.ID, TenantID: u.TenantID, RefreshHash: hash,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(a.cfg.SessionTTL),
		UserAgent: clientString(client.UserAgent, 512), IP: clientString(client.IP, 64),
		AMR: amr, AuthTime: now,
	}
	s.IdleExpiresAt = minTime(now.Add(a.cfg.SessionIdleTTL), s.ExpiresAt)
	if err := a.cfg.Sessions.CreateSession(ctx, s); err != nil {
		return nil, "", err
	}
	return s, rt, nil
}

// endSession revokes a session that never issued an access token.
func (a *Authenticator) endSession(ctx context.Context, s *Session, now time.Time) error {
	_, err := a.cfg.Sessions.RevokeSessions(ctx, SessionRevocation{UserID: s.UserID, SessionID: s.ID, At: now})
	return err
}

// sessionUser loads the session's user and checks it may still be served,
// revoking the session if not.
func (a *Authenticator) sessionUser(ctx context.Context, s *Session, now time.Time) (*User, error) {
	u, err := a.cfg.Users.User(ctx, s.UserID)
	if err == nil {
		err = a.checkActive(ctx, u)
	}
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, ErrUserNotFound), errors.Is(err, ErrUserInactive), errors.Is(err, ErrEmailNotVerified):
		if rerr := a.revokeSessions(ctx, SessionRevocation{UserID: s.UserID, SessionID: s.ID, At: now}); rerr != nil {
			return nil, rerr
		}
		if errors.Is(err, ErrUserNotFound) {
			return nil, invalidRefresh
		}
	}
	return nil, err
}

// Sessions returns the user's live sessions, newest first.
func (a *Authenticator) Sessions(ctx context.Context, userID string) ([]*Session, error) {
	return a.cfg.Sessions.ListSessions(ctx, userID, a.cfg.Now().UTC())
}

// RevokeSession ends one of the user's sessions and its access tokens.
// A session that is not the user's, or not live, is ErrSessionNotFound.
func (a *Authenticator) RevokeSession(ctx context.Context, userID, sessionID string) (err error) {
	ctx, end := a.span(ctx, "auth.RevokeSession")
	defer end(&err)
	if !ValidID(sessionID) {
		return ErrSessionNotFound
	}
	now := a.cfg.Now().UTC()
	ids, err := a.cfg.Sessions.RevokeSessions(ctx, SessionRevocation{UserID: userID, SessionID: sessionID, At: now})
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return ErrSessionNotFound
	}
	if err := a.cfg.Revocations.Revoke(ctx, Revocation{Kind: RevocationSession, ID: sessionID, At: now, ExpiresAt: a.revocationTTL(now)}); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventSessionRevoked, UserID: userID, TenantID: a.tenantOf(ctx, userID), SessionID: sessionID})
	return nil
}

// RevokeOtherSessions ends every session of the user except keepSessionID
// ("sign out other devices").
func (a *Authenticator) RevokeOtherSessions(ctx context.Context, userID, keepSessionID string) (err error) {
	ctx, end := a.span(ctx, "auth.RevokeOtherSessions")
	defer end(&err)
	if err := a.revokeSessions(ctx, SessionRevocation{UserID: userID, ExceptID: keepSessionID, At: a.cfg.Now().UTC()}); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventSessionRevoked, UserID: userID, TenantID: a.tenantOf(ctx, userID), SessionID: keepSessionID, Reason: "all_others"})
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Logout ends the session that issued c: its refresh token stops working
// and its access tokens (including c's) are revoked. Logging out an
// already-ended session succeeds.
func (a *Authenticator) Logout(ctx context.Context, c *Claims) (err error) {
	ctx, end := a.span(ctx, "auth.Logout")
	defer end(&err)
	now := a.cfg.Now().UTC()
	if err := a.revokeSessions(ctx, SessionRevocation{UserID: c.UserID, SessionID: c.SessionID, At: now}); err != nil {
		return err
	}
	// The session may already be gone from the store; deny-list it anyway.
	if err := a.cfg.Revocations.Revoke(ctx, Revocation{Kind: RevocationSession, ID: c.SessionID, At: now, ExpiresAt: a.revocationTTL(now)}); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventLogout, UserID: c.UserID, TenantID: c.TenantID, SessionID: c.SessionID})
	return nil
}

// LogoutRefreshToken ends the session that the refresh token rt belongs
// to, as Logout does for an access token's: for a client whose access
// token has expired but whose refresh token still holds the session (a
// browser's HttpOnly cookie). Any token of the session's family, current
// or replaced, ends it. A malformed or unknown token is ErrInvalidToken;
// an already-ended session succeeds.
func (a *Authenticator) LogoutRefreshToken(ctx context.Context, rt string) (err error) {
	ctx, end := a.span(ctx, "auth.LogoutRefreshToken")
	defer end(&err)
	hash, ok := hashRefreshToken(rt)
	if !ok {
		return invalidRefresh
	}
	s, err := a.cfg.Sessions.SessionByRefreshHash(ctx, hash)
	if errors.Is(err, ErrSessionNotFound) {
		return invalidRefresh
	}
	if err != nil {
		return err
	}
	return a.Logout(ctx, &Claims{UserID: s.UserID, TenantID: s.TenantID, SessionID: s.ID})
}

// LogoutAll ends every session of the user and revokes every access token
// issued to them until now.
func (a *Authenticator) LogoutAll(ctx context.Context, userID string) (err error) {
	ctx, end := a.span(ctx, "auth.LogoutAll")
	defer end(&err)
	if err := a.cutoff(ctx, userID, true); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventLogoutAll, UserID: userID, TenantID: a.tenantOf(ctx, userID)})
	return nil
}
