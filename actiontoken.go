package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"
)

// Purpose says what an ActionToken may be used for.
type Purpose string

// Purposes of action tokens.
const (
	PurposeVerifyEmail   Purpose = "verify_email"
	PurposeResetPassword Purpose = "reset_password"
	PurposeChangeEmail   Purpose = "change_email"
)

// ActionToken is a single-use, expiring token sent by e-mail to verify an
// address, reset a password or confirm a new address. Only the SHA-256 of
// the token is stored.
type ActionToken struct {
	Hash    []byte
	Purpose Purpose
	// UserID is the user the token acts on; empty for the decoy tokens
	// written for unknown addresses, which can never be consumed.
	UserID string
	// Email is the address the token was sent to: the user's address, or
	// the new one for PurposeChangeEmail.
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ActionTokenStore persists action tokens. Implementations must be safe for
// concurrent use; memstore and bunstore implement it.
type ActionTokenStore interface {
	// CreateActionToken inserts t.
	CreateActionToken(ctx context.Context, t *ActionToken) error
	// ActionToken returns the token with the given purpose and hash if it
	// has not expired at now, without consuming it; otherwise
	// ErrInvalidToken.
	ActionToken(ctx context.Context, purpose Purpose, hash []byte, now time.Time) (*ActionToken, error)
	// ConsumeActionToken atomically deletes and returns the token with the
	// given purpose and hash if it has not expired at now: of concurrent
	// calls exactly one succeeds. Otherwise ErrInvalidToken.
	ConsumeActionToken(ctx context.Context, purpose Purpose, hash []byte, now time.Time) (*ActionToken, error)
	// DeleteActionTokens deletes every token of the user with the purpose.
	DeleteActionTokens(ctx context.Context, userID string, purpose Purpose) error
}

// newActionToken creates, stores and returns a token for u.
func (a *Authenticator) newActionToken(ctx context.Context, p Purpose, userID, email string, ttl time.Duration) (string, time.Time, error) {
	tok, hash, err := newRefreshToken()
	if err != nil {
		return "", time.Time{}, err
	}
	now := a.cfg.Now().UTC()
	t := &ActionToken{Hash: hash, Purpose: p, UserID: userID, Email: email, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := a.cfg.ActionTokens.CreateActionToken(ctx, t); err != nil {
		return "", time.Time{}, err
	}
	return tok, t.ExpiresAt, nil
}

// lookupActionToken returns the live token and its user, or ErrInvalidToken.
func (a *Authenticator) lookupActionToken(ctx context.Context, p Purpose, token string) (*ActionToken, *User, error) {
	hash, ok := hashRefreshToken(token)
	if !ok {
		return nil, nil, errActionToken
	}
	t, err := a.cfg.ActionTokens.ActionToken(ctx, p, hash, a.cfg.Now().UTC())
	if err != nil {
		return nil, nil, err
	}
	if t.UserID == "" || subtle.ConstantTimeCompare(t.Hash, hash) != 1 {
		return nil, nil, errActionToken
	}
	u, err := a.cfg.Users.User(ctx, t.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return nil, nil, errActionToken
	}
	return t, u, err
}

// consumeActionToken burns the token looked up before; losing a race to
// another use is ErrInvalidToken.
func (a *Authenticator) consumeActionToken(ctx context.Context, t *ActionToken) error {
	_, err := a.cfg.ActionTokens.ConsumeActionToken(ctx, t.Purpose, t.Hash, a.cfg.Now().UTC())
	return err
}

var errActionToken = invalidToken("unknown, used or expired action token")

// deleteActionTokens deletes every pending action token of the user, of
// every purpose.
func (a *Authenticator) deleteActionTokens(ctx context.Context, userID string) error {
	if a.cfg.ActionTokens == nil {
		return nil
	}
	for _, p := range []Purpose{PurposeVerifyEmail, PurposeResetPassword, PurposeChangeEmail, PurposeMFA} {
		if err := a.cfg.ActionTokens.DeleteActionTokens(ctx, userID, p); err != nil {
			return err
		}
	}
	return nil
}
