// Package totptest holds the acceptance suite that every implementation of
// the store interfaces of package factor/totp must pass, in the manner of
// package authtest. A store package runs it from its own tests:
//
//	func TestTOTPStore(t *testing.T) {
//		st := mystore.New(...)
//		totptest.TestStore(t, totptest.Stores{Users: st, Tenants: st, TOTP: st, Recovery: st})
//	}
//
// The suite creates its own tenant and users with random IDs and emails, so
// it can share a database with other tests and run twice against the same
// store. Run it with -race: it checks that concurrent uses of one time step
// or one recovery code have exactly one winner.
package totptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/stretchr/testify/require"
)

// Stores are the stores under test. Users and Tenants hold the users the
// suite creates (secrets and codes refer to users).
type Stores struct {
	Users    auth.UserStore
	Tenants  auth.TenantStore
	TOTP     totp.Store
	Recovery totp.RecoveryStore
}

// TestStore runs the suites of the stores that are set: TestSecretStore
// and TestRecoveryStore.
func TestStore(t *testing.T, st Stores) {
	t.Helper()
	require.NotNil(t, st.Users, "totptest: Stores.Users is required")
	require.NotNil(t, st.Tenants, "totptest: Stores.Tenants is required")
	if st.TOTP != nil {
		t.Run("SecretStore", func(t *testing.T) { TestSecretStore(t, st) })
	}
	if st.Recovery != nil {
		t.Run("RecoveryStore", func(t *testing.T) { TestRecoveryStore(t, st) })
	}
}

type fixture struct {
	st     Stores
	tenant string
}

func newFixture(t *testing.T, st Stores) fixture {
	t.Helper()
	n := now()
	tn := &auth.Tenant{ID: newID(), Name: "TOTP", Slug: "totp-" + randomHex(6), Active: true, CreatedAt: n, UpdatedAt: n}
	require.NoError(t, st.Tenants.CreateTenant(context.Background(), tn))
	return fixture{st: st, tenant: tn.ID}
}

func (f fixture) user(t *testing.T) string {
	t.Helper()
	n := now()
	u := &auth.User{ID: newID(), TenantID: f.tenant, Email: "totp-" + randomHex(6) + "@example.com", PasswordHash: "x",
		Role: auth.RoleViewer, Active: true, CreatedAt: n, UpdatedAt: n, Meta: json.RawMessage(`{}`)}
	require.NoError(t, f.st.Users.CreateUser(context.Background(), u))
	return u.ID
}

func pending(userID string) *totp.Secret {
	return &totp.Secret{UserID: userID, KeyID: "k1", Sealed: randomBytes(48), CreatedAt: now()}
}

// TestSecretStore checks a totp.Store: pending secrets and their
// replacement, confirmation, replay-proof step use with re-sealing,
// deletion, isolation between users, races and canceled contexts.
func TestSecretStore(t *testing.T, st Stores) {
	f := newFixture(t, st)
	s := st.TOTP
	ctx := context.Background()

	t.Run("NotFound", func(t *testing.T) {
		for _, id := range []string{newID(), f.user(t), "", "not-a-uuid"} {
			_, err := s.TOTPSecret(ctx, id)
			require.ErrorIs(t, err, totp.ErrNotFound, id)
		}
	})

	t.Run("PendingRoundTripAndReplace", func(t *testing.T) {
		uid := f.user(t)
		p := pending(uid)
		require.NoError(t, s.PutPendingTOTPSecret(ctx, p))
		got, err := s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, uid, got.UserID)
		require.Equal(t, p.KeyID, got.KeyID)
		require.Equal(t, p.Sealed, got.Sealed)
		require.False(t, got.Confirmed)
		require.Zero(t, got.LastStep)
		require.True(t, p.CreatedAt.Equal(got.CreatedAt), "%v != %v", p.CreatedAt, got.CreatedAt)
		require.True(t, got.ConfirmedAt.IsZero())

		got.Sealed[0] ^= 0xff // the returned secret is a copy
		again, err := s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, p.Sealed, again.Sealed)

		p2 := pending(uid)
		p2.KeyID = "k2"
		require.NoError(t, s.PutPendingTOTPSecret(ctx, p2), "a pending secret is replaced")
		got, err = s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, "k2", got.KeyID)
		require.Equal(t, p2.Sealed, got.Sealed)
		require.ErrorIs(t, s.ConfirmTOTPSecret(ctx, uid, p.Sealed, 10, now()), totp.ErrNotFound, "the replaced secret cannot be confirmed")
	})

	t.Run("UnknownUser", func(t *testing.T) {
		require.ErrorIs(t, s.PutPendingTOTPSecret(ctx, pending(newID())), auth.ErrUserNotFound)
	})

	t.Run("ConfirmAndUse", func(t *testing.T) {
		uid := f.user(t)
		p := pending(uid)
		require.NoError(t, s.PutPendingTOTPSecret(ctx, p))
		require.ErrorIs(t, s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: p.Sealed, Step: 5}), totp.ErrStepUsed, "a pending secret takes no codes")
		require.ErrorIs(t, s.ConfirmTOTPSecret(ctx, uid, randomBytes(48), 100, now()), totp.ErrNotFound, "another sealed value")
		require.ErrorIs(t, s.ConfirmTOTPSecret(ctx, newID(), p.Sealed, 100, now()), totp.ErrNotFound, "another user")
		at := now()
		require.NoError(t, s.ConfirmTOTPSecret(ctx, uid, p.Sealed, 100, at))
		got, err := s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		require.True(t, got.Confirmed)
		require.Equal(t, int64(100), got.LastStep)
		require.True(t, at.Equal(got.ConfirmedAt), "%v != %v", at, got.ConfirmedAt)
		require.True(t, p.CreatedAt.Equal(got.CreatedAt))
		require.ErrorIs(t, s.ConfirmTOTPSecret(ctx, uid, p.Sealed, 101, now()), totp.ErrNotFound, "confirmed once")

		require.ErrorIs(t, s.PutPendingTOTPSecret(ctx, pending(uid)), totp.ErrAlreadyEnrolled)
		got, err = s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, p.Sealed, got.Sealed, "a refused enrolment changes nothing")
		require.True(t, got.Confirmed)

		use := totp.StepUse{UserID: uid, Sealed: p.Sealed}
		for _, step := range []int64{99, 100} {
			use.Step = step
			require.ErrorIs(t, s.UseTOTPStep(ctx, use), totp.ErrStepUsed, "step %d", step)
		}
		use.Step = 102
		require.NoError(t, s.UseTOTPStep(ctx, use))
		require.ErrorIs(t, s.UseTOTPStep(ctx, use), totp.ErrStepUsed, "the same step twice")
		use.Step = 101
		require.ErrorIs(t, s.UseTOTPStep(ctx, use), totp.ErrStepUsed, "an earlier step after a later one")
		require.ErrorIs(t, s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: randomBytes(48), Step: 200}), totp.ErrStepUsed, "another sealed value")
		require.ErrorIs(t, s.UseTOTPStep(ctx, totp.StepUse{UserID: newID(), Sealed: p.Sealed, Step: 200}), totp.ErrStepUsed, "another user")
		got, err = s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, int64(102), got.LastStep)
		require.Equal(t, p.KeyID, got.KeyID)

		// Re-sealing with the step update.
		resealed := randomBytes(60)
		require.NoError(t, s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: p.Sealed, Step: 103, KeyID: "k9", Resealed: resealed}))
		got, err = s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, "k9", got.KeyID)
		require.Equal(t, resealed, got.Sealed)
		require.Equal(t, int64(103), got.LastStep)
		require.True(t, got.Confirmed)
		require.ErrorIs(t, s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: p.Sealed, Step: 104}), totp.ErrStepUsed, "the old sealed value is gone")
		require.ErrorIs(t, s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: resealed, Step: 103, KeyID: "k1", Resealed: p.Sealed}), totp.ErrStepUsed,
			"a refused use does not re-seal")
		got, err = s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, resealed, got.Sealed)
		require.NoError(t, s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: resealed, Step: 104}))

		// Deletion.
		require.NoError(t, s.DeleteTOTPSecret(ctx, uid))
		_, err = s.TOTPSecret(ctx, uid)
		require.ErrorIs(t, err, totp.ErrNotFound)
		require.NoError(t, s.DeleteTOTPSecret(ctx, uid), "deleting nothing")
		require.NoError(t, s.DeleteTOTPSecret(ctx, newID()))
		require.ErrorIs(t, s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: resealed, Step: 500}), totp.ErrStepUsed)
		require.NoError(t, s.PutPendingTOTPSecret(ctx, pending(uid)), "enrolling again after deletion")
	})

	t.Run("UsersAreIsolated", func(t *testing.T) {
		a, b := f.user(t), f.user(t)
		pa, pb := pending(a), pending(b)
		require.NoError(t, s.PutPendingTOTPSecret(ctx, pa))
		require.NoError(t, s.PutPendingTOTPSecret(ctx, pb))
		require.ErrorIs(t, s.ConfirmTOTPSecret(ctx, b, pa.Sealed, 1, now()), totp.ErrNotFound, "a's sealed value for b")
		require.NoError(t, s.ConfirmTOTPSecret(ctx, a, pa.Sealed, 1, now()))
		got, err := s.TOTPSecret(ctx, b)
		require.NoError(t, err)
		require.False(t, got.Confirmed, "confirming a leaves b pending")
		require.NoError(t, s.DeleteTOTPSecret(ctx, b))
		_, err = s.TOTPSecret(ctx, a)
		require.NoError(t, err, "deleting b leaves a")
	})

	t.Run("ConcurrentStepUseOneWinner", func(t *testing.T) {
		uid := f.user(t)
		p := pending(uid)
		require.NoError(t, s.PutPendingTOTPSecret(ctx, p))
		require.NoError(t, s.ConfirmTOTPSecret(ctx, uid, p.Sealed, 10, now()))
		for round := range 3 {
			step := int64(11 + round)
			wins := race(t, 16, func(int) error {
				return s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: p.Sealed, Step: step})
			}, totp.ErrStepUsed)
			require.Equal(t, 1, wins, "round %d", round)
		}
		// Different steps at once: whatever interleaving, the latest stays.
		race(t, 16, func(i int) error {
			return s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: p.Sealed, Step: int64(100 + i)})
		}, totp.ErrStepUsed)
		got, err := s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, int64(115), got.LastStep, "last_step never moves back")
	})

	t.Run("ConcurrentResealOneWinner", func(t *testing.T) {
		uid := f.user(t)
		p := pending(uid)
		require.NoError(t, s.PutPendingTOTPSecret(ctx, p))
		require.NoError(t, s.ConfirmTOTPSecret(ctx, uid, p.Sealed, 10, now()))
		blobs := make([][]byte, 8)
		for i := range blobs {
			blobs[i] = randomBytes(60)
		}
		wins := race(t, len(blobs), func(i int) error {
			return s.UseTOTPStep(ctx, totp.StepUse{UserID: uid, Sealed: p.Sealed, Step: 11, KeyID: "k2", Resealed: blobs[i]})
		}, totp.ErrStepUsed)
		require.Equal(t, 1, wins)
		got, err := s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		found := false
		for _, b := range blobs {
			found = found || bytes.Equal(b, got.Sealed)
		}
		require.True(t, found, "the winner's re-sealed secret is stored")
	})

	t.Run("ConcurrentConfirmOneWinner", func(t *testing.T) {
		uid := f.user(t)
		p := pending(uid)
		require.NoError(t, s.PutPendingTOTPSecret(ctx, p))
		wins := race(t, 16, func(i int) error {
			return s.ConfirmTOTPSecret(ctx, uid, p.Sealed, int64(50+i), now())
		}, totp.ErrNotFound)
		require.Equal(t, 1, wins)
	})

	t.Run("ConcurrentEnrolConfirm", func(t *testing.T) {
		// Confirming one pending secret while another replaces it: the
		// stored secret is confirmed only if it is the confirmed one.
		uid := f.user(t)
		p := pending(uid)
		require.NoError(t, s.PutPendingTOTPSecret(ctx, p))
		p2 := pending(uid)
		var confirmErr, putErr error
		var wg sync.WaitGroup
		wg.Go(func() { confirmErr = s.ConfirmTOTPSecret(ctx, uid, p.Sealed, 5, now()) })
		wg.Go(func() { putErr = s.PutPendingTOTPSecret(ctx, p2) })
		wg.Wait()
		got, err := s.TOTPSecret(ctx, uid)
		require.NoError(t, err)
		if got.Confirmed {
			require.NoError(t, confirmErr)
			require.ErrorIs(t, putErr, totp.ErrAlreadyEnrolled)
			require.Equal(t, p.Sealed, got.Sealed)
		} else {
			require.NoError(t, putErr)
			require.ErrorIs(t, confirmErr, totp.ErrNotFound)
			require.Equal(t, p2.Sealed, got.Sealed)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		uid := f.user(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		p := pending(uid)
		for name, call := range map[string]func() error{
			"TOTPSecret":           func() error { _, err := s.TOTPSecret(cctx, uid); return err },
			"PutPendingTOTPSecret": func() error { return s.PutPendingTOTPSecret(cctx, p) },
			"ConfirmTOTPSecret":    func() error { return s.ConfirmTOTPSecret(cctx, uid, p.Sealed, 1, now()) },
			"UseTOTPStep":          func() error { return s.UseTOTPStep(cctx, totp.StepUse{UserID: uid, Sealed: p.Sealed, Step: 2}) },
			"DeleteTOTPSecret":     func() error { return s.DeleteTOTPSecret(cctx, uid) },
		} {
			err := call()
			require.ErrorIs(t, err, context.Canceled, name)
			for _, sentinel := range []error{totp.ErrNotFound, totp.ErrStepUsed, totp.ErrAlreadyEnrolled, auth.ErrUserNotFound} {
				require.NotErrorIs(t, err, sentinel, name)
			}
		}
		_, err := s.TOTPSecret(ctx, uid)
		require.ErrorIs(t, err, totp.ErrNotFound, "nothing was stored")
	})
}

// TestRecoveryStore checks a totp.RecoveryStore: replacement of the whole
// set, single use, counting, deletion, isolation between users, races and
// canceled contexts.
func TestRecoveryStore(t *testing.T, st Stores) {
	f := newFixture(t, st)
	r := st.Recovery
	ctx := context.Background()

	t.Run("ReplaceUseCount", func(t *testing.T) {
		uid, other := f.user(t), f.user(t)
		n, err := r.RecoveryCodesLeft(ctx, uid)
		require.NoError(t, err)
		require.Zero(t, n)
		require.ErrorIs(t, r.UseRecoveryCode(ctx, uid, hashOf("nothing")), totp.ErrNotFound)

		set := hashes(10)
		require.NoError(t, r.ReplaceRecoveryCodes(ctx, uid, set, now()))
		n, err = r.RecoveryCodesLeft(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, 10, n)

		require.ErrorIs(t, r.UseRecoveryCode(ctx, other, set[0]), totp.ErrNotFound, "another user's code")
		require.ErrorIs(t, r.UseRecoveryCode(ctx, uid, hashOf("x")), totp.ErrNotFound, "an unknown code")
		require.NoError(t, r.UseRecoveryCode(ctx, uid, set[0]))
		require.ErrorIs(t, r.UseRecoveryCode(ctx, uid, set[0]), totp.ErrNotFound, "used once")
		n, err = r.RecoveryCodesLeft(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, 9, n)

		fresh := hashes(5)
		require.NoError(t, r.ReplaceRecoveryCodes(ctx, uid, fresh, now()))
		n, err = r.RecoveryCodesLeft(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, 5, n)
		for _, h := range set[1:] {
			require.ErrorIs(t, r.UseRecoveryCode(ctx, uid, h), totp.ErrNotFound, "the old set stops working")
		}
		require.NoError(t, r.UseRecoveryCode(ctx, uid, fresh[4]))

		require.NoError(t, r.ReplaceRecoveryCodes(ctx, other, hashes(3), now()))
		require.NoError(t, r.DeleteRecoveryCodes(ctx, uid))
		n, err = r.RecoveryCodesLeft(ctx, uid)
		require.NoError(t, err)
		require.Zero(t, n)
		require.ErrorIs(t, r.UseRecoveryCode(ctx, uid, fresh[0]), totp.ErrNotFound)
		require.NoError(t, r.DeleteRecoveryCodes(ctx, uid), "deleting nothing")
		n, err = r.RecoveryCodesLeft(ctx, other)
		require.NoError(t, err)
		require.Equal(t, 3, n, "another user's codes stay")

		require.NoError(t, r.ReplaceRecoveryCodes(ctx, other, nil, now()), "an empty set")
		n, err = r.RecoveryCodesLeft(ctx, other)
		require.NoError(t, err)
		require.Zero(t, n)
	})

	t.Run("UnknownUser", func(t *testing.T) {
		require.ErrorIs(t, r.ReplaceRecoveryCodes(ctx, newID(), hashes(2), now()), auth.ErrUserNotFound)
		n, err := r.RecoveryCodesLeft(ctx, newID())
		require.NoError(t, err)
		require.Zero(t, n)
		require.ErrorIs(t, r.UseRecoveryCode(ctx, newID(), hashOf("x")), totp.ErrNotFound)
		require.NoError(t, r.DeleteRecoveryCodes(ctx, newID()))
	})

	t.Run("ConcurrentUseOneWinner", func(t *testing.T) {
		uid := f.user(t)
		set := hashes(3)
		require.NoError(t, r.ReplaceRecoveryCodes(ctx, uid, set, now()))
		for _, h := range set {
			wins := race(t, 16, func(int) error { return r.UseRecoveryCode(ctx, uid, h) }, totp.ErrNotFound)
			require.Equal(t, 1, wins)
		}
		n, err := r.RecoveryCodesLeft(ctx, uid)
		require.NoError(t, err)
		require.Zero(t, n)
	})

	t.Run("ConcurrentReplaceOneSetSurvives", func(t *testing.T) {
		uid := f.user(t)
		sets := make([][][]byte, 6)
		for i := range sets {
			sets[i] = hashes(4)
		}
		wins := race(t, len(sets), func(i int) error { return r.ReplaceRecoveryCodes(ctx, uid, sets[i], now()) }, nil)
		require.Equal(t, len(sets), wins)
		n, err := r.RecoveryCodesLeft(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, 4, n, "one whole set, not a mixture")
		survivors := 0
		for _, set := range sets {
			used := 0
			for _, h := range set {
				if r.UseRecoveryCode(ctx, uid, h) == nil {
					used++
				}
			}
			require.Contains(t, []int{0, 4}, used, "a set survives whole or not at all")
			if used == 4 {
				survivors++
			}
		}
		require.Equal(t, 1, survivors)
	})

	t.Run("CanceledContext", func(t *testing.T) {
		uid := f.user(t)
		require.NoError(t, r.ReplaceRecoveryCodes(ctx, uid, hashes(2), now()))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		for name, call := range map[string]func() error{
			"ReplaceRecoveryCodes": func() error { return r.ReplaceRecoveryCodes(cctx, uid, hashes(2), now()) },
			"UseRecoveryCode":      func() error { return r.UseRecoveryCode(cctx, uid, hashOf("x")) },
			"RecoveryCodesLeft":    func() error { _, err := r.RecoveryCodesLeft(cctx, uid); return err },
			"DeleteRecoveryCodes":  func() error { return r.DeleteRecoveryCodes(cctx, uid) },
		} {
			err := call()
			require.ErrorIs(t, err, context.Canceled, name)
			require.NotErrorIs(t, err, totp.ErrNotFound, name)
			require.NotErrorIs(t, err, auth.ErrUserNotFound, name)
		}
		n, err := r.RecoveryCodesLeft(ctx, uid)
		require.NoError(t, err)
		require.Equal(t, 2, n, "nothing changed")
	})
}

// race runs n calls of fn at once and returns how many succeeded; every
// failure must be lose (or, if lose is nil, there must be none).
func race(t *testing.T, n int, fn func(i int) error, lose error) int {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case lose != nil && errors.Is(err, lose):
		default:
			require.NoError(t, err)
		}
	}
	return wins
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func hashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = hashOf(randomHex(16))
	}
	return out
}

// now is the current time at millisecond precision, which stores must
// round-trip.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
