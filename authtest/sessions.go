package authtest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// TestSessionStore checks the SessionStore contract: look-up by current and
// previous refresh hash, atomic rotation (exactly one of 20 concurrent
// rotations wins), listing live sessions, and revocation by session, by
// user and "all but one".
func TestSessionStore(t *testing.T, st Stores) {
	ctx := context.Background()
	sessions := st.Sessions

	newUser := func(t *testing.T) *auth.User {
		t.Helper()
		n := now()
		u := &auth.User{ID: newID(), TenantID: auth.DefaultTenantID, Email: randomEmail(), PasswordHash: "x", Role: auth.RoleViewer, Active: true, CreatedAt: n, UpdatedAt: n, Meta: json.RawMessage(`{}`)}
		if _, err := st.Tenants.Tenant(ctx, auth.DefaultTenantID); errors.Is(err, auth.ErrTenantNotFound) {
			err = st.Tenants.CreateTenant(ctx, &auth.Tenant{ID: auth.DefaultTenantID, Name: "Default", Slug: auth.DefaultTenantSlug, Active: true, CreatedAt: n, UpdatedAt: n})
			if !errors.Is(err, auth.ErrTenantTaken) {
				require.NoError(t, err)
			}
		}
		require.NoError(t, st.Users.CreateUser(ctx, u))
		return u
	}
	newSession := func(t *testing.T, u *auth.User, created time.Time) *auth.Session {
		t.Helper()
		s := &auth.Session{
			ID: newID(), UserID: u.ID, TenantID: u.TenantID, RefreshHash: randomHash(),
			CreatedAt: created, LastUsedAt: created, IdleExpiresAt: created.Add(time.Hour), ExpiresAt: created.Add(24 * time.Hour),
			UserAgent: "Mozilla/5.0 (test) ünïcode", IP: "2001:db8::1",
		}
		require.NoError(t, sessions.CreateSession(ctx, s))
		return s
	}

	t.Run("RoundTrip", func(t *testing.T) {
		u := newUser(t)
		s := newSession(t, u, now())
		got, err := sessions.SessionByRefreshHash(ctx, s.RefreshHash)
		require.NoError(t, err)
		require.Equal(t, s.ID, got.ID)
		require.Equal(t, s.UserID, got.UserID)
		require.Equal(t, s.TenantID, got.TenantID)
		require.Equal(t, s.RefreshHash, got.RefreshHash)
		require.Empty(t, got.PreviousHash)
		require.True(t, got.RotatedAt.IsZero())
		require.True(t, got.RevokedAt.IsZero())
		require.Equal(t, s.UserAgent, got.UserAgent)
		require.Equal(t, s.IP, got.IP)
		require.WithinDuration(t, s.CreatedAt, got.CreatedAt, time.Millisecond)
		require.WithinDuration(t, s.IdleExpiresAt, got.IdleExpiresAt, time.Millisecond)
		require.WithinDuration(t, s.ExpiresAt, got.ExpiresAt, time.Millisecond)
		require.True(t, got.Live(now()))
		require.Empty(t, got.AMR, "a session stored without methods reads back without them")
		require.True(t, got.AuthTime.IsZero())
		require.Equal(t, []auth.Method{auth.MethodPassword}, got.Methods())
		require.Equal(t, got.CreatedAt, got.AuthenticatedAt())
	})

	t.Run("AuthMethods", func(t *testing.T) {
		u := newUser(t)
		at := now().Add(-time.Minute)
		s := &auth.Session{
			ID: newID(), UserID: u.ID, TenantID: u.TenantID, RefreshHash: randomHash(),
			CreatedAt: now(), LastUsedAt: now(), IdleExpiresAt: now().Add(time.Hour), ExpiresAt: now().Add(24 * time.Hour),
			AMR: []auth.Method{auth.MethodPassword, auth.MethodOTP, auth.MethodMFA}, AuthTime: at,
		}
		require.NoError(t, sessions.CreateSession(ctx, s))
		s.AMR[0] = "changed" // the store keeps its own copy
		got, err := sessions.SessionByRefreshHash(ctx, s.RefreshHash)
		require.NoError(t, err)
		require.Equal(t, []auth.Method{auth.MethodPassword, auth.MethodOTP, auth.MethodMFA}, got.AMR)
		require.WithinDuration(t, at, got.AuthTime, time.Millisecond)
		to := randomHash()
		rotated, err := sessions.RotateSession(ctx, s.ID, auth.Rotation{From: s.RefreshHash, To: to, At: now(), IdleExpiresAt: now().Add(time.Hour)})
		require.NoError(t, err)
		require.Equal(t, got.AMR, rotated.AMR, "a rotation keeps the methods")
		require.WithinDuration(t, at, rotated.AuthTime, time.Millisecond)
		list, err := sessions.ListSessions(ctx, u.ID, now())
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, got.AMR, list[0].AMR)
	})

	t.Run("NotFound", func(t *testing.T) {
		_, err := sessions.SessionByRefreshHash(ctx, randomHash())
		require.ErrorIs(t, err, auth.ErrSessionNotFound)
		_, err = sessions.RotateSession(ctx, newID(), auth.Rotation{From: randomHash(), To: randomHash(), At: now(), IdleExpiresAt: now().Add(time.Hour)})
		require.ErrorIs(t, err, auth.ErrSessionNotFound)
	})

	t.Run("Rotate", func(t *testing.T) {
		u := newUser(t)
		s := newSession(t, u, now())
		to, at := randomHash(), now().Add(time.Second)
		got, err := sessions.RotateSession(ctx, s.ID, auth.Rotation{From: s.RefreshHash, To: to, At: at, IdleExpiresAt: at.Add(2 * time.Hour)})
		require.NoError(t, err)
		require.Equal(t, to, got.RefreshHash)
		require.Equal(t, s.RefreshHash, got.PreviousHash)
		require.WithinDuration(t, at, got.RotatedAt, time.Millisecond)
		require.WithinDuration(t, at, got.LastUsedAt, time.Millisecond)
		require.WithinDuration(t, at.Add(2*time.Hour), got.IdleExpiresAt, time.Millisecond)

		byNew, err := sessions.SessionByRefreshHash(ctx, to)
		require.NoError(t, err)
		require.Equal(t, s.ID, byNew.ID)
		byOld, err := sessions.SessionByRefreshHash(ctx, s.RefreshHash)
		require.NoError(t, err, "the previous hash still finds the session (reuse detection)")
		require.Equal(t, s.ID, byOld.ID)
		require.Equal(t, to, byOld.RefreshHash)

		_, err = sessions.RotateSession(ctx, s.ID, auth.Rotation{From: s.RefreshHash, To: randomHash(), At: now(), IdleExpiresAt: now().Add(time.Hour)})
		require.ErrorIs(t, err, auth.ErrConflict, "rotating from a stale hash")

		// Every hash the session has had keeps finding it, however many
		// rotations ago, so that reuse of an old token is detected.
		to2, to3 := randomHash(), randomHash()
		_, err = sessions.RotateSession(ctx, s.ID, auth.Rotation{From: to, To: to2, At: now(), IdleExpiresAt: now().Add(time.Hour)})
		require.NoError(t, err)
		_, err = sessions.RotateSession(ctx, s.ID, auth.Rotation{From: to2, To: to3, At: now(), IdleExpiresAt: now().Add(time.Hour)})
		require.NoError(t, err)
		for i, h := range [][]byte{s.RefreshHash, to, to2, to3} {
			got, err := sessions.SessionByRefreshHash(ctx, h)
			require.NoError(t, err, "hash %d", i)
			require.Equal(t, s.ID, got.ID)
			require.Equal(t, to3, got.RefreshHash)
			require.Equal(t, to2, got.PreviousHash)
		}
	})

	t.Run("RotateRevoked", func(t *testing.T) {
		u := newUser(t)
		s := newSession(t, u, now())
		_, err := sessions.RevokeSessions(ctx, auth.SessionRevocation{UserID: u.ID, SessionID: s.ID, At: now()})
		require.NoError(t, err)
		_, err = sessions.RotateSession(ctx, s.ID, auth.Rotation{From: s.RefreshHash, To: randomHash(), At: now(), IdleExpiresAt: now().Add(time.Hour)})
		require.ErrorIs(t, err, auth.ErrConflict)
		got, err := sessions.SessionByRefreshHash(ctx, s.RefreshHash)
		require.NoError(t, err, "revoked sessions are still found, so their tokens are told apart from unknown ones")
		require.False(t, got.RevokedAt.IsZero())
	})

	t.Run("ConcurrentRotationOneWinner", func(t *testing.T) {
		u := newUser(t)
		s := newSession(t, u, now())
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = sessions.RotateSession(ctx, s.ID, auth.Rotation{From: s.RefreshHash, To: randomHash(), At: now(), IdleExpiresAt: now().Add(time.Hour)})
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
				continue
			}
			require.ErrorIs(t, err, auth.ErrConflict)
		}
		require.Equal(t, 1, wins)
	})

	t.Run("ListAndRevoke", func(t *testing.T) {
		u, other := newUser(t), newUser(t)
		base := now()
		s1 := newSession(t, u, base.Add(-3*time.Second))
		s2 := newSession(t, u, base.Add(-2*time.Second))
		s3 := newSession(t, u, base.Add(-1*time.Second))
		expired := &auth.Session{
			ID: newID(), UserID: u.ID, TenantID: u.TenantID, RefreshHash: randomHash(),
			CreatedAt: base.Add(-2 * time.Hour), LastUsedAt: base.Add(-2 * time.Hour),
			IdleExpiresAt: base.Add(-time.Hour), ExpiresAt: base.Add(time.Hour),
		}
		require.NoError(t, sessions.CreateSession(ctx, expired))
		so := newSession(t, other, base)

		list, err := sessions.ListSessions(ctx, u.ID, base)
		require.NoError(t, err)
		require.Equal(t, []string{s3.ID, s2.ID, s1.ID}, sessionIDs(list), "live sessions, newest first")

		ids, err := sessions.RevokeSessions(ctx, auth.SessionRevocation{UserID: u.ID, SessionID: s2.ID, At: base})
		require.NoError(t, err)
		require.Equal(t, []string{s2.ID}, ids)
		ids, err = sessions.RevokeSessions(ctx, auth.SessionRevocation{UserID: u.ID, SessionID: s2.ID, At: base})
		require.NoError(t, err)
		require.Empty(t, ids, "already revoked")
		ids, err = sessions.RevokeSessions(ctx, auth.SessionRevocation{UserID: other.ID, SessionID: s1.ID, At: base})
		require.NoError(t, err)
		require.Empty(t, ids, "another user's session is not touched")

		ids, err = sessions.RevokeSessions(ctx, auth.SessionRevocation{UserID: u.ID, ExceptID: s3.ID, At: base})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{s1.ID, expired.ID}, ids, "all but s3, expired ones included")
		list, err = sessions.ListSessions(ctx, u.ID, base)
		require.NoError(t, err)
		require.Equal(t, []string{s3.ID}, sessionIDs(list))

		ids, err = sessions.RevokeSessions(ctx, auth.SessionRevocation{UserID: u.ID, At: base})
		require.NoError(t, err)
		require.Contains(t, ids, s3.ID)
		list, err = sessions.ListSessions(ctx, u.ID, base)
		require.NoError(t, err)
		require.Empty(t, list)

		list, err = sessions.ListSessions(ctx, other.ID, base)
		require.NoError(t, err)
		require.Equal(t, []string{so.ID}, sessionIDs(list))
	})

	if sw, ok := sessions.(auth.Sweeper); ok {
		t.Run("Sweep", func(t *testing.T) {
			u := newUser(t)
			live := newSession(t, u, now())
			base := now()
			expired := &auth.Session{
				ID: newID(), UserID: u.ID, TenantID: u.TenantID, RefreshHash: randomHash(),
				CreatedAt: base.Add(-2 * time.Hour), LastUsedAt: base.Add(-2 * time.Hour),
				IdleExpiresAt: base.Add(-time.Hour), ExpiresAt: base.Add(time.Hour),
			}
			require.NoError(t, sessions.CreateSession(ctx, expired))
			_, err := sw.Sweep(ctx, base)
			require.NoError(t, err)
			_, err = sessions.SessionByRefreshHash(ctx, live.RefreshHash)
			require.NoError(t, err, "a live session survives a sweep")
			_, err = sessions.SessionByRefreshHash(ctx, expired.RefreshHash)
			require.ErrorIs(t, err, auth.ErrSessionNotFound, "an expired session is swept")
		})
	}
}

func sessionIDs(ss []*auth.Session) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return slices.Clip(out)
}
