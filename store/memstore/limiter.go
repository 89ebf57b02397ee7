package memstore

import (
	"context"
	"time"

	"github.com/maestro-ml/auth"
)

// Allow implements auth.Limiter with the generic cell rate algorithm; the
// table holds at most about a million keys.
func (s *Store) Allow(ctx context.Context, key string, l auth.Limit) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	ok, retry := s.limits.Allow(key, l.Burst, l.Period)
	return ok, retry, nil
}

// Refund implements auth.Limiter.
func (s *Store) Refund(ctx context.Context, key string, l auth.Limit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.limits.Refund(key, l.Burst, l.Period)
	return nil
}

// Reset implements auth.Limiter.
func (s *Store) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.limits.Reset(key)
	return nil
}
