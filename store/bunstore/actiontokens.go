package bunstore

import (
	"context"
	"time"

	"github.com/maestro-ml/auth"
)

const (
	actionCols = "hash, purpose, user_id, email, created_at, expires_at"
	actionLive = " WHERE hash = ? AND purpose = ? AND expires_at > ?"

	actionSelect  = "SELECT " + actionCols + " FROM auth_action_tokens" + actionLive
	actionConsume = "DELETE FROM auth_action_tokens" + actionLive + " RETURNING " + actionCols
)

func scanAction(sc scanner) (*auth.ActionToken, error) {
	t := new(auth.ActionToken)
	var purpose string
	if err := sc.Scan(&t.Hash, &purpose, strDest{&t.UserID}, &t.Email, timeDest{&t.CreatedAt}, timeDest{&t.ExpiresAt}); err != nil {
		return nil, err
	}
	t.Purpose = auth.Purpose(purpose)
	return t, nil
}

// CreateActionToken implements auth.ActionTokenStore: it inserts t. An
// empty UserID (a decoy token) is stored as NULL. Errors: auth.ErrConflict
// if the hash is in use, auth.ErrUserNotFound if the user does not exist,
// auth.ErrInvalidInput for an empty hash or purpose, a zero time or a value
// the schema refuses, and errors wrapping auth.ErrUnavailable or
// context.Canceled. A user's tokens are deleted with the user.
func (s *Store) CreateActionToken(ctx context.Context, t *auth.ActionToken) error {
	if len(t.Hash) == 0 || t.Purpose == "" || hasNUL(string(t.Purpose), t.Email) {
		return auth.ErrInvalidInput
	}
	var userID any
	if t.UserID != "" {
		if !auth.ValidID(t.UserID) {
			return auth.ErrUserNotFound
		}
		userID = t.UserID
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO auth_action_tokens ("+actionCols+") VALUES (?, ?, ?, ?, ?, ?)",
		t.Hash, string(t.Purpose), userID, t.Email, s.at(t.CreatedAt), s.at(t.ExpiresAt))
	if err == nil {
		return nil
	}
	switch cls, _ := classify(ctx, err); cls {
	case classUnique:
		return auth.ErrConflict
	case classForeignKey:
		return auth.ErrUserNotFound
	default:
		return s.failClass(ctx, "CreateActionToken", err, cls)
	}
}

// ActionToken implements auth.ActionTokenStore: it returns the token with
// the given purpose and hash if it expires after now, without consuming
// it; otherwise auth.ErrInvalidToken. Other errors wrap auth.ErrUnavailable
// or context.Canceled.
func (s *Store) ActionToken(ctx context.Context, purpose auth.Purpose, hash []byte, now time.Time) (*auth.ActionToken, error) {
	return s.oneAction(ctx, "ActionToken", actionSelect, purpose, hash, now)
}

// ConsumeActionToken implements auth.ActionTokenStore with one
// DELETE ... RETURNING: it deletes and returns the token with the given
// purpose and hash if it expires after now, so of concurrent calls exactly
// one succeeds; the others, and calls for an unknown, used or expired
// token, get auth.ErrInvalidToken. Other errors wrap auth.ErrUnavailable or
// context.Canceled; the token may then have been consumed or not.
func (s *Store) ConsumeActionToken(ctx context.Context, purpose auth.Purpose, hash []byte, now time.Time) (*auth.ActionToken, error) {
	return s.oneAction(ctx, "ConsumeActionToken", actionConsume, purpose, hash, now)
}

// oneAction runs query (actionSelect or actionConsume) for the live token
// with the purpose and hash.
func (s *Store) oneAction(ctx context.Context, op, query string, purpose auth.Purpose, hash []byte, now time.Time) (*auth.ActionToken, error) {
	if len(hash) == 0 || purpose == "" || hasNUL(string(purpose)) || now.IsZero() {
		return nil, auth.ErrInvalidToken
	}
	t, err := scanAction(s.db.QueryRowContext(ctx, query, hash, string(purpose), s.at(now)))
	if err == nil {
		return t, nil
	}
	cls, _ := classify(ctx, err)
	if cls == classNoRows {
		return nil, auth.ErrInvalidToken
	}
	return nil, s.failClass(ctx, op, err, cls)
}

// DeleteActionTokens implements auth.ActionTokenStore: it deletes every
// token of the user with the purpose, expired or not. An empty or
// malformed userID matches nothing (decoy tokens belong to no one and
// are left to Sweep). Errors wrap auth.ErrUnavailable or context.Canceled.
func (s *Store) DeleteActionTokens(ctx context.Context, userID string, purpose auth.Purpose) error {
	if !auth.ValidID(userID) || hasNUL(string(purpose)) {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM auth_action_tokens WHERE user_id = ? AND purpose = ?", userID, string(purpose)); err != nil {
		return s.fail(ctx, "DeleteActionTokens", err)
	}
	return nil
}
