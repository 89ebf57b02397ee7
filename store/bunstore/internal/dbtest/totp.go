package dbtest

import (
	"context"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
)

// totpChecks are the bunstore-specific checks of the factor/totp stores:
// the schema's cascade and the columns an operator counts during a key
// rotation.
func totpChecks(t *testing.T, db *bun.DB, st *bunstore.Store) {
	ctx := context.Background()

	t.Run("DeletedWithUser", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		now := time.Now().UTC()
		require.NoError(t, st.PutPendingTOTPSecret(ctx, &totp.Secret{UserID: u.ID, KeyID: "k1", Sealed: []byte("sealed"), CreatedAt: now}))
		require.NoError(t, st.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{hash("a"), hash("b")}, now))
		_, err := db.ExecContext(ctx, "DELETE FROM auth_users WHERE id = ?", u.ID)
		require.NoError(t, err)
		_, err = st.TOTPSecret(ctx, u.ID)
		require.ErrorIs(t, err, totp.ErrNotFound, "ON DELETE CASCADE")
		n, err := st.RecoveryCodesLeft(ctx, u.ID)
		require.NoError(t, err)
		require.Zero(t, n, "ON DELETE CASCADE")
	})

	t.Run("KeyIDColumnForRotation", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		kid := "rot-" + randomHex(4)
		require.NoError(t, st.PutPendingTOTPSecret(ctx, &totp.Secret{UserID: u.ID, KeyID: kid, Sealed: []byte("sealed"), CreatedAt: time.Now()}))
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM auth_totp_secrets WHERE key_id = ?", kid).Scan(&n))
		require.Equal(t, 1, n)
	})

	t.Run("InvalidInput", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		for _, s := range []*totp.Secret{
			{UserID: u.ID, KeyID: "", Sealed: []byte("s"), CreatedAt: time.Now()},
			{UserID: u.ID, KeyID: "k", CreatedAt: time.Now()},
			{UserID: u.ID, KeyID: "k\x00", Sealed: []byte("s"), CreatedAt: time.Now()},
			{UserID: u.ID, KeyID: "k", Sealed: []byte("s")},
		} {
			RequireClean(t, st.PutPendingTOTPSecret(ctx, s), auth.ErrInvalidInput)
		}
		RequireClean(t, st.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{hash("a"), hash("a")}, time.Now()), auth.ErrInvalidInput)
		RequireClean(t, st.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{{}}, time.Now()), auth.ErrInvalidInput)
		RequireClean(t, st.PutPendingTOTPSecret(ctx, &totp.Secret{UserID: newID(), KeyID: "k", Sealed: []byte("s"), CreatedAt: time.Now()}), auth.ErrUserNotFound)
	})
}
