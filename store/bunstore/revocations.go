package bunstore

import (
	"context"
	"time"

	"github.com/maestro-ml/auth"
)

const (
	revokePG = "INSERT INTO auth_revocations AS r (kind, id, revoked_at, expires_at) VALUES (?, ?, ?, ?)" +
		" ON CONFLICT (kind, id) DO UPDATE SET revoked_at = GREATEST(r.revoked_at, EXCLUDED.revoked_at)," +
		" expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at)"
	revokeSQLite = "INSERT INTO auth_revocations (kind, id, revoked_at, expires_at) VALUES (?, ?, ?, ?)" +
		" ON CONFLICT (kind, id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at)," +
		" expires_at = max(expires_at, excluded.expires_at)"

	// revokedQuery answers the three entries of a RevocationQuery in one
	// round trip: at most three rows, each found through the primary key.
	// Expiry is checked by the caller, so that no planner is tempted by the
	// expires_at index. (Three scalar subqueries cost PostgreSQL about twice
	// as much to plan and run.)
	revokedQuery = "SELECT kind, revoked_at, expires_at FROM auth_revocations" +
		" WHERE (kind = 1 AND id = ?) OR (kind = 2 AND id = ?) OR (kind = 3 AND id = ?)"
)

// Revoke implements auth.RevocationStore with one upsert that keeps the
// later revoked_at and the later expires_at of the stored and the new
// entry, so a user cutoff only moves forward and an entry is never
// forgotten early. Errors: auth.ErrInvalidInput for an invalid entry (see
// auth.Revocation.Valid), and
// errors wrapping auth.ErrUnavailable or context.Canceled, never a false
// success.
func (s *Store) Revoke(ctx context.Context, r auth.Revocation) error {
	if !r.Valid() || hasNUL(r.ID) {
		return auth.ErrInvalidInput
	}
	q := revokePG
	if s.sqlite {
		q = revokeSQLite
	}
	if _, err := s.db.ExecContext(ctx, q, int(r.Kind), r.ID, s.at(r.At), s.at(r.ExpiresAt)); err != nil {
		return s.fail(ctx, "Revoke", err)
	}
	return nil
}

// Revoked implements auth.RevocationStore: one query returns the status of
// the token, session and user entries of q, ignoring entries whose expiry
// has passed by the Store's clock. Errors wrap auth.ErrUnavailable or
// context.Canceled.
func (s *Store) Revoked(ctx context.Context, q auth.RevocationQuery) (auth.RevocationStatus, error) {
	var st auth.RevocationStatus
	if hasNUL(q.TokenID, q.SessionID, q.UserID) {
		return st, nil // no entry can have such an ID
	}
	rows, err := s.db.QueryContext(ctx, revokedQuery, q.TokenID, q.SessionID, q.UserID)
	if err != nil {
		return st, s.fail(ctx, "Revoked", err)
	}
	defer rows.Close()
	now := s.now()
	for rows.Next() {
		var kind int64
		var at, exp time.Time
		if err := rows.Scan(&kind, timeDest{&at}, timeDest{&exp}); err != nil {
			return auth.RevocationStatus{}, s.fail(ctx, "Revoked", err)
		}
		if !exp.After(now) {
			continue // expired; Sweep deletes it
		}
		switch auth.RevocationKind(kind) {
		case auth.RevocationToken:
			st.TokenRevoked = true
		case auth.RevocationSession:
			st.SessionRevoked = true
		case auth.RevocationUser:
			st.UserCutoff = at
		}
	}
	if err := rows.Err(); err != nil {
		return auth.RevocationStatus{}, s.fail(ctx, "Revoked", err)
	}
	return st, nil
}
