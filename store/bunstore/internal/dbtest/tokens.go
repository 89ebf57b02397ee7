package dbtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
)

// actionTokens checks what the ActionTokenStore suite leaves to the
// store: decoys stored with a NULL user, tokens deleted with their user,
// the errors of CreateActionToken, and millisecond times.
func actionTokens(t *testing.T, open Opener, db *bun.DB, st *bunstore.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	token := func(userID string) *auth.ActionToken {
		return &auth.ActionToken{Hash: hash(randomHex(16)), Purpose: auth.PurposeResetPassword, UserID: userID,
			Email: "a-" + randomHex(4) + "@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}

	t.Run("DecoyHasNoUser", func(t *testing.T) {
		d := token("")
		d.Email = ""
		require.NoError(t, st.CreateActionToken(ctx, d))
		var null bool
		require.NoError(t, db.QueryRowContext(ctx, "SELECT user_id IS NULL FROM auth_action_tokens WHERE hash = ?", d.Hash).Scan(&null))
		require.True(t, null, "a decoy's user_id is NULL")
		got, err := st.ActionToken(ctx, d.Purpose, d.Hash, now)
		require.NoError(t, err)
		require.Empty(t, got.UserID)
		require.Empty(t, got.Email)
		require.NoError(t, st.DeleteActionTokens(ctx, "", d.Purpose), "deletes no one's tokens")
		_, err = st.ConsumeActionToken(ctx, d.Purpose, d.Hash, now)
		require.NoError(t, err, "the store keeps decoys; the Authenticator refuses them")
	})

	t.Run("DeletedWithUser", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		tok := token(u.ID)
		require.NoError(t, st.CreateActionToken(ctx, tok))
		_, err := db.ExecContext(ctx, "DELETE FROM auth_users WHERE id = ?", u.ID)
		require.NoError(t, err)
		_, err = st.ActionToken(ctx, tok.Purpose, tok.Hash, now)
		require.ErrorIs(t, err, auth.ErrInvalidToken, "ON DELETE CASCADE")
	})

	t.Run("CreateErrors", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		tok := token(u.ID)
		require.NoError(t, st.CreateActionToken(ctx, tok))
		dup := token(u.ID)
		dup.Hash = tok.Hash
		require.ErrorIs(t, st.CreateActionToken(ctx, dup), auth.ErrConflict, "same hash")
		require.ErrorIs(t, st.CreateActionToken(ctx, token(newID())), auth.ErrUserNotFound)
		require.ErrorIs(t, st.CreateActionToken(ctx, token("not-a-uuid")), auth.ErrUserNotFound)
		for name, spoil := range map[string]func(*auth.ActionToken){
			"no hash":     func(t *auth.ActionToken) { t.Hash = nil },
			"no purpose":  func(t *auth.ActionToken) { t.Purpose = "" },
			"no expiry":   func(t *auth.ActionToken) { t.ExpiresAt = time.Time{} },
			"NUL":         func(t *auth.ActionToken) { t.Email = "a\x00b@example.com" },
			"no creation": func(t *auth.ActionToken) { t.CreatedAt = time.Time{} },
		} {
			bad := token(u.ID)
			spoil(bad)
			err := st.CreateActionToken(ctx, bad)
			require.ErrorIs(t, err, auth.ErrInvalidInput, name)
			RequireClean(t, err, auth.ErrInvalidInput)
		}
	})

	t.Run("LookupRefusesOddInput", func(t *testing.T) {
		for _, h := range [][]byte{nil, {}} {
			_, err := st.ActionToken(ctx, auth.PurposeVerifyEmail, h, now)
			require.ErrorIs(t, err, auth.ErrInvalidToken)
			_, err = st.ConsumeActionToken(ctx, auth.PurposeVerifyEmail, h, now)
			require.ErrorIs(t, err, auth.ErrInvalidToken)
		}
		_, err := st.ActionToken(ctx, "x\x00", hash("a"), now)
		require.ErrorIs(t, err, auth.ErrInvalidToken)
		require.NoError(t, st.DeleteActionTokens(ctx, "'; DROP TABLE auth_action_tokens; --", auth.PurposeVerifyEmail))
	})

	t.Run("MillisecondTimes", func(t *testing.T) {
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		tok := token(u.ID)
		tok.CreatedAt = time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
		tok.ExpiresAt = tok.CreatedAt.Add(100 * 365 * 24 * time.Hour)
		require.NoError(t, st.CreateActionToken(ctx, tok))
		got, err := st.ConsumeActionToken(ctx, tok.Purpose, tok.Hash, now)
		require.NoError(t, err)
		require.Equal(t, tok, got)
		_, err = st.ActionToken(ctx, tok.Purpose, tok.Hash, now)
		require.ErrorIs(t, err, auth.ErrInvalidToken, "consumed")
	})

	t.Run("ConsumeAcrossPools", func(t *testing.T) {
		// Like the suite's ConsumeOnce, but from two pools, as from two
		// instances of a service.
		u := newUser(auth.DefaultTenantID)
		require.NoError(t, st.CreateUser(ctx, u))
		st2, err := bunstore.New(open(t), bunstore.WithSweepInterval(0), bunstore.WithLogger(Logger()))
		require.NoError(t, err)
		defer st2.Close()
		const n = 40
		for range 5 {
			tok := token(u.ID)
			require.NoError(t, st.CreateActionToken(ctx, tok))
			got := make([]*auth.ActionToken, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					s := st
					if i%2 == 1 {
						s = st2
					}
					<-start
					got[i], errs[i] = s.ConsumeActionToken(ctx, tok.Purpose, tok.Hash, now)
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for i, err := range errs {
				if err != nil {
					require.ErrorIs(t, err, auth.ErrInvalidToken)
					continue
				}
				require.Equal(t, tok.Hash, got[i].Hash)
				wins++
			}
			require.Equal(t, 1, wins)
		}
	})
}
