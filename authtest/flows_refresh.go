package authtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

func flowAccessTokenExpiry(t *testing.T, f flows) {
	ctx := context.Background()
	a, clock := f.setup(t, auth.Config{AccessTTL: time.Minute, Skew: -1})
	p := f.login(t, a, f.register(t, a).Email)
	clock.Advance(59 * time.Second)
	_, err := a.Authenticate(ctx, p.AccessToken)
	require.NoError(t, err)
	clock.Advance(time.Second)
	_, err = a.Authenticate(ctx, p.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenExpired)
}

func flowRefreshRotates(t *testing.T, f flows) {
	ctx := context.Background()
	a, clock := f.setup(t, auth.Config{})
	u := f.register(t, a)
	p1 := f.login(t, a, u.Email)
	clock.Advance(time.Minute)
	p2, err := f.refresh(a, p1.RefreshToken)
	require.NoError(t, err)
	require.NotEmpty(t, p2.RefreshToken)
	require.NotEqual(t, p1.RefreshToken, p2.RefreshToken)
	require.Equal(t, p1.SessionID, p2.SessionID)
	c, err := a.Authenticate(ctx, p2.AccessToken)
	require.NoError(t, err)
	require.Equal(t, u.ID, c.UserID)
	p3, err := f.refresh(a, p2.RefreshToken)
	require.NoError(t, err)
	require.NotEmpty(t, p3.RefreshToken)

	for _, bad := range []string{"", "garbage", p1.AccessToken, p1.RefreshToken[:42] + "A"} {
		_, err := f.refresh(a, bad)
		require.ErrorIs(t, err, auth.ErrInvalidToken)
	}
}

func flowGraceWindow(t *testing.T, f flows) {
	ctx := context.Background()
	a, clock := f.setup(t, auth.Config{RefreshGrace: 5 * time.Second})
	p1 := f.login(t, a, f.register(t, a).Email)
	p2, err := f.refresh(a, p1.RefreshToken)
	require.NoError(t, err)
	clock.Advance(4 * time.Second)
	g, err := f.refresh(a, p1.RefreshToken)
	require.NoError(t, err, "a retry within the grace window is not theft")
	require.Empty(t, g.RefreshToken, "and gets no new refresh token")
	_, err = a.Authenticate(ctx, g.AccessToken)
	require.NoError(t, err)
	p3, err := f.refresh(a, p2.RefreshToken)
	require.NoError(t, err, "the session lives on")
	_, err = a.Authenticate(ctx, p3.AccessToken)
	require.NoError(t, err)
}

func flowReuseRevokesSession(t *testing.T, f flows) {
	ctx := context.Background()
	a, clock := f.setup(t, auth.Config{RefreshGrace: 5 * time.Second})
	u := f.register(t, a)
	p1 := f.login(t, a, u.Email)
	other := f.login(t, a, u.Email)
	p2, err := f.refresh(a, p1.RefreshToken)
	require.NoError(t, err)
	clock.Advance(6 * time.Second)
	_, err = f.refresh(a, p1.RefreshToken)
	require.ErrorIs(t, err, auth.ErrRefreshReused)
	for _, tok := range []string{p1.AccessToken, p2.AccessToken} {
		_, err = a.Authenticate(ctx, tok)
		require.ErrorIs(t, err, auth.ErrTokenRevoked, "every access token of the family is revoked")
	}
	_, err = f.refresh(a, p2.RefreshToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "the thief's (or victim's) current token is dead too")
	_, err = a.Authenticate(ctx, other.AccessToken)
	require.NoError(t, err, "other sessions are untouched")
}

func flowReuseOfAnOlderTokenRevokesSession(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	victim := f.login(t, a, f.register(t, a).Email)
	// The thief rotates twice with the stolen token, so the victim's
	// token is no longer even the previous one of the family.
	p1, err := f.refresh(a, victim.RefreshToken)
	require.NoError(t, err)
	p2, err := f.refresh(a, p1.RefreshToken)
	require.NoError(t, err)
	_, err = f.refresh(a, victim.RefreshToken)
	require.ErrorIs(t, err, auth.ErrRefreshReused, "detected, not merely unknown")
	_, err = f.refresh(a, p2.RefreshToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "the thief's line is dead")
	_, err = a.Authenticate(ctx, p2.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked)
}

func flowNoGrace(t *testing.T, f flows) {
	a, _ := f.setup(t, auth.Config{RefreshGrace: -1})
	p1 := f.login(t, a, f.register(t, a).Email)
	_, err := f.refresh(a, p1.RefreshToken)
	require.NoError(t, err)
	_, err = f.refresh(a, p1.RefreshToken)
	require.ErrorIs(t, err, auth.ErrRefreshReused)
}

func flowConcurrentRefreshOneWinner(t *testing.T, f flows) {
	wins, graced, errs := f.concurrentRefresh(t, 10*time.Second)
	require.Equal(t, 1, wins, "exactly one rotation")
	require.Empty(t, errs, "the losers are within the grace window")
	require.Equal(t, 19, graced)
}

func flowConcurrentRefreshNoGrace(t *testing.T, f flows) {
	wins, _, errs := f.concurrentRefresh(t, -1)
	require.Equal(t, 1, wins, "exactly one rotation")
	require.Len(t, errs, 19)
	reused := 0
	for _, err := range errs {
		require.True(t, errors.Is(err, auth.ErrRefreshReused) || errors.Is(err, auth.ErrTokenRevoked), err)
		if errors.Is(err, auth.ErrRefreshReused) {
			reused++
		}
	}
	require.Positive(t, reused)
}

func flowSessionLifetimes(t *testing.T, f flows) {
	a, clock := f.setup(t, auth.Config{SessionIdleTTL: time.Hour, SessionTTL: 3 * time.Hour})
	u := f.register(t, a)
	p := f.login(t, a, u.Email)
	clock.Advance(time.Hour + time.Second)
	_, err := f.refresh(a, p.RefreshToken)
	require.ErrorIs(t, err, auth.ErrTokenExpired, "idle lifetime")

	p = f.login(t, a, u.Email)
	start := clock.Now()
	for range 5 { // refresh every 50 minutes: never idle, but the absolute limit ends it
		clock.Advance(50 * time.Minute)
		next, err := f.refresh(a, p.RefreshToken)
		if err != nil {
			require.ErrorIs(t, err, auth.ErrTokenExpired, "absolute lifetime")
			return
		}
		require.False(t, next.RefreshExpiresAt.After(start.Add(3*time.Hour)), "idle expiry is capped by the absolute one")
		p = next
	}
	t.Fatal("session outlived its absolute lifetime")
}
