package memstore

import (
	"context"

	"github.com/maestro-ml/auth"
)

// Revoke implements auth.RevocationStore.
func (s *Store) Revoke(ctx context.Context, r auth.Revocation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !r.Valid() {
		return auth.ErrInvalidInput
	}
	k := revKey{r.Kind, r.ID}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if old, ok := s.revoked[k]; ok {
		if old.At.After(r.At) {
			r.At = old.At
		}
		if old.ExpiresAt.After(r.ExpiresAt) {
			r.ExpiresAt = old.ExpiresAt
		}
	}
	s.revoked[k] = r
	return nil
}

// Revoked implements auth.RevocationStore. It does not allocate.
func (s *Store) Revoked(ctx context.Context, q auth.RevocationQuery) (auth.RevocationStatus, error) {
	var st auth.RevocationStatus
	if err := ctx.Err(); err != nil {
		return st, err
	}
	s.rmu.RLock()
	defer s.rmu.RUnlock()
	_, st.TokenRevoked = s.revoked[revKey{auth.RevocationToken, q.TokenID}]
	_, st.SessionRevoked = s.revoked[revKey{auth.RevocationSession, q.SessionID}]
	if r, ok := s.revoked[revKey{auth.RevocationUser, q.UserID}]; ok {
		st.UserCutoff = r.At
	}
	return st, nil
}
