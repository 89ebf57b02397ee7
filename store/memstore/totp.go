package memstore

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/factor/totp"
)

var (
	_ totp.Store         = (*Store)(nil)
	_ totp.RecoveryStore = (*Store)(nil)
)

// totpState holds the stores of package factor/totp, under a lock of
// their own; the maps are made on first use.
type totpState struct {
	mu      sync.Mutex
	secrets map[string]*totp.Secret         // by user ID
	codes   map[string]map[string]time.Time // user ID -> code hash -> created
}

func cloneSecret(s *totp.Secret) *totp.Secret {
	c := *s
	c.Sealed = bytes.Clone(s.Sealed)
	return &c
}

// userExists reports whether the user is stored.
func (s *Store) userExists(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.users[id]
	return ok
}

// TOTPSecret implements totp.Store.
func (s *Store) TOTPSecret(ctx context.Context, userID string) (*totp.Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	sec, ok := s.totp.secrets[userID]
	if !ok {
		return nil, totp.ErrNotFound
	}
	return cloneSecret(sec), nil
}

// PutPendingTOTPSecret implements totp.Store.
func (s *Store) PutPendingTOTPSecret(ctx context.Context, sec *totp.Secret) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(sec.Sealed) == 0 || sec.KeyID == "" || sec.CreatedAt.IsZero() {
		return auth.ErrInvalidInput
	}
	if !s.userExists(sec.UserID) {
		return auth.ErrUserNotFound
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	if old, ok := s.totp.secrets[sec.UserID]; ok && old.Confirmed {
		return totp.ErrAlreadyEnrolled
	}
	if s.totp.secrets == nil {
		s.totp.secrets = map[string]*totp.Secret{}
	}
	c := cloneSecret(sec)
	c.Confirmed, c.LastStep, c.ConfirmedAt = false, 0, time.Time{}
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Millisecond)
	s.totp.secrets[sec.UserID] = c
	return nil
}

// ConfirmTOTPSecret implements totp.Store.
func (s *Store) ConfirmTOTPSecret(ctx context.Context, userID string, sealed []byte, step int64, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	sec, ok := s.totp.secrets[userID]
	if !ok || sec.Confirmed || !bytes.Equal(sec.Sealed, sealed) {
		return totp.ErrNotFound
	}
	sec.Confirmed, sec.LastStep, sec.ConfirmedAt = true, step, at.UTC().Truncate(time.Millisecond)
	return nil
}

// UseTOTPStep implements totp.Store.
func (s *Store) UseTOTPStep(ctx context.Context, u totp.StepUse) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if u.Resealed != nil && u.KeyID == "" {
		return auth.ErrInvalidInput
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	sec, ok := s.totp.secrets[u.UserID]
	if !ok || !sec.Confirmed || !bytes.Equal(sec.Sealed, u.Sealed) || sec.LastStep >= u.Step {
		return totp.ErrStepUsed
	}
	sec.LastStep = u.Step
	if u.Resealed != nil {
		sec.KeyID, sec.Sealed = u.KeyID, bytes.Clone(u.Resealed)
	}
	return nil
}

// DeleteTOTPSecret implements totp.Store.
func (s *Store) DeleteTOTPSecret(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	delete(s.totp.secrets, userID)
	return nil
}

// ReplaceRecoveryCodes implements totp.RecoveryStore.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, h := range hashes {
		if len(h) == 0 {
			return auth.ErrInvalidInput
		}
	}
	if !s.userExists(userID) {
		return auth.ErrUserNotFound
	}
	set := make(map[string]time.Time, len(hashes))
	for _, h := range hashes {
		set[string(h)] = at.UTC().Truncate(time.Millisecond)
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	if s.totp.codes == nil {
		s.totp.codes = map[string]map[string]time.Time{}
	}
	s.totp.codes[userID] = set
	return nil
}

// UseRecoveryCode implements totp.RecoveryStore.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	set := s.totp.codes[userID]
	if _, ok := set[string(hash)]; !ok {
		return totp.ErrNotFound
	}
	delete(set, string(hash))
	return nil
}

// RecoveryCodesLeft implements totp.RecoveryStore.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	return len(s.totp.codes[userID]), nil
}

// DeleteRecoveryCodes implements totp.RecoveryStore.
func (s *Store) DeleteRecoveryCodes(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	delete(s.totp.codes, userID)
	return nil
}
