package totp

import (
	"context"
	"errors"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/internal/errs"
)

// Sentinel errors of the stores (and of the flows that pass them on).
var (
	// ErrNotFound is returned by a Store when the user has no secret in the
	// state the operation needs, and by a RecoveryStore when the code is
	// not (or no longer) among the user's.
	ErrNotFound = errors.New("totp: not found")
	// ErrStepUsed is returned by Store.UseTOTPStep when the step was not
	// recorded: it is not later than the last one used, or the secret the
	// code was checked against is no longer the user's confirmed secret.
	ErrStepUsed = errors.New("totp: time step already used")
	// ErrAlreadyEnrolled is returned by Enroll and Confirm (and by
	// Store.PutPendingTOTPSecret) when the user has a confirmed secret:
	// disable it first. It wraps auth.ErrFactorEnrolled.
	ErrAlreadyEnrolled = errs.Kind(auth.ErrFactorEnrolled, "totp: already enrolled")
)

// Secret is a user's TOTP secret as stored: sealed (AES-256-GCM) under the
// key KeyID of Config.Keys. Stores keep the fields as they are given and
// never look inside Sealed.
type Secret struct {
	UserID string
	// KeyID names the key that sealed the secret (it is also inside Sealed).
	KeyID  string
	Sealed []byte
	// Confirmed is set once the user proved with a first code that their
	// authenticator holds the secret; until then it is pending.
	Confirmed bool
	// LastStep is the last TOTP time step (Unix time / period) accepted
	// for this secret; a code of that step or an earlier one is a replay.
	// Zero: none yet.
	LastStep    int64
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while pending
}

// StepUse is the input of Store.UseTOTPStep.
type StepUse struct {
	UserID string
	// Sealed is the sealed secret the code was checked against: the use
	// applies only while it is still the user's confirmed secret.
	Sealed []byte
	// Step is the time step of the accepted code; it applies only if it
	// is later than the stored LastStep.
	Step int64
	// Resealed, if not nil, replaces the stored sealed secret, with KeyID
	// (lazy re-sealing under the current key, after key rotation).
	Resealed []byte
	KeyID    string
}

// Store keeps one TOTP secret per user. Implementations must be safe for
// concurrent use, and every method must be atomic: two instances of a
// service share one Store, and of two concurrent uses of one step exactly
// one succeeds. A canceled context or an unavailable backend is an error
// that is none of the sentinels. Times round-trip at millisecond precision.
type Store interface {
	// TOTPSecret returns the user's secret, pending or confirmed, or
	// ErrNotFound.
	TOTPSecret(ctx context.Context, userID string) (*Secret, error)
	// PutPendingTOTPSecret stores s (Confirmed false, LastStep 0, no
	// ConfirmedAt) as the user's pending secret, replacing a pending one.
	// It fails with ErrAlreadyEnrolled if the user has a confirmed secret,
	// and with auth.ErrUserNotFound if the user does not exist.
	PutPendingTOTPSecret(ctx context.Context, s *Secret) error
	// ConfirmTOTPSecret marks the user's pending secret confirmed at at,
	// with LastStep step, if it is still pending and sealed as sealed;
	// otherwise (none, replaced, or already confirmed) it fails with
	// ErrNotFound. Of concurrent calls at most one succeeds.
	ConfirmTOTPSecret(ctx context.Context, userID string, sealed []byte, step int64, at time.Time) error
	// UseTOTPStep records u.Step as the last used step of the user's
	// confirmed secret if that secret is still sealed as u.Sealed and its
	// LastStep is below u.Step, re-sealing it if u.Resealed is set, in one
	// atomic operation; otherwise it fails with ErrStepUsed.
	UseTOTPStep(ctx context.Context, u StepUse) error
	// DeleteTOTPSecret removes the user's secret, if any.
	DeleteTOTPSecret(ctx context.Context, userID string) error
}

// RecoveryStore keeps the hashes of users' recovery codes. Implementations
// must be safe for concurrent use, and every method must be atomic.
type RecoveryStore interface {
	// ReplaceRecoveryCodes makes hashes the user's whole set of codes,
	// created at at: the old set stops working at the same instant. Of
	// concurrent calls for one user, one set survives whole. It fails
	// with auth.ErrUserNotFound if the user does not exist.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error
	// UseRecoveryCode deletes the user's code with the hash, or fails with
	// ErrNotFound; of concurrent calls with one code exactly one succeeds.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte) error
	// RecoveryCodesLeft counts the user's unused codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// DeleteRecoveryCodes removes every code of the user.
	DeleteRecoveryCodes(ctx context.Context, userID string) error
}
