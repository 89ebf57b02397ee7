package bunstore

import (
	"context"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/factor/totp"
)

var (
	_ totp.Store         = (*Store)(nil)
	_ totp.RecoveryStore = (*Store)(nil)
)

// The stores of package factor/totp, on the tables auth_totp_secrets and
// auth_recovery_codes (migration 20261205120000). Every operation is one
// statement but ReplaceRecoveryCodes, which runs a short transaction (see
// there). Malformed user IDs match nothing, as elsewhere in the store.

const totpCols = "user_id, key_id, sealed, confirmed, last_step, created_at, confirmed_at"

// TOTPSecret implements totp.Store: the user's secret, or totp.ErrNotFound.
// Other errors wrap auth.ErrUnavailable or context.Canceled.
func (s *Store) TOTPSecret(ctx context.Context, userID string) (*totp.Secret, error) {
	if !auth.ValidID(userID) {
		return nil, totp.ErrNotFound
	}
	sec := new(totp.Secret)
	err := s.db.QueryRowContext(ctx, "SELECT "+totpCols+" FROM auth_totp_secrets WHERE user_id = ?", userID).
		Scan(&sec.UserID, &sec.KeyID, &sec.Sealed, &sec.Confirmed, &sec.LastStep, timeDest{&sec.CreatedAt}, timeDest{&sec.ConfirmedAt})
	if err == nil {
		return sec, nil
	}
	cls, _ := classify(ctx, err)
	if cls == classNoRows {
		return nil, totp.ErrNotFound
	}
	return nil, s.failClass(ctx, "TOTPSecret", err, cls)
}

// PutPendingTOTPSecret implements totp.Store with one INSERT ... ON
// CONFLICT DO UPDATE ... WHERE NOT confirmed: it stores the user's pending
// secret, replacing a pending one; totp.ErrAlreadyEnrolled if the user has
// a confirmed one, auth.ErrUserNotFound if the user does not exist,
// auth.ErrInvalidInput for an empty key ID or sealed secret or a zero
// time.
func (s *Store) PutPendingTOTPSecret(ctx context.Context, sec *totp.Secret) error {
	if len(sec.Sealed) == 0 || sec.KeyID == "" || hasNUL(sec.KeyID) || sec.CreatedAt.IsZero() {
		return auth.ErrInvalidInput
	}
	if !auth.ValidID(sec.UserID) {
		return auth.ErrUserNotFound
	}
	res, err := s.db.ExecContext(ctx, "INSERT INTO auth_totp_secrets ("+totpCols+") VALUES (?, ?, ?, FALSE, 0, ?, NULL)"+
		" ON CONFLICT (user_id) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, last_step = 0,"+
		" created_at = excluded.created_at, confirmed_at = NULL WHERE NOT auth_totp_secrets.confirmed",
		sec.UserID, sec.KeyID, sec.Sealed, s.at(sec.CreatedAt))
	if err != nil {
		switch cls, _ := classify(ctx, err); cls {
		case classForeignKey:
			return auth.ErrUserNotFound
		default:
			return s.failClass(ctx, "PutPendingTOTPSecret", err, cls)
		}
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, "PutPendingTOTPSecret", err)
	}
	if n == 0 {
		return totp.ErrAlreadyEnrolled
	}
	return nil
}

// ConfirmTOTPSecret implements totp.Store with one conditional UPDATE:
// the pending secret sealed as sealed becomes confirmed; otherwise
// totp.ErrNotFound.
func (s *Store) ConfirmTOTPSecret(ctx context.Context, userID string, sealed []byte, step int64, at time.Time) error {
	if !auth.ValidID(userID) || len(sealed) == 0 {
		return totp.ErrNotFound
	}
	if at.IsZero() {
		return auth.ErrInvalidInput
	}
	return s.updateOne(ctx, "ConfirmTOTPSecret", totp.ErrNotFound,
		"UPDATE auth_totp_secrets SET confirmed = TRUE, last_step = ?, confirmed_at = ? WHERE user_id = ? AND NOT confirmed AND sealed = ?",
		step, s.at(at), userID, sealed)
}

// UseTOTPStep implements totp.Store with one conditional UPDATE (last_step
// < step on the confirmed secret sealed as u.Sealed), which also re-seals
// the secret when u.Resealed is set: of concurrent uses of a step exactly
// one succeeds, the others get totp.ErrStepUsed.
func (s *Store) UseTOTPStep(ctx context.Context, u totp.StepUse) error {
	if !auth.ValidID(u.UserID) || len(u.Sealed) == 0 {
		return totp.ErrStepUsed
	}
	if u.Resealed == nil {
		return s.updateOne(ctx, "UseTOTPStep", totp.ErrStepUsed,
			"UPDATE auth_totp_secrets SET last_step = ? WHERE user_id = ? AND confirmed AND sealed = ? AND last_step < ?",
			u.Step, u.UserID, u.Sealed, u.Step)
	}
	if len(u.Resealed) == 0 || u.KeyID == "" || hasNUL(u.KeyID) {
		return auth.ErrInvalidInput
	}
	return s.updateOne(ctx, "UseTOTPStep", totp.ErrStepUsed,
		"UPDATE auth_totp_secrets SET last_step = ?, key_id = ?, sealed = ? WHERE user_id = ? AND confirmed AND sealed = ? AND last_step < ?",
		u.Step, u.KeyID, u.Resealed, u.UserID, u.Sealed, u.Step)
}

// updateOne runs an UPDATE that must change one row, else returns none.
func (s *Store) updateOne(ctx context.Context, op string, none error, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n == 0 {
		return none
	}
	return nil
}

// DeleteTOTPSecret implements totp.Store.
func (s *Store) DeleteTOTPSecret(ctx context.Context, userID string) error {
	if !auth.ValidID(userID) {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM auth_totp_secrets WHERE user_id = ?", userID); err != nil {
		return s.fail(ctx, "DeleteTOTPSecret", err)
	}
	return nil
}

// ReplaceRecoveryCodes implements totp.RecoveryStore. It is the one
// operation of the store that needs a transaction: it deletes the user's
// codes and inserts the new ones, so no moment sees both sets or neither.
// On PostgreSQL it first locks the user's row (FOR NO KEY UPDATE), so that
// concurrent replacements run one after the other and one set survives
// whole (under READ COMMITTED each statement then sees the other's
// commit); on SQLite the DELETE takes the database's write lock. Errors:
// auth.ErrUserNotFound, auth.ErrInvalidInput for an empty hash, and errors
// wrapping auth.ErrUnavailable or context.Canceled (nothing changed then).
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) (err error) {
	if !auth.ValidID(userID) {
		return auth.ErrUserNotFound
	}
	if at.IsZero() {
		return auth.ErrInvalidInput
	}
	for _, h := range hashes {
		if len(h) == 0 {
			return auth.ErrInvalidInput
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "ReplaceRecoveryCodes", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if !s.sqlite {
		var id string
		if err := tx.QueryRowContext(ctx, "SELECT id FROM auth_users WHERE id = ? FOR NO KEY UPDATE", userID).Scan(&id); err != nil {
			cls, _ := classify(ctx, err)
			if cls == classNoRows {
				return auth.ErrUserNotFound
			}
			return s.failClass(ctx, "ReplaceRecoveryCodes", err, cls)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM auth_recovery_codes WHERE user_id = ?", userID); err != nil {
		return s.fail(ctx, "ReplaceRecoveryCodes", err)
	}
	if len(hashes) > 0 {
		var b strings.Builder
		b.WriteString("INSERT INTO auth_recovery_codes (user_id, hash, created_at) VALUES ")
		args := make([]any, 0, 3*len(hashes))
		for i, h := range hashes {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?)")
			args = append(args, userID, h, s.at(at))
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			switch cls, _ := classify(ctx, err); cls {
			case classForeignKey:
				return auth.ErrUserNotFound
			case classUnique:
				return auth.ErrInvalidInput // the same hash twice
			default:
				return s.failClass(ctx, "ReplaceRecoveryCodes", err, cls)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, "ReplaceRecoveryCodes", err)
	}
	return nil
}

// UseRecoveryCode implements totp.RecoveryStore with one DELETE: of
// concurrent uses of a code exactly one succeeds, the others (and unknown
// codes) get totp.ErrNotFound.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	if !auth.ValidID(userID) || len(hash) == 0 {
		return totp.ErrNotFound
	}
	res, err := s.db.ExecContext(ctx, "DELETE FROM auth_recovery_codes WHERE user_id = ? AND hash = ?", userID, hash)
	if err != nil {
		return s.fail(ctx, "UseRecoveryCode", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, "UseRecoveryCode", err)
	}
	if n == 0 {
		return totp.ErrNotFound
	}
	return nil
}

// RecoveryCodesLeft implements totp.RecoveryStore.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	if !auth.ValidID(userID) {
		return 0, nil
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM auth_recovery_codes WHERE user_id = ?", userID).Scan(&n); err != nil {
		return 0, s.fail(ctx, "RecoveryCodesLeft", err)
	}
	return n, nil
}

// DeleteRecoveryCodes implements totp.RecoveryStore.
func (s *Store) DeleteRecoveryCodes(ctx context.Context, userID string) error {
	if !auth.ValidID(userID) {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM auth_recovery_codes WHERE user_id = ?", userID); err != nil {
		return s.fail(ctx, "DeleteRecoveryCodes", err)
	}
	return nil
}
