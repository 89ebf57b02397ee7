package authtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// TestRevocationStore checks the RevocationStore contract: each kind of
// entry answers only for its own ID, a user cutoff keeps millisecond
// precision and only moves forward, one query answers all three, and
// entries disappear after their expiry (after Sweep, for a Sweeper).
func TestRevocationStore(t *testing.T, rs auth.RevocationStore) {
	ctx := context.Background()
	later := func() time.Time { return time.Now().Add(time.Hour) }

	t.Run("Empty", func(t *testing.T) {
		st, err := rs.Revoked(ctx, auth.RevocationQuery{TokenID: newID(), SessionID: newID(), UserID: newID()})
		require.NoError(t, err)
		require.Equal(t, auth.RevocationStatus{}, st)
		st, err = rs.Revoked(ctx, auth.RevocationQuery{})
		require.NoError(t, err)
		require.Equal(t, auth.RevocationStatus{}, st)
	})

	t.Run("ReadYourWrites", func(t *testing.T) {
		for _, kind := range []auth.RevocationKind{auth.RevocationToken, auth.RevocationSession, auth.RevocationUser} {
			for range 50 {
				q := auth.RevocationQuery{TokenID: newID(), SessionID: newID(), UserID: newID()}
				st, err := rs.Revoked(ctx, q) // now cached as "not revoked", where the store caches
				require.NoError(t, err)
				require.Equal(t, auth.RevocationStatus{}, st)
				id := map[auth.RevocationKind]string{auth.RevocationToken: q.TokenID, auth.RevocationSession: q.SessionID, auth.RevocationUser: q.UserID}[kind]
				require.NoError(t, rs.Revoke(ctx, auth.Revocation{Kind: kind, ID: id, At: now(), ExpiresAt: later()}))
				st, err = rs.Revoked(ctx, q)
				require.NoError(t, err)
				require.True(t, st.Revokes(now().Add(-time.Second)), "%s revocation seen at once by the store that wrote it", kind)
			}
		}
	})

	t.Run("InvalidInput", func(t *testing.T) {
		for name, r := range map[string]auth.Revocation{
			"unknown kind": {Kind: 9, ID: newID(), At: now(), ExpiresAt: later()},
			"empty ID":     {Kind: auth.RevocationToken, At: now(), ExpiresAt: later()},
			"zero expiry":  {Kind: auth.RevocationSession, ID: newID(), At: now()},
			"zero user At": {Kind: auth.RevocationUser, ID: newID(), ExpiresAt: later()},
		} {
			require.ErrorIs(t, rs.Revoke(ctx, r), auth.ErrInvalidInput, name)
		}
	})

	t.Run("Token", func(t *testing.T) {
		jti, sid, uid := newID(), newID(), newID()
		require.NoError(t, rs.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: jti, At: now(), ExpiresAt: later()}))
		st, err := rs.Revoked(ctx, auth.RevocationQuery{TokenID: jti, SessionID: sid, UserID: uid})
		require.NoError(t, err)
		require.Equal(t, auth.RevocationStatus{TokenRevoked: true}, st)
		st, err = rs.Revoked(ctx, auth.RevocationQuery{TokenID: newID(), SessionID: jti, UserID: jti})
		require.NoError(t, err)
		require.Equal(t, auth.RevocationStatus{}, st, "a token entry does not match a session or user of the same ID")
	})

	t.Run("Session", func(t *testing.T) {
		sid := newID()
		require.NoError(t, rs.Revoke(ctx, auth.Revocation{Kind: auth.RevocationSession, ID: sid, At: now(), ExpiresAt: later()}))
		st, err := rs.Revoked(ctx, auth.RevocationQuery{TokenID: newID(), SessionID: sid, UserID: newID()})
		require.NoError(t, err)
		require.Equal(t, auth.RevocationStatus{SessionRevoked: true}, st)
		st, err = rs.Revoked(ctx, auth.RevocationQuery{TokenID: sid, SessionID: newID(), UserID: sid})
		require.NoError(t, err)
		require.Equal(t, auth.RevocationStatus{}, st)
	})

	t.Run("UserCutoff", func(t *testing.T) {
		uid := newID()
		at := now().Add(-time.Minute).Add(123 * time.Millisecond)
		require.NoError(t, rs.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: uid, At: at, ExpiresAt: later()}))
		st, err := rs.Revoked(ctx, auth.RevocationQuery{TokenID: newID(), SessionID: newID(), UserID: uid})
		require.NoError(t, err)
		require.False(t, st.TokenRevoked)
		require.False(t, st.SessionRevoked)
		require.Equal(t, at.UnixMilli(), st.UserCutoff.UnixMilli(), "cutoff keeps millisecond precision")

		require.NoError(t, rs.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: uid, At: at.Add(-time.Second), ExpiresAt: later()}))
		st, err = rs.Revoked(ctx, auth.RevocationQuery{UserID: uid})
		require.NoError(t, err)
		require.Equal(t, at.UnixMilli(), st.UserCutoff.UnixMilli(), "an earlier cutoff is ignored")

		next := at.Add(1500 * time.Millisecond)
		require.NoError(t, rs.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: uid, At: next, ExpiresAt: later()}))
		st, err = rs.Revoked(ctx, auth.RevocationQuery{UserID: uid})
		require.NoError(t, err)
		require.Equal(t, next.UnixMilli(), st.UserCutoff.UnixMilli(), "a later cutoff replaces it")
		require.True(t, st.Revokes(next))
		require.False(t, st.Revokes(next.Add(time.Millisecond)))
	})

	t.Run("AllInOneQuery", func(t *testing.T) {
		jti, sid, uid := newID(), newID(), newID()
		at := now()
		for _, r := range []auth.Revocation{
			{Kind: auth.RevocationToken, ID: jti, At: at, ExpiresAt: later()},
			{Kind: auth.RevocationSession, ID: sid, At: at, ExpiresAt: later()},
			{Kind: auth.RevocationUser, ID: uid, At: at, ExpiresAt: later()},
		} {
			require.NoError(t, rs.Revoke(ctx, r))
		}
		st, err := rs.Revoked(ctx, auth.RevocationQuery{TokenID: jti, SessionID: sid, UserID: uid})
		require.NoError(t, err)
		require.True(t, st.TokenRevoked)
		require.True(t, st.SessionRevoked)
		require.Equal(t, at.UnixMilli(), st.UserCutoff.UnixMilli())
	})

	t.Run("Expiry", func(t *testing.T) {
		jti, sid, uid := newID(), newID(), newID()
		exp := time.Now().Add(400 * time.Millisecond)
		for _, r := range []auth.Revocation{
			{Kind: auth.RevocationToken, ID: jti, At: now(), ExpiresAt: exp},
			{Kind: auth.RevocationSession, ID: sid, At: now(), ExpiresAt: exp},
			{Kind: auth.RevocationUser, ID: uid, At: now(), ExpiresAt: exp},
		} {
			require.NoError(t, rs.Revoke(ctx, r))
		}
		q := auth.RevocationQuery{TokenID: jti, SessionID: sid, UserID: uid}
		st, err := rs.Revoked(ctx, q)
		require.NoError(t, err)
		require.True(t, st.TokenRevoked && st.SessionRevoked && !st.UserCutoff.IsZero(), "present before expiry")

		time.Sleep(time.Until(exp) + 300*time.Millisecond)
		if sw, ok := rs.(auth.Sweeper); ok {
			_, err := sw.Sweep(ctx, time.Now())
			require.NoError(t, err)
		}
		st, err = rs.Revoked(ctx, q)
		require.NoError(t, err)
		require.Equal(t, auth.RevocationStatus{}, st, "gone after expiry")
	})

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		ids := make([]string, 32)
		for i := range ids {
			ids[i] = newID()
		}
		for i := range ids {
			wg.Go(func() {
				require.NoError(t, rs.Revoke(ctx, auth.Revocation{Kind: auth.RevocationSession, ID: ids[i], At: now(), ExpiresAt: later()}))
			})
			wg.Go(func() {
				_, err := rs.Revoked(ctx, auth.RevocationQuery{TokenID: ids[i], SessionID: ids[i], UserID: ids[i]})
				require.NoError(t, err)
			})
		}
		wg.Wait()
		for _, id := range ids {
			st, err := rs.Revoked(ctx, auth.RevocationQuery{SessionID: id})
			require.NoError(t, err)
			require.True(t, st.SessionRevoked)
		}
	})
}
