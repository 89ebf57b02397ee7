package auth

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Authenticate verifies an access token and returns its claims: the
// signature with the key its kid names (pinned algorithm), typ, exp, nbf,
// iat, iss and aud, then one deny-list look-up covering the token, its
// session and its user. It touches no user or session store.
//
// Errors: ErrInvalidToken (wrapped with a reason), ErrTokenExpired,
// ErrTokenRevoked, or an error wrapping ErrUnavailable when the deny-list
// cannot be read (unless Config.FailOpen).
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Claims, error) {
	sampled := trace.SpanContextFromContext(ctx).IsSampled()
	if !sampled && !a.tel.authDur.Enabled(ctx) {
		return a.authenticate(ctx, token) // no telemetry: nothing added to the hot path
	}
	return a.authenticateObserved(ctx, token, sampled)
}

func (a *Authenticator) authenticateObserved(ctx context.Context, token string, sampled bool) (c *Claims, err error) {
	start := time.Now()
	if sampled {
		var end func(*error)
		ctx, end = a.span(ctx, "auth.Authenticate")
		defer end(&err)
	}
	c, err = a.authenticate(ctx, token)
	a.tel.recordAuthenticate(ctx, start, err)
	return c, err
}

func (a *Authenticator) authenticate(ctx context.Context, token string) (*Claims, error) {
	c, err := a.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	st, err := a.cfg.Revocations.Revoked(ctx, RevocationQuery{TokenID: c.TokenID, SessionID: c.SessionID, UserID: c.UserID})
	if err != nil {
		if a.cfg.FailOpen && errors.Is(err, ErrUnavailable) {
			a.cfg.Logger.WarnContext(ctx, "auth: revocation store unavailable; accepting token (FailOpen)", "jti", c.TokenID)
			return c, nil
		}
		return nil, err
	}
	if st.Revokes(c.IssuedAt) {
		return nil, ErrTokenRevoked
	}
	return c, nil
}

// verify returns the claims of a well-formed, correctly signed, unexpired
// access token, from the verified-token cache when possible.
func (a *Authenticator) verify(ctx context.Context, token string) (*Claims, error) {
	ks, now := a.keys.Load(), a.cfg.Now()
	if a.cache != nil && len(token) <= a.rules.maxBytes {
		c, ok := a.cache.get(ks, token, now, a.rules.skew)
		if a.tel.cache.Enabled(ctx) {
			result := a.tel.cacheMiss
			if ok {
				result = a.tel.cacheHit
			}
			a.tel.cache.Add(ctx, 1, result)
		}
		if ok {
			return c, nil
		}
	}
	c, err := parseAccessToken(ks, &a.rules, token, now)
	if err != nil {
		return nil, err
	}
	if a.cache != nil {
		a.cache.put(ks, token, c)
	}
	return c, nil
}
