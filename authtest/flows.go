package authtest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// Clock is a settable clock for Config.Now, safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// NewAuthenticator returns an Authenticator over st with a fresh EdDSA key,
// the given clock and cfg's other fields. It fails the test on error.
func NewAuthenticator(t testing.TB, st Stores, clock *Clock, cfg auth.Config) *auth.Authenticator {
	t.Helper()
	if cfg.Keys == nil {
		k, err := auth.GenerateKey(auth.EdDSA)
		require.NoError(t, err)
		cfg.Keys, err = auth.NewKeySet(k)
		require.NoError(t, err)
	}
	cfg.Users, cfg.Tenants, cfg.Sessions, cfg.Revocations = st.Users, st.Tenants, st.Sessions, st.Revocations
	if clock != nil {
		cfg.Now = clock.Now
	}
	if cfg.Logger == nil && !testing.Verbose() {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := auth.New(cfg)
	require.NoError(t, err)
	_, err = a.EnsureDefaultTenant(context.Background())
	require.NoError(t, err)
	return a
}

const password = "correct horse battery staple"

// TestFlows runs every Authenticator flow over the given stores, failure
// cases included: register, login, authenticate, refresh with rotation,
// grace window and reuse detection, session lifetimes, logout, logout
// everywhere, session listing and revocation, role changes and
// deactivation taking effect at once, tenant scoping and bcrypt import.
func TestFlows(t *testing.T, st Stores) {
	ctx := context.Background()
	setup := func(t *testing.T, cfg auth.Config) (*auth.Authenticator, *Clock) {
		clock := NewClock(time.Now().UTC().Truncate(time.Millisecond))
		return NewAuthenticator(t, st, clock, cfg), clock
	}
	register := func(t *testing.T, a *auth.Authenticator) *auth.User {
		t.Helper()
		u, err := a.Register(ctx, auth.RegisterRequest{Email: randomEmail(), Password: password, Name: "Kate"})
		require.NoError(t, err)
		return u
	}
	login := func(t *testing.T, a *auth.Authenticator, email string) *auth.TokenPair {
		t.Helper()
		p, _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: password, Client: auth.ClientInfo{UserAgent: "test", IP: "127.0.0.1"}})
		require.NoError(t, err)
		return p
	}
	refresh := func(a *auth.Authenticator, rt string) (*auth.TokenPair, error) {
		return a.Refresh(ctx, auth.RefreshRequest{RefreshToken: rt})
	}

	t.Run("RegisterLoginAuthenticate", func(t *testing.T) {
		a, clock := setup(t, auth.Config{})
		email := randomEmail()
		u, err := a.Register(ctx, auth.RegisterRequest{Email: "  " + upper(email) + " ", Password: password, Name: "Kate", Meta: []byte(`{"k":"v"}`)})
		require.NoError(t, err)
		require.Equal(t, email, u.Email, "email is normalised")
		require.Equal(t, auth.RoleViewer, u.Role)
		require.Equal(t, auth.DefaultTenantID, u.TenantID)
		require.True(t, u.Active)
		require.False(t, u.Verified)
		require.NotContains(t, u.PasswordHash, password)

		clock.Advance(time.Second)
		p, lu, err := a.Login(ctx, auth.LoginRequest{Email: upper(email), Password: password})
		require.NoError(t, err)
		require.Equal(t, u.ID, lu.ID)
		require.NotNil(t, lu.LastLoginAt)
		require.WithinDuration(t, clock.Now(), *lu.LastLoginAt, time.Millisecond)
		require.Equal(t, "Bearer", p.TokenType)
		require.NotEmpty(t, p.RefreshToken)
		require.NotEmpty(t, p.SessionID)

		c, err := a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err)
		require.Equal(t, u.ID, c.UserID)
		require.Equal(t, u.TenantID, c.TenantID)
		require.Equal(t, p.SessionID, c.SessionID)
		require.Equal(t, auth.RoleViewer, c.Role)
		require.NotEmpty(t, c.TokenID)

		cu, err := a.CurrentUser(ctx, c)
		require.NoError(t, err)
		require.Equal(t, u.ID, cu.ID)
		require.JSONEq(t, `{"k":"v"}`, string(cu.Meta))
	})

	t.Run("RegisterRejects", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		u := register(t, a)
		cases := []struct {
			name string
			req  auth.RegisterRequest
			want error
		}{
			{"invalid email", auth.RegisterRequest{Email: "not-an-email", Password: password}, auth.ErrInvalidEmail},
			{"display name", auth.RegisterRequest{Email: "Kate <kate@example.com>", Password: password}, auth.ErrInvalidEmail},
			{"short password", auth.RegisterRequest{Email: randomEmail(), Password: "abc12"}, auth.ErrPasswordTooShort},
			{"common password", auth.RegisterRequest{Email: randomEmail(), Password: "password123"}, auth.ErrPasswordCommon},
			{"taken email, other case", auth.RegisterRequest{Email: upper(u.Email), Password: password}, auth.ErrEmailTaken},
			{"unknown tenant", auth.RegisterRequest{Email: randomEmail(), Password: password, TenantID: newID()}, auth.ErrTenantNotFound},
			{"malformed tenant", auth.RegisterRequest{Email: randomEmail(), Password: password, TenantID: "x"}, auth.ErrTenantNotFound},
			{"meta not an object", auth.RegisterRequest{Email: randomEmail(), Password: password, Meta: []byte(`[1]`)}, auth.ErrInvalidInput},
		}
		for _, tc := range cases {
			_, err := a.Register(ctx, tc.req)
			require.ErrorIs(t, err, tc.want, tc.name)
		}
	})

	t.Run("LoginRejects", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		u := register(t, a)
		for name, req := range map[string]auth.LoginRequest{
			"wrong password":   {Email: u.Email, Password: password + "!"},
			"unknown email":    {Email: randomEmail(), Password: password},
			"malformed email":  {Email: "nope", Password: password},
			"empty password":   {Email: u.Email},
			"huge password":    {Email: u.Email, Password: string(make([]byte, 5000))},
			"password as hash": {Email: u.Email, Password: u.PasswordHash},
		} {
			_, _, err := a.Login(ctx, req)
			require.ErrorIs(t, err, auth.ErrInvalidCredentials, name)
		}
	})

	t.Run("InactiveUser", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		u := register(t, a)
		p := login(t, a, u.Email)
		off := false
		_, err := a.UpdateUser(ctx, u.TenantID, u.ID, auth.AdminUpdate{Active: &off})
		require.NoError(t, err)
		_, err = a.Authenticate(ctx, p.AccessToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked, "deactivation revokes existing access tokens at once")
		_, err = refresh(a, p.RefreshToken)
		require.ErrorIs(t, err, auth.ErrInvalidToken, "and ends the sessions")
		_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
		require.ErrorIs(t, err, auth.ErrUserInactive)
		_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: "wrong password!"})
		require.ErrorIs(t, err, auth.ErrInvalidCredentials, "inactivity is only revealed to the right password")
	})

	t.Run("RequireVerifiedEmail", func(t *testing.T) {
		a, _ := setup(t, auth.Config{RequireVerifiedEmail: true})
		u := register(t, a)
		_, _, err := a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
		require.ErrorIs(t, err, auth.ErrEmailNotVerified)
		yes := true
		_, err = a.UpdateUser(ctx, u.TenantID, u.ID, auth.AdminUpdate{Verified: &yes})
		require.NoError(t, err)
		login(t, a, u.Email)
	})

	t.Run("AccessTokenExpiry", func(t *testing.T) {
		a, clock := setup(t, auth.Config{AccessTTL: time.Minute, Skew: -1})
		p := login(t, a, register(t, a).Email)
		clock.Advance(59 * time.Second)
		_, err := a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err)
		clock.Advance(time.Second)
		_, err = a.Authenticate(ctx, p.AccessToken)
		require.ErrorIs(t, err, auth.ErrTokenExpired)
	})

	t.Run("RefreshRotates", func(t *testing.T) {
		a, clock := setup(t, auth.Config{})
		u := register(t, a)
		p1 := login(t, a, u.Email)
		clock.Advance(time.Minute)
		p2, err := refresh(a, p1.RefreshToken)
		require.NoError(t, err)
		require.NotEmpty(t, p2.RefreshToken)
		require.NotEqual(t, p1.RefreshToken, p2.RefreshToken)
		require.Equal(t, p1.SessionID, p2.SessionID)
		c, err := a.Authenticate(ctx, p2.AccessToken)
		require.NoError(t, err)
		require.Equal(t, u.ID, c.UserID)
		p3, err := refresh(a, p2.RefreshToken)
		require.NoError(t, err)
		require.NotEmpty(t, p3.RefreshToken)

		for _, bad := range []string{"", "garbage", p1.AccessToken, p1.RefreshToken[:42] + "A"} {
			_, err := refresh(a, bad)
			require.ErrorIs(t, err, auth.ErrInvalidToken)
		}
	})

	t.Run("GraceWindow", func(t *testing.T) {
		a, clock := setup(t, auth.Config{RefreshGrace: 5 * time.Second})
		p1 := login(t, a, register(t, a).Email)
		p2, err := refresh(a, p1.RefreshToken)
		require.NoError(t, err)
		clock.Advance(4 * time.Second)
		g, err := refresh(a, p1.RefreshToken)
		require.NoError(t, err, "a retry within the grace window is not theft")
		require.Empty(t, g.RefreshToken, "and gets no new refresh token")
		_, err = a.Authenticate(ctx, g.AccessToken)
		require.NoError(t, err)
		p3, err := refresh(a, p2.RefreshToken)
		require.NoError(t, err, "the session lives on")
		_, err = a.Authenticate(ctx, p3.AccessToken)
		require.NoError(t, err)
	})

	t.Run("ReuseRevokesSession", func(t *testing.T) {
		a, clock := setup(t, auth.Config{RefreshGrace: 5 * time.Second})
		u := register(t, a)
		p1 := login(t, a, u.Email)
		other := login(t, a, u.Email)
		p2, err := refresh(a, p1.RefreshToken)
		require.NoError(t, err)
		clock.Advance(6 * time.Second)
		_, err = refresh(a, p1.RefreshToken)
		require.ErrorIs(t, err, auth.ErrRefreshReused)
		for _, tok := range []string{p1.AccessToken, p2.AccessToken} {
			_, err = a.Authenticate(ctx, tok)
			require.ErrorIs(t, err, auth.ErrTokenRevoked, "every access token of the family is revoked")
		}
		_, err = refresh(a, p2.RefreshToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked, "the thief's (or victim's) current token is dead too")
		_, err = a.Authenticate(ctx, other.AccessToken)
		require.NoError(t, err, "other sessions are untouched")
	})

	t.Run("ReuseOfAnOlderTokenRevokesSession", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		victim := login(t, a, register(t, a).Email)
		// The thief rotates twice with the stolen token, so the victim's
		// token is no longer even the previous one of the family.
		p1, err := refresh(a, victim.RefreshToken)
		require.NoError(t, err)
		p2, err := refresh(a, p1.RefreshToken)
		require.NoError(t, err)
		_, err = refresh(a, victim.RefreshToken)
		require.ErrorIs(t, err, auth.ErrRefreshReused, "detected, not merely unknown")
		_, err = refresh(a, p2.RefreshToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked, "the thief's line is dead")
		_, err = a.Authenticate(ctx, p2.AccessToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked)
	})

	// A change that lands while a login is verifying the password (after the
	// user was read, before the session exists) must not leave that login
	// with a live session.
	raceSetup := func(t *testing.T, email string, during func(u *auth.User)) *auth.Authenticator {
		t.Helper()
		hooked := &racingUsers{UserStore: st.Users, email: email, during: during}
		clock := NewClock(time.Now().UTC().Truncate(time.Millisecond))
		return NewAuthenticator(t, Stores{Users: hooked, Tenants: st.Tenants, Sessions: st.Sessions, Revocations: st.Revocations}, clock, auth.Config{})
	}
	noLiveSession := func(t *testing.T, a *auth.Authenticator, userID string) {
		t.Helper()
		list, err := a.Sessions(ctx, userID)
		require.NoError(t, err)
		require.Empty(t, list, "no session survives")
	}

	t.Run("LoginRacingDeactivation", func(t *testing.T) {
		admin, _ := setup(t, auth.Config{})
		u := register(t, admin)
		a := raceSetup(t, u.Email, func(u *auth.User) {
			off := false
			_, err := admin.UpdateUser(ctx, u.TenantID, u.ID, auth.AdminUpdate{Active: &off})
			require.NoError(t, err)
		})
		_, _, err := a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
		require.ErrorIs(t, err, auth.ErrUserInactive)
		noLiveSession(t, a, u.ID)
	})

	t.Run("LoginRacingPasswordReset", func(t *testing.T) {
		admin, _ := setup(t, auth.Config{})
		u := register(t, admin)
		h, err := auth.NewHasher(auth.HasherConfig{})
		require.NoError(t, err)
		fresh, err := h.Hash(ctx, "the new password after the reset")
		require.NoError(t, err)
		a := raceSetup(t, u.Email, func(u *auth.User) {
			// What ResetPassword does: a new hash, then every session ends.
			_, err := st.Users.UpdateUser(ctx, "", u.ID, auth.UserUpdate{PasswordHash: &fresh, At: now()})
			require.NoError(t, err)
			require.NoError(t, admin.LogoutAll(ctx, u.ID))
		})
		_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
		require.ErrorIs(t, err, auth.ErrInvalidCredentials, "the old password lost the race")
		noLiveSession(t, a, u.ID)
	})

	t.Run("LoginRehashCannotUndoReset", func(t *testing.T) {
		admin, _ := setup(t, auth.Config{})
		legacy, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		require.NoError(t, err)
		n := now()
		u := &auth.User{ID: newID(), TenantID: auth.DefaultTenantID, Email: randomEmail(), PasswordHash: string(legacy), Role: auth.RoleViewer, Active: true, CreatedAt: n, UpdatedAt: n}
		require.NoError(t, st.Users.CreateUser(ctx, u))
		h, err := auth.NewHasher(auth.HasherConfig{})
		require.NoError(t, err)
		fresh, err := h.Hash(ctx, "the new password after the reset")
		require.NoError(t, err)
		a := raceSetup(t, u.Email, func(u *auth.User) {
			_, err := st.Users.UpdateUser(ctx, "", u.ID, auth.UserUpdate{PasswordHash: &fresh, At: now()})
			require.NoError(t, err)
			require.NoError(t, admin.LogoutAll(ctx, u.ID))
		})
		_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		stored, err := st.Users.User(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, fresh, stored.PasswordHash, "the rehash of the old password did not overwrite the new one")
	})

	t.Run("NoGrace", func(t *testing.T) {
		a, _ := setup(t, auth.Config{RefreshGrace: -1})
		p1 := login(t, a, register(t, a).Email)
		_, err := refresh(a, p1.RefreshToken)
		require.NoError(t, err)
		_, err = refresh(a, p1.RefreshToken)
		require.ErrorIs(t, err, auth.ErrRefreshReused)
	})

	concurrentRefresh := func(t *testing.T, grace time.Duration) (wins, graced int, errs []error) {
		a, _ := setup(t, auth.Config{RefreshGrace: grace})
		p := login(t, a, register(t, a).Email)
		const n = 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				r, err := refresh(a, p.RefreshToken)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case r.RefreshToken != "":
					wins++
				default:
					graced++
				}
			})
		}
		close(start)
		wg.Wait()
		return wins, graced, errs
	}

	t.Run("ConcurrentRefreshOneWinner", func(t *testing.T) {
		wins, graced, errs := concurrentRefresh(t, 10*time.Second)
		require.Equal(t, 1, wins, "exactly one rotation")
		require.Empty(t, errs, "the losers are within the grace window")
		require.Equal(t, 19, graced)
	})

	t.Run("ConcurrentRefreshNoGrace", func(t *testing.T) {
		wins, _, errs := concurrentRefresh(t, -1)
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
	})

	t.Run("SessionLifetimes", func(t *testing.T) {
		a, clock := setup(t, auth.Config{SessionIdleTTL: time.Hour, SessionTTL: 3 * time.Hour})
		u := register(t, a)
		p := login(t, a, u.Email)
		clock.Advance(time.Hour + time.Second)
		_, err := refresh(a, p.RefreshToken)
		require.ErrorIs(t, err, auth.ErrTokenExpired, "idle lifetime")

		p = login(t, a, u.Email)
		start := clock.Now()
		for range 5 { // refresh every 50 minutes: never idle, but the absolute limit ends it
			clock.Advance(50 * time.Minute)
			next, err := refresh(a, p.RefreshToken)
			if err != nil {
				require.ErrorIs(t, err, auth.ErrTokenExpired, "absolute lifetime")
				return
			}
			require.False(t, next.RefreshExpiresAt.After(start.Add(3*time.Hour)), "idle expiry is capped by the absolute one")
			p = next
		}
		t.Fatal("session outlived its absolute lifetime")
	})

	t.Run("Logout", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		u := register(t, a)
		p := login(t, a, u.Email)
		other := login(t, a, u.Email)
		c, err := a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err)
		require.NoError(t, a.Logout(ctx, c))
		require.NoError(t, a.Logout(ctx, c), "idempotent")
		_, err = a.Authenticate(ctx, p.AccessToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked)
		_, err = refresh(a, p.RefreshToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked)
		_, err = a.Authenticate(ctx, other.AccessToken)
		require.NoError(t, err)
		_, err = refresh(a, other.RefreshToken)
		require.NoError(t, err)
	})

	t.Run("LogoutAll", func(t *testing.T) {
		a, clock := setup(t, auth.Config{})
		u, bystander := register(t, a), register(t, a)
		ps := []*auth.TokenPair{login(t, a, u.Email), login(t, a, u.Email)}
		pb := login(t, a, bystander.Email)
		require.NoError(t, a.LogoutAll(ctx, u.ID))
		for _, p := range ps {
			_, err := a.Authenticate(ctx, p.AccessToken)
			require.ErrorIs(t, err, auth.ErrTokenRevoked)
			_, err = refresh(a, p.RefreshToken)
			require.ErrorIs(t, err, auth.ErrTokenRevoked)
		}
		_, err := a.Authenticate(ctx, pb.AccessToken)
		require.NoError(t, err, "other users are untouched")
		clock.Advance(time.Millisecond)
		p := login(t, a, u.Email)
		_, err = a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err, "a login after the cutoff works")
	})

	t.Run("RoleChangeTakesEffect", func(t *testing.T) {
		a, clock := setup(t, auth.Config{})
		u := register(t, a)
		p := login(t, a, u.Email)
		clock.Advance(time.Second)
		editor := auth.RoleEditor
		got, err := a.UpdateUser(ctx, u.TenantID, u.ID, auth.AdminUpdate{Role: &editor})
		require.NoError(t, err)
		require.Equal(t, auth.RoleEditor, got.Role)
		_, err = a.Authenticate(ctx, p.AccessToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked, "tokens with the old role die at once")
		clock.Advance(time.Millisecond)
		p2, err := refresh(a, p.RefreshToken)
		require.NoError(t, err, "the session survives a role change")
		c, err := a.Authenticate(ctx, p2.AccessToken)
		require.NoError(t, err)
		require.Equal(t, auth.RoleEditor, c.Role)

		bogus := auth.Role("root")
		_, err = a.UpdateUser(ctx, u.TenantID, u.ID, auth.AdminUpdate{Role: &bogus})
		require.ErrorIs(t, err, auth.ErrInvalidRole)
	})

	t.Run("TenantScoping", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		tb, err := a.CreateTenant(ctx, "Tenant B", randomSlug())
		require.NoError(t, err)
		ua := register(t, a)
		ub, err := a.Register(ctx, auth.RegisterRequest{Email: randomEmail(), Password: password, TenantID: tb.ID})
		require.NoError(t, err)
		pb := login(t, a, ub.Email)
		cb, err := a.Authenticate(ctx, pb.AccessToken)
		require.NoError(t, err)
		require.Equal(t, tb.ID, cb.TenantID)

		admin := auth.RoleAdmin
		_, err = a.UpdateUser(ctx, tb.ID, ua.ID, auth.AdminUpdate{Role: &admin})
		require.ErrorIs(t, err, auth.ErrUserNotFound, "tenant B cannot touch a user of tenant A")
		_, err = a.User(ctx, tb.ID, ua.ID)
		require.ErrorIs(t, err, auth.ErrUserNotFound)
		got, err := a.User(ctx, ua.TenantID, ua.ID)
		require.NoError(t, err)
		require.Equal(t, auth.RoleViewer, got.Role)

		list, next, err := a.ListUsers(ctx, auth.UserQuery{TenantID: tb.ID})
		require.NoError(t, err)
		require.Empty(t, next)
		require.Equal(t, []string{ub.ID}, idsOf(list))
		_, err = a.CreateTenant(ctx, "dup", tb.Slug)
		require.ErrorIs(t, err, auth.ErrTenantTaken)
	})

	t.Run("ListUsersPages", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		tn, err := a.CreateTenant(ctx, "Paged", randomSlug())
		require.NoError(t, err)
		var ids []string
		for range 5 {
			u, err := a.CreateUser(ctx, auth.NewUser{TenantID: tn.ID, Email: randomEmail(), Password: password, Role: auth.RoleEditor})
			require.NoError(t, err)
			ids = append(ids, u.ID)
		}
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 3)
			list, next, err := a.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Limit: 2, After: cursor})
			require.NoError(t, err)
			got = append(got, idsOf(list)...)
			if next == "" {
				break
			}
			cursor = next
		}
		require.Equal(t, ids, got)
		_, _, err = a.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Limit: 1000})
		require.ErrorIs(t, err, auth.ErrInvalidInput)
	})

	t.Run("CreateUserWithRole", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		u, err := a.CreateUser(ctx, auth.NewUser{Email: randomEmail(), Password: password, Role: auth.RoleAdmin, Verified: true})
		require.NoError(t, err)
		require.Equal(t, auth.RoleAdmin, u.Role)
		require.True(t, u.Verified)
		c, err := a.Authenticate(ctx, login(t, a, u.Email).AccessToken)
		require.NoError(t, err)
		require.Equal(t, auth.RoleAdmin, c.Role)
		_, err = a.CreateUser(ctx, auth.NewUser{Email: randomEmail(), Password: password, Role: "owner"})
		require.ErrorIs(t, err, auth.ErrInvalidRole)
	})

	t.Run("SessionsListAndRevoke", func(t *testing.T) {
		a, clock := setup(t, auth.Config{})
		u, other := register(t, a), register(t, a)
		p1 := login(t, a, u.Email)
		clock.Advance(time.Second)
		p2 := login(t, a, u.Email)
		clock.Advance(time.Second)
		p3 := login(t, a, u.Email)
		po := login(t, a, other.Email)
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
	})

	t.Run("RevokeSingleToken", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		p := login(t, a, register(t, a).Email)
		c, err := a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err)
		require.NoError(t, a.RevokeToken(ctx, c))
		_, err = a.Authenticate(ctx, p.AccessToken)
		require.ErrorIs(t, err, auth.ErrTokenRevoked)
		p2, err := refresh(a, p.RefreshToken)
		require.NoError(t, err, "the session is not affected")
		_, err = a.Authenticate(ctx, p2.AccessToken)
		require.NoError(t, err)
	})

	t.Run("BcryptImportAndRehash", func(t *testing.T) {
		a, _ := setup(t, auth.Config{})
		long := "an imported password that is well over seventy-two bytes long, for the truncation test"
		for _, pw := range []string{password, long[:72]} {
			hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
			require.NoError(t, err)
			n := now()
			u := &auth.User{ID: newID(), TenantID: auth.DefaultTenantID, Email: randomEmail(), PasswordHash: string(hash), Role: auth.RoleViewer, Active: true, CreatedAt: n, UpdatedAt: n}
			require.NoError(t, st.Users.CreateUser(ctx, u))

			if pw == long[:72] {
				_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: long})
				require.ErrorIs(t, err, auth.ErrInvalidCredentials, "bcrypt's 72-byte truncation must not admit a longer password")
			}
			_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: pw + "x"})
			require.ErrorIs(t, err, auth.ErrInvalidCredentials)
			_, got, err := a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: pw})
			require.NoError(t, err)
			require.Regexp(t, `^\$argon2id\$v=19\$m=19456,t=2,p=1\$`, got.PasswordHash, "rehashed on login")
			stored, err := st.Users.User(ctx, u.ID)
			require.NoError(t, err)
			require.Equal(t, got.PasswordHash, stored.PasswordHash)
			_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: pw})
			require.NoError(t, err, "the new hash verifies")
		}
	})
}

// racingUsers runs during once, right after UserByEmail has read the user
// with the given email: a change landing while Login verifies the password.
type racingUsers struct {
	auth.UserStore
	email  string
	during func(u *auth.User)
	once   sync.Once
}

func (r *racingUsers) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	u, err := r.UserStore.UserByEmail(ctx, email)
	if err == nil && email == r.email {
		r.once.Do(func() { r.during(u) })
	}
	return u, err
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
