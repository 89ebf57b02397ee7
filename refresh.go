package auth

import (
	"context"
	"crypto/subtle"
	"errors"
)

// RefreshRequest is the input of Refresh.
type RefreshRequest struct {
	RefreshToken string
	Client       ClientInfo
}

// Refresh exchanges a refresh token for a new token pair and rotates it.
// The user is read again, so role changes apply and inactive users are
// refused (ErrUserInactive, and the session is revoked). A token that was
// already rotated is accepted within Config.RefreshGrace of its rotation
// (a new access token, no new refresh token); after that it is theft:
// the session and all its access tokens are revoked and ErrRefreshReused
// returned. So is any older token of the family, whatever its age: a
// thief who rotates twice cannot make the victim's token merely unknown. An unknown token is ErrInvalidToken; an expired or revoked
// session is ErrTokenExpired or ErrTokenRevoked.
func (a *Authenticator) Refresh(ctx context.Context, r RefreshRequest) (_ *TokenPair, err error) {
	ctx, end := a.span(ctx, "auth.Refresh")
	defer end(&err)
	ev := Event{IP: r.Client.IP, UserAgent: r.Client.UserAgent}
	if err := a.allowIP(ctx, "refresh", r.Client.IP, a.cfg.Limits.RefreshPerIP); err != nil {
		if errors.Is(err, ErrRateLimited) { // not when the limiter is unavailable
			ev.Type, ev.Reason = EventRateLimited, "refresh_ip"
			a.emit(ctx, ev)
		}
		return nil, err
	}
	hash, ok := hashRefreshToken(r.RefreshToken)
	if !ok {
		ev.Type, ev.Reason = EventRefreshFailed, "malformed_token"
		a.emit(ctx, ev)
		return nil, invalidRefresh
	}
	for attempt := 0; ; attempt++ {
		s, err := a.cfg.Sessions.SessionByRefreshHash(ctx, hash)
		if errors.Is(err, ErrSessionNotFound) {
			ev.Type, ev.Reason = EventRefreshFailed, "unknown_token"
			a.emit(ctx, ev)
			return nil, invalidRefresh
		}
		if err != nil {
			return nil, err
		}
		now := a.cfg.Now().UTC()
		switch {
		case !s.RevokedAt.IsZero():
			ev.Type, ev.Reason, ev.UserID, ev.TenantID, ev.SessionID = EventRefreshFailed, "session_revoked", s.UserID, s.TenantID, s.ID
			a.emit(ctx, ev)
			return nil, ErrTokenRevoked
		case !s.Live(now):
			return nil, ErrTokenExpired
		}
		if subtle.ConstantTimeCompare(hash, s.RefreshHash) == 1 {
			u, err := a.sessionUser(ctx, s, now)
			if err != nil {
				return nil, err
			}
			rt, newHash, err := newRefreshToken()
			if err != nil {
				return nil, err
			}
			s, err = a.cfg.Sessions.RotateSession(ctx, s.ID, Rotation{
				From: hash, To: newHash, At: now, IdleExpiresAt: minTime(now.Add(a.cfg.SessionIdleTTL), s.ExpiresAt),
			})
			if errors.Is(err, ErrConflict) && attempt == 0 {
				continue // lost a race with a concurrent refresh: now it is the previous token
			}
			if err != nil {
				return nil, err
			}
			ev.Type, ev.UserID, ev.TenantID, ev.SessionID = EventTokenRefreshed, u.ID, u.TenantID, s.ID
			pair, err := a.issue(u, s, now, rt)
			if err == nil {
				a.emit(ctx, ev)
			}
			return pair, err
		}
		// A token the family already replaced: the one just before the
		// current one may be a client's concurrent retry within the grace
		// window; anything else is reuse.
		ev.UserID, ev.TenantID, ev.SessionID = s.UserID, s.TenantID, s.ID
		previous := len(s.PreviousHash) > 0 && subtle.ConstantTimeCompare(hash, s.PreviousHash) == 1
		if previous && a.cfg.RefreshGrace > 0 && now.Sub(s.RotatedAt) <= a.cfg.RefreshGrace {
			u, err := a.sessionUser(ctx, s, now)
			if err != nil {
				return nil, err
			}
			ev.Type, ev.Reason = EventTokenRefreshed, "grace"
			pair, err := a.issue(u, s, now, "")
			if err == nil {
				a.emit(ctx, ev)
			}
			return pair, err
		}
		if err := a.revokeSessions(ctx, SessionRevocation{UserID: s.UserID, SessionID: s.ID, At: now}); err != nil {
			return nil, err
		}
		ev.Type = EventRefreshReused
		a.emit(ctx, ev)
		return nil, ErrRefreshReused
	}
}

var invalidRefresh = invalidToken("unknown refresh token")
