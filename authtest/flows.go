package authtest

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
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
// Each flow is a subtest of its own name, defined in flows_*.go by topic.
func TestFlows(t *testing.T, st Stores) {
	f := flows{st: st}
	for _, flow := range []struct {
		name string
		run  func(*testing.T, flows)
	}{
		{"RegisterLoginAuthenticate", flowRegisterLoginAuthenticate},
		{"RegisterRejects", flowRegisterRejects},
		{"LoginRejects", flowLoginRejects},
		{"InactiveUser", flowInactiveUser},
		{"RequireVerifiedEmail", flowRequireVerifiedEmail},
		{"AccessTokenExpiry", flowAccessTokenExpiry},
		{"RefreshRotates", flowRefreshRotates},
		{"GraceWindow", flowGraceWindow},
		{"ReuseRevokesSession", flowReuseRevokesSession},
		{"ReuseOfAnOlderTokenRevokesSession", flowReuseOfAnOlderTokenRevokesSession},
		{"LoginRacingDeactivation", flowLoginRacingDeactivation},
		{"LoginRacingPasswordReset", flowLoginRacingPasswordReset},
		{"LoginRehashCannotUndoReset", flowLoginRehashCannotUndoReset},
		{"NoGrace", flowNoGrace},
		{"ConcurrentRefreshOneWinner", flowConcurrentRefreshOneWinner},
		{"ConcurrentRefreshNoGrace", flowConcurrentRefreshNoGrace},
		{"SessionLifetimes", flowSessionLifetimes},
		{"Logout", flowLogout},
		{"LogoutAll", flowLogoutAll},
		{"RoleChangeTakesEffect", flowRoleChangeTakesEffect},
		{"TenantScoping", flowTenantScoping},
		{"ListUsersPages", flowListUsersPages},
		{"CreateUserWithRole", flowCreateUserWithRole},
		{"SessionsListAndRevoke", flowSessionsListAndRevoke},
		{"RevokeSingleToken", flowRevokeSingleToken},
		{"BcryptImportAndRehash", flowBcryptImportAndRehash},
		{"TimesAsStored", flowTimesAsStored},
	} {
		t.Run(flow.name, func(t *testing.T) { flow.run(t, f) })
	}
}

// flows holds the stores under test and the steps the flows share.
type flows struct{ st Stores }

// setup returns an Authenticator over the stores with cfg and its clock.
func (f flows) setup(t *testing.T, cfg auth.Config) (*auth.Authenticator, *Clock) {
	clock := NewClock(time.Now().UTC().Truncate(time.Millisecond))
	return NewAuthenticator(t, f.st, clock, cfg), clock
}

// register registers a new user with the shared password.
func (f flows) register(t *testing.T, a *auth.Authenticator) *auth.User {
	t.Helper()
	u, err := a.Register(context.Background(), auth.RegisterRequest{Email: randomEmail(), Password: password, Name: "Kate"})
	require.NoError(t, err)
	return u
}

// login logs email in with the shared password.
func (f flows) login(t *testing.T, a *auth.Authenticator, email string) *auth.TokenPair {
	t.Helper()
	p, _, err := a.Login(context.Background(), auth.LoginRequest{Email: email, Password: password, Client: auth.ClientInfo{UserAgent: "test", IP: "127.0.0.1"}})
	require.NoError(t, err)
	return p
}

// refresh exchanges a refresh token.
func (f flows) refresh(a *auth.Authenticator, rt string) (*auth.TokenPair, error) {
	return a.Refresh(context.Background(), auth.RefreshRequest{RefreshToken: rt})
}

// raceSetup returns an Authenticator whose user store runs during right
// after Login has read the user with email: a change that lands while a
// login is verifying the password (after the user was read, before the
// session exists) must not leave that login with a live session.
func (f flows) raceSetup(t *testing.T, email string, during func(u *auth.User)) *auth.Authenticator {
	t.Helper()
	hooked := &racingUsers{UserStore: f.st.Users, email: email, during: during}
	clock := NewClock(time.Now().UTC().Truncate(time.Millisecond))
	return NewAuthenticator(t, Stores{Users: hooked, Tenants: f.st.Tenants, Sessions: f.st.Sessions, Revocations: f.st.Revocations}, clock, auth.Config{})
}

// noLiveSession fails the test if userID has a session.
func (f flows) noLiveSession(t *testing.T, a *auth.Authenticator, userID string) {
	t.Helper()
	list, err := a.Sessions(context.Background(), userID)
	require.NoError(t, err)
	require.Empty(t, list, "no session survives")
}

// concurrentRefresh refreshes one token from 20 goroutines at once.
func (f flows) concurrentRefresh(t *testing.T, grace time.Duration) (wins, graced int, errs []error) {
	a, _ := f.setup(t, auth.Config{RefreshGrace: grace})
	p := f.login(t, a, f.register(t, a).Email)
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			r, err := f.refresh(a, p.RefreshToken)
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
