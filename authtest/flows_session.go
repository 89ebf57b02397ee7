package authtest

import (
	"context"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

func flowLogout(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	u := f.register(t, a)
	p := f.login(t, a, u.Email)
	other := f.login(t, a, u.Email)
	c, err := a.Authenticate(ctx, p.AccessToken)
	require.NoError(t, err)
	require.NoError(t, a.Logout(ctx, c))
	require.NoError(t, a.Logout(ctx, c), "idempotent")
	_, err = a.Authenticate(ctx, p.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked)
	_, err = f.refresh(a, p.RefreshToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked)
	_, err = a.Authenticate(ctx, other.AccessToken)
	require.NoError(t, err)
	_, err = f.refresh(a, other.RefreshToken)
	require.NoError(t, err)
}

func flowLogoutAll(t *testing.T, f flows) {
	ctx := context.Background()
	a, clock := f.setup(t, auth.Config{})
	u, bystander := f.register(t, a), f.register(t, a)
	ps := []*auth.TokenPair{f.login(t, a, u.Email), f.login(t, a, u.Email)}
	pb := f.login(t, a, bystander.Email)
	require.NoError(t, a.LogoutAll(ctx, u.ID))
	for _, p := range ps {
		_, err := a.Authenticate(ctx, p.AccessToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked)
		_, err = f.refresh(a, p.RefreshToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked)
	}
	_, err := a.Authenticate(ctx, pb.AccessToken)
	require.NoError(t, err, "other users are untouched")
	clock.Advance(time.Millisecond)
	p := f.login(t, a, u.Email)
	_, err = a.Authenticate(ctx, p.AccessToken)
	require.NoError(t, err, "a login after the cutoff works")
}

func flowSessionsListAndRevoke(t *testing.T, f flows) {
	ctx := context.Background()
	a, clock := f.setup(t, auth.Config{})
	u, other := f.register(t, a), f.register(t, a)
	p1 := f.login(t, a, u.Email)
	clock.Advance(time.Second)
	p2 := f.login(t, a, u.Email)
	clock.Advance(time.Second)
	p3 := f.login(t, a, u.Email)
	po := f.login(t, a, other.Email)
	list, err := a.Sessions(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, []string{p3.SessionID, p2.SessionID, p1.SessionID}, sessionIDs(list))
	require.Equal(t, "test", list[0].UserAgent)
	require.Equal(t, "127.0.0.1", list[0].IP)

	require.ErrorIs(t, a.RevokeSession(ctx, u.ID, po.SessionID), auth.ErrSessionNotFound, "not the user's session")
	require.ErrorIs(t, a.RevokeSession(ctx, u.ID, "nope"), auth.ErrSessionNotFound)
	require.NoError(t, a.RevokeSession(ctx, u.ID, p2.SessionID))
	_, err = a.Authenticate(ctx, p2.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked)
	require.ErrorIs(t, a.RevokeSession(ctx, u.ID, p2.SessionID), auth.ErrSessionNotFound, "already ended")

	require.NoError(t, a.RevokeOtherSessions(ctx, u.ID, p3.SessionID))
	_, err = a.Authenticate(ctx, p1.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked)
	_, err = a.Authenticate(ctx, p3.AccessToken)
	require.NoError(t, err)
	list, err = a.Sessions(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, []string{p3.SessionID}, sessionIDs(list))
	_, err = a.Authenticate(ctx, po.AccessToken)
	require.NoError(t, err)
}

func flowRevokeSingleToken(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	p := f.login(t, a, f.register(t, a).Email)
	c, err := a.Authenticate(ctx, p.AccessToken)
	require.NoError(t, err)
	require.NoError(t, a.RevokeToken(ctx, c))
	_, err = a.Authenticate(ctx, p.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked)
	p2, err := f.refresh(a, p.RefreshToken)
	require.NoError(t, err, "the session is not affected")
	_, err = a.Authenticate(ctx, p2.AccessToken)
	require.NoError(t, err)
}
