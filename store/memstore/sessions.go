package memstore

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
)

func cloneSession(ss *auth.Session) *auth.Session {
	c := *ss
	c.RefreshHash = bytes.Clone(ss.RefreshHash)
	c.PreviousHash = bytes.Clone(ss.PreviousHash)
	c.AMR = slices.Clone(ss.AMR)
	return &c
}

// CreateSession implements auth.SessionStore.
func (s *Store) CreateSession(ctx context.Context, ss *auth.Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[ss.ID]; ok {
		return auth.ErrConflict
	}
	if _, ok := s.byHash[string(ss.RefreshHash)]; ok {
		return auth.ErrConflict
	}
	s.sessions[ss.ID] = cloneSession(ss)
	s.byHash[string(ss.RefreshHash)] = ss.ID
	s.hashes[ss.ID] = []string{string(ss.RefreshHash)}
	return nil
}

// SessionByRefreshHash implements auth.SessionStore.
func (s *Store) SessionByRefreshHash(ctx context.Context, hash []byte) (*auth.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byHash[string(hash)]
	if !ok {
		return nil, auth.ErrSessionNotFound
	}
	return cloneSession(s.sessions[id]), nil
}

// RotateSession implements auth.SessionStore.
func (s *Store) RotateSession(ctx context.Context, id string, r auth.Rotation) (*auth.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return nil, auth.ErrSessionNotFound
	}
	if !ss.RevokedAt.IsZero() || !bytes.Equal(ss.RefreshHash, r.From) {
		return nil, auth.ErrConflict
	}
	if _, taken := s.byHash[string(r.To)]; taken {
		return nil, auth.ErrConflict
	}
	// Replaced hashes stay indexed until the session is swept, so that
	// reuse of any of them is recognised.
	ss.PreviousHash, ss.RefreshHash = ss.RefreshHash, bytes.Clone(r.To)
	ss.RotatedAt, ss.LastUsedAt, ss.IdleExpiresAt = r.At, r.At, r.IdleExpiresAt
	s.byHash[string(ss.RefreshHash)] = ss.ID
	s.hashes[ss.ID] = append(s.hashes[ss.ID], string(ss.RefreshHash))
	return cloneSession(ss), nil
}

// ListSessions implements auth.SessionStore.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]*auth.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*auth.Session
	for _, ss := range s.sessions {
		if ss.UserID == userID && ss.Live(now) {
			out = append(out, cloneSession(ss))
		}
	}
	slices.SortFunc(out, func(a, b *auth.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// RevokeSessions implements auth.SessionStore.
func (s *Store) RevokeSessions(ctx context.Context, r auth.SessionRevocation) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, ss := range s.sessions {
		if ss.UserID != r.UserID || !ss.RevokedAt.IsZero() ||
			(r.SessionID != "" && id != r.SessionID) || (r.ExceptID != "" && id == r.ExceptID) {
			continue
		}
		ss.RevokedAt = r.At
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}
