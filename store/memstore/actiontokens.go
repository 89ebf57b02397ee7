package memstore

import (
	"bytes"
	"context"
	"time"

	"github.com/maestro-ml/auth"
)

func cloneAction(t *auth.ActionToken) *auth.ActionToken {
	c := *t
	c.Hash = bytes.Clone(t.Hash)
	return &c
}

// CreateActionToken implements auth.ActionTokenStore.
func (s *Store) CreateActionToken(ctx context.Context, t *auth.ActionToken) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.actions[string(t.Hash)]; ok {
		return auth.ErrConflict
	}
	s.actions[string(t.Hash)] = cloneAction(t)
	return nil
}

// ActionToken implements auth.ActionTokenStore.
func (s *Store) ActionToken(ctx context.Context, purpose auth.Purpose, hash []byte, now time.Time) (*auth.ActionToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.actions[string(hash)]
	if !ok || t.Purpose != purpose || !now.Before(t.ExpiresAt) {
		return nil, auth.ErrInvalidToken
	}
	return cloneAction(t), nil
}

// ConsumeActionToken implements auth.ActionTokenStore.
func (s *Store) ConsumeActionToken(ctx context.Context, purpose auth.Purpose, hash []byte, now time.Time) (*auth.ActionToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.actions[string(hash)]
	if !ok || t.Purpose != purpose || !now.Before(t.ExpiresAt) {
		return nil, auth.ErrInvalidToken
	}
	delete(s.actions, string(hash))
	return t, nil
}

// DeleteActionTokens implements auth.ActionTokenStore.
func (s *Store) DeleteActionTokens(ctx context.Context, userID string, purpose auth.Purpose) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if userID == "" {
		return nil // decoys are left to Sweep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, t := range s.actions {
		if t.UserID == userID && t.Purpose == purpose {
			delete(s.actions, h)
		}
	}
	return nil
}
