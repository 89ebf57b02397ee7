package authtest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// TestMFA runs the flows of a login in two steps over the stores
// (ActionTokens keeps the tickets, Sessions the methods proven): tickets
// that are single-use, short-lived, bound to their user and useless as
// bearer tokens; the per-ticket and per-account limits with identical
// answers once locked; one winner among concurrent second steps; the
// policy that makes a user enrol; step-up and recent authentication;
// sign-in by a credential package; and an administrator's reset. The
// second factor is a test factor of single-use codes, so that the suite
// checks the core's side of the seam (factor/totp has its own suite).
func TestMFA(t *testing.T, st Stores) {
	f := mfaFlows{flows{st: st}}
	for _, flow := range []struct {
		name string
		run  func(*testing.T, mfaFlows)
	}{
		{"TicketInsteadOfTokens", mfaTicketInsteadOfTokens},
		{"TicketRejects", mfaTicketRejects},
		{"WrongCodesLockTicketAndAccount", mfaWrongCodesLock},
		{"UnjudgedAttemptsAreNotCounted", mfaUnjudgedNotCounted},
		{"ConcurrentSecondStepsOneWinner", mfaConcurrentOneWinner},
		{"PolicyMakesUsersEnrol", mfaPolicyEnrol},
		{"StepUpAndRecentAuth", mfaStepUp},
		{"SignInByCredential", mfaSignIn},
		{"AdministratorReset", mfaReset},
	} {
		t.Run(flow.name, func(t *testing.T) { flow.run(t, f) })
	}
}

type mfaFlows struct{ flows }

// setup returns an Authenticator with one test factor.
func (f mfaFlows) setup(t *testing.T, cfg auth.Config) (*auth.Authenticator, *Clock, *codeFactor) {
	t.Helper()
	cf := newCodeFactor()
	cfg.SecondFactors = append(cfg.SecondFactors, cf)
	cfg.ActionTokens = f.st.ActionTokens
	a, clock := f.flows.setup(t, cfg)
	return a, clock, cf
}

// ticket logs u in with the password and returns the pending second step.
func (f mfaFlows) ticket(t *testing.T, a *auth.Authenticator, u *auth.User) *auth.MFARequiredError {
	t.Helper()
	pair, _, err := a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password, Client: client})
	require.Nil(t, pair, "no tokens before the second step")
	var mfa *auth.MFARequiredError
	require.ErrorAs(t, err, &mfa)
	require.ErrorIs(t, err, auth.ErrMFARequired)
	return mfa
}

var client = auth.ClientInfo{UserAgent: "test", IP: "127.0.0.1"}

func mfaTicketInsteadOfTokens(t *testing.T, f mfaFlows) {
	ctx := context.Background()
	a, clock, cf := f.setup(t, auth.Config{})
	u := f.register(t, a)
	f.login(t, a, u.Email) // no factor, no policy: one step

	cf.enrol(u.ID)
	mfa := f.ticket(t, a, u)
	require.Equal(t, []string{codeFactorName}, mfa.Factors)
	require.False(t, mfa.Enroll)
	require.Equal(t, clock.Now().Add(5*time.Minute), mfa.ExpiresAt, "Config.MFATicketTTL defaults to 5 minutes")
	require.True(t, strings.HasPrefix(mfa.Ticket, "pwd."), "the ticket names its first step: %s", mfa.Ticket)

	_, err := a.Authenticate(ctx, mfa.Ticket)
	require.ErrorIs(t, err, auth.ErrInvalidToken, "a ticket is no access token")
	_, err = f.refresh(a, mfa.Ticket)
	require.ErrorIs(t, err, auth.ErrInvalidToken, "nor a refresh token")

	peek, err := a.MFATicket(ctx, mfa.Ticket)
	require.NoError(t, err)
	require.Equal(t, u.ID, peek.User.ID)
	require.Equal(t, []auth.Method{auth.MethodPassword}, peek.Methods)

	clock.Advance(time.Minute)
	pair, got, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: cf.issue(u.ID), Client: client})
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	c, err := a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	require.Equal(t, []auth.Method{auth.MethodPassword, auth.MethodOTP, auth.MethodMFA}, c.AMR)
	require.Equal(t, clock.Now().Truncate(time.Second), c.AuthTime)
	require.NoError(t, a.RequireMFA(c))

	sessions, err := a.Sessions(ctx, u.ID)
	require.NoError(t, err)
	i := slices.IndexFunc(sessions, func(s *auth.Session) bool { return s.ID == c.SessionID })
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, c.AMR, sessions[i].Methods(), "the store keeps what the login proved")

	clock.Advance(time.Hour)
	next, err := f.refresh(a, pair.RefreshToken)
	require.NoError(t, err)
	nc, err := a.Authenticate(ctx, next.AccessToken)
	require.NoError(t, err)
	require.Equal(t, c.AMR, nc.AMR, "a refresh keeps amr")
	require.Equal(t, c.AuthTime, nc.AuthTime, "and auth_time: refreshing is not authenticating")

	_, _, err = a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: cf.issue(u.ID), Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidToken, "a ticket works once")
}

func mfaTicketRejects(t *testing.T, f mfaFlows) {
	ctx := context.Background()
	a, clock, cf := f.setup(t, auth.Config{})
	u, other := f.register(t, a), f.register(t, a)
	cf.enrol(u.ID)
	cf.enrol(other.ID)

	for name, ticket := range map[string]string{
		"empty":           "",
		"garbage":         "not a ticket",
		"no prefix":       strings.SplitN(f.ticket(t, a, u).Ticket, ".", 2)[1],
		"prefix changed":  "fed." + strings.SplitN(f.ticket(t, a, u).Ticket, ".", 2)[1],
		"one byte off":    flipLast(f.ticket(t, a, u).Ticket),
		"too long":        f.ticket(t, a, u).Ticket + strings.Repeat("A", 200),
		"unknown methods": "pwd-nope-otp-hwk-swk." + strings.SplitN(f.ticket(t, a, u).Ticket, ".", 2)[1],
	} {
		_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: ticket, Code: cf.issue(u.ID), Client: client})
		require.ErrorIs(t, err, auth.ErrInvalidToken, name)
	}

	mfa := f.ticket(t, a, u)
	_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: cf.issue(other.ID), Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidCode, "another user's code does not finish this user's login")
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)

	_, _, err = a.VerifyMFA(ctx, mfa.Ticket, client, func(context.Context, *auth.User) (auth.Proof, error) {
		return auth.Proof{UserID: other.ID, Methods: []auth.Method{auth.MethodOTP}, Factor: "evil"}, nil
	})
	require.Error(t, err, "a proof for another user than the ticket's is refused")
	_, _, err = a.VerifyMFA(ctx, mfa.Ticket, client, func(_ context.Context, u *auth.User) (auth.Proof, error) {
		return auth.Proof{UserID: u.ID, Methods: []auth.Method{auth.MethodPassword}, Factor: "password"}, nil
	})
	require.ErrorIs(t, err, auth.ErrInvalidCode, "a second password is no second factor")

	_, _, err = a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Factor: "sms", Code: cf.issue(u.ID), Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidInput, "an unknown factor name")

	expired := f.ticket(t, a, u)
	clock.Advance(5*time.Minute + time.Second)
	_, _, err = a.LoginMFA(ctx, auth.MFARequest{Ticket: expired.Ticket, Code: cf.issue(u.ID), Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidToken, "an expired ticket")

	inactive := f.ticket(t, a, u)
	off := false
	_, err = a.UpdateUser(ctx, u.TenantID, u.ID, auth.UpdateUserRequest{Active: &off})
	require.NoError(t, err)
	_, _, err = a.LoginMFA(ctx, auth.MFARequest{Ticket: inactive.Ticket, Code: cf.issue(u.ID), Client: client})
	require.ErrorIs(t, err, auth.ErrUserInactive, "deactivation between the steps stops the login")
}

func flipLast(s string) string {
	b := []byte(s)
	if b[len(b)-1] == 'A' {
		b[len(b)-1] = 'B'
	} else {
		b[len(b)-1] = 'A'
	}
	return string(b)
}

func mfaWrongCodesLock(t *testing.T, f mfaFlows) {
	ctx := context.Background()
	a, clock, cf := f.setup(t, auth.Config{})
	u := f.register(t, a)
	cf.enrol(u.ID)

	// Per ticket: 3 judged attempts, then the ticket is spent.
	mfa := f.ticket(t, a, u)
	for range 3 {
		_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: "000000", Client: client})
		require.ErrorIs(t, err, auth.ErrInvalidCode)
	}
	_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: cf.issue(u.ID), Client: client})
	var rl *auth.RateLimitError
	require.ErrorAs(t, err, &rl, "the fourth attempt on a ticket is refused, right code or not")
	_, _, err = a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: cf.issue(u.ID), Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidToken, "and the ticket is spent: the login starts over")

	// Per account: 5 judged attempts in 15 minutes across tickets (3 so far).
	mfa = f.ticket(t, a, u)
	for range 2 {
		_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: "111111", Client: client})
		require.ErrorIs(t, err, auth.ErrInvalidCode)
	}
	fresh := f.ticket(t, a, u)
	_, _, right := a.LoginMFA(ctx, auth.MFARequest{Ticket: fresh.Ticket, Code: cf.issue(u.ID), Client: client})
	_, _, wrong := a.LoginMFA(ctx, auth.MFARequest{Ticket: fresh.Ticket, Code: "222222", Client: client})
	require.ErrorAs(t, right, &rl, "a locked account refuses the right code")
	require.Equal(t, right.Error(), wrong.Error(), "with the same answer as a wrong one")
	require.Positive(t, rl.RetryAfter)

	clock.Advance(15 * time.Minute)
	pair, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: f.ticket(t, a, u).Ticket, Code: cf.issue(u.ID), Client: client})
	require.NoError(t, err, "the lock ends with its window")
	require.NotEmpty(t, pair.AccessToken)

	// A success resets the account's counter.
	for range 4 {
		_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: f.ticket(t, a, u).Ticket, Code: "333333", Client: client})
		require.ErrorIs(t, err, auth.ErrInvalidCode)
	}
	_, _, err = a.LoginMFA(ctx, auth.MFARequest{Ticket: f.ticket(t, a, u).Ticket, Code: cf.issue(u.ID), Client: client})
	require.NoError(t, err)
	for range 4 {
		_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: f.ticket(t, a, u).Ticket, Code: "444444", Client: client})
		require.ErrorIs(t, err, auth.ErrInvalidCode, "counting starts again after a success")
	}
}

func mfaUnjudgedNotCounted(t *testing.T, f mfaFlows) {
	ctx := context.Background()
	a, _, cf := f.setup(t, auth.Config{})
	u := f.register(t, a)
	cf.enrol(u.ID)
	mfa := f.ticket(t, a, u)
	cf.down.Store(true)
	for range 8 {
		_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: cf.issue(u.ID), Client: client})
		require.ErrorIs(t, err, auth.ErrUnavailable, "a factor that cannot judge is no wrong code")
		require.NotErrorIs(t, err, auth.ErrInvalidCredentials)
	}
	cf.down.Store(false)
	_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: cf.issue(u.ID), Client: client})
	require.NoError(t, err, "neither the ticket's nor the account's budget was charged")
}

func mfaConcurrentOneWinner(t *testing.T, f mfaFlows) {
	ctx := context.Background()
	a, _, cf := f.setup(t, auth.Config{})
	u := f.register(t, a)
	cf.enrol(u.ID)
	for range 5 {
		mfa := f.ticket(t, a, u)
		codes := []string{cf.issue(u.ID), cf.issue(u.ID)}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for _, code := range codes {
			wg.Go(func() {
				_, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: code, Client: client})
				if err == nil {
					wins.Add(1)
					return
				}
				if !errors.Is(err, auth.ErrInvalidToken) {
					t.Errorf("the loser must see a used ticket, got %v", err)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "one ticket, one session")
	}
}

func mfaPolicyEnrol(t *testing.T, f mfaFlows) {
	ctx := context.Background()
	a, _, cf := f.setup(t, auth.Config{MFA: auth.MFAPolicy{Roles: []auth.Role{auth.RoleAdmin}}})
	viewer := f.register(t, a)
	f.login(t, a, viewer.Email) // the policy does not cover viewers
	admin, err := a.CreateUser(ctx, auth.CreateUserRequest{TenantID: viewer.TenantID, Email: randomEmail(), Password: password, Role: auth.RoleAdmin})
	require.NoError(t, err)
	require.True(t, a.MFARequiredFor(admin))

	mfa := f.ticket(t, a, admin)
	require.True(t, mfa.Enroll, "an admin without a factor may only enrol one")
	require.Empty(t, mfa.Factors)
	_, _, err = a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: "123456", Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidCode, "no factor to finish with")

	pair, _, err := a.EnrollMFA(ctx, mfa.Ticket, client, func(_ context.Context, u *auth.User) (auth.Proof, error) {
		cf.enrol(u.ID)
		return cf.verify(u.ID, cf.issue(u.ID))
	})
	require.NoError(t, err)
	c, err := a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	require.NoError(t, a.RequireMFAByPolicy(c))

	// Once enrolled, an enrolment ticket cannot sidestep the factor.
	mfa = f.ticket(t, a, admin)
	require.False(t, mfa.Enroll)
	_, _, err = a.EnrollMFA(ctx, mfa.Ticket, client, func(_ context.Context, u *auth.User) (auth.Proof, error) {
		return cf.verify(u.ID, cf.issue(u.ID))
	})
	require.ErrorIs(t, err, auth.ErrMFARequired)

	// A token of a password-only login fails the policy check.
	vc, err := a.Authenticate(ctx, f.login(t, a, viewer.Email).AccessToken)
	require.NoError(t, err)
	require.NoError(t, a.RequireMFAByPolicy(vc), "not covered")
	var ia *auth.InsufficientAuthError
	require.ErrorAs(t, a.RequireMFA(vc), &ia)
	require.Equal(t, "mfa", ia.ACR)
	vc.Role = auth.RoleAdmin // as an old token from before a promotion would say
	require.ErrorIs(t, a.RequireMFAByPolicy(vc), auth.ErrInsufficientAuth)
}

func mfaStepUp(t *testing.T, f mfaFlows) {
	ctx := context.Background()
	a, clock, cf := f.setup(t, auth.Config{})
	u := f.register(t, a)
	p := f.login(t, a, u.Email)
	c, err := a.Authenticate(ctx, p.AccessToken)
	require.NoError(t, err)
	require.Equal(t, []auth.Method{auth.MethodPassword}, c.AMR)
	require.NoError(t, a.RequireRecentAuth(c, 10*time.Minute))

	clock.Advance(11 * time.Minute)
	var ia *auth.InsufficientAuthError
	require.ErrorAs(t, a.RequireRecentAuth(c, 10*time.Minute), &ia)
	require.Equal(t, 10*time.Minute, ia.MaxAge)
	require.Empty(t, ia.ACR, "a password-only user steps up with the password")

	_, err = a.StepUpPassword(ctx, c, "wrong password!", client)
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	up, err := a.StepUpPassword(ctx, c, password, client)
	require.NoError(t, err)
	uc, err := a.Authenticate(ctx, up.AccessToken)
	require.NoError(t, err)
	require.NoError(t, a.RequireRecentAuth(uc, 10*time.Minute))
	require.Equal(t, clock.Now().Truncate(time.Second), uc.AuthTime)
	require.NotEqual(t, c.SessionID, uc.SessionID, "stepping up starts a new session")
	_, err = a.Authenticate(ctx, p.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "and ends the old one at once")
	_, err = f.refresh(a, p.RefreshToken)
	require.ErrorIs(t, err, auth.ErrInvalidToken)

	// With a factor, a code steps up to mfa.
	cf.enrol(u.ID)
	_, err = a.StepUpCode(ctx, uc, "", "999999", client)
	require.ErrorIs(t, err, auth.ErrInvalidCode)
	mp, err := a.StepUpCode(ctx, uc, "", cf.issue(u.ID), client)
	require.NoError(t, err)
	mc, err := a.Authenticate(ctx, mp.AccessToken)
	require.NoError(t, err)
	require.Equal(t, []auth.Method{auth.MethodPassword, auth.MethodOTP, auth.MethodMFA}, mc.AMR)
	require.NoError(t, a.RequireMFA(mc))

	clock.Advance(time.Hour)
	require.ErrorAs(t, a.RequireRecentAuth(mc, 10*time.Minute), &ia)
	require.Equal(t, 10*time.Minute, ia.MaxAge)
	require.Empty(t, ia.ACR, "no policy covers the user: recency only")

	// A password step-up of the mfa session is recent, and password-only:
	// "mfa" means a second factor proven at auth_time.
	pp, err := a.StepUpPassword(ctx, mc, password, client)
	require.NoError(t, err)
	pc, err := a.Authenticate(ctx, pp.AccessToken)
	require.NoError(t, err)
	require.Equal(t, []auth.Method{auth.MethodPassword}, pc.AMR)
	require.NoError(t, a.RequireRecentAuth(pc, 10*time.Minute))
	require.ErrorIs(t, a.RequireMFA(pc), auth.ErrInsufficientAuth)
}

func mfaSignIn(t *testing.T, f mfaFlows) {
	ctx := context.Background()
	a, _, cf := f.setup(t, auth.Config{})
	u := f.register(t, a)
	cf.enrol(u.ID)

	// A proof that is multi-factor by itself (a passkey with user
	// verification) signs in at once.
	pair, _, err := a.SignIn(ctx, auth.Proof{UserID: u.ID, Methods: []auth.Method{auth.MethodHardwareKey, auth.MethodUser}, MultiFactor: true, Factor: "passkey"}, client)
	require.NoError(t, err)
	c, err := a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	require.Equal(t, []auth.Method{auth.MethodHardwareKey, auth.MethodUser, auth.MethodMFA}, c.AMR)

	// A federated sign-in of a user with a factor needs the factor.
	_, _, err = a.SignIn(ctx, auth.Proof{UserID: u.ID, Methods: []auth.Method{auth.MethodFederated}, Factor: "oidc"}, client)
	var mfa *auth.MFARequiredError
	require.ErrorAs(t, err, &mfa)
	require.True(t, strings.HasPrefix(mfa.Ticket, "fed."))
	pair, _, err = a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: cf.issue(u.ID), Client: client})
	require.NoError(t, err)
	c, err = a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	require.Equal(t, []auth.Method{auth.MethodFederated, auth.MethodOTP, auth.MethodMFA}, c.AMR)

	_, _, err = a.SignIn(ctx, auth.Proof{UserID: "not-an-id", Methods: []auth.Method{auth.MethodFederated}}, client)
	require.ErrorIs(t, err, auth.ErrInvalidInput)
	_, _, err = a.SignIn(ctx, auth.Proof{UserID: newID(), Methods: []auth.Method{auth.MethodFederated}}, client)
	require.ErrorIs(t, err, auth.ErrUserNotFound)
	_, _, err = a.SignIn(ctx, auth.Proof{UserID: u.ID, Methods: []auth.Method{"PWD"}}, client)
	require.ErrorIs(t, err, auth.ErrInvalidInput, "methods are lower-case words")
}

func mfaReset(t *testing.T, f mfaFlows) {
	ctx := context.Background()
	a, _, cf := f.setup(t, auth.Config{})
	u := f.register(t, a)
	cf.enrol(u.ID)
	mfa := f.ticket(t, a, u)
	pair, _, err := a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: cf.issue(u.ID), Client: client})
	require.NoError(t, err)
	pending := f.ticket(t, a, u)

	require.ErrorIs(t, a.ResetSecondFactors(ctx, u.TenantID, newID()), auth.ErrUserNotFound)
	require.NoError(t, a.ResetSecondFactors(ctx, u.TenantID, u.ID))
	require.False(t, cf.enrolled(u.ID))
	_, err = a.Authenticate(ctx, pair.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "a reset ends the user's sessions")
	_, _, err = a.LoginMFA(ctx, auth.MFARequest{Ticket: pending.Ticket, Code: cf.issue(u.ID), Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidToken, "and their pending tickets")
	f.login(t, a, u.Email) // without a factor and a policy, the password alone
}

const codeFactorName = "code"

// codeFactor is a second factor of single-use codes it hands out itself.
type codeFactor struct {
	mu     sync.Mutex
	users  map[string]bool
	codes  map[string]string // code -> user ID
	serial int
	down   atomic.Bool // answers ErrUnavailable
}

var _ auth.CodeFactor = (*codeFactor)(nil)

func newCodeFactor() *codeFactor {
	return &codeFactor{users: map[string]bool{}, codes: map[string]string{}}
}

func (c *codeFactor) Name() string { return codeFactorName }

func (c *codeFactor) enrol(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users[userID] = true
}

func (c *codeFactor) enrolled(userID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.users[userID]
}

// issue returns a fresh code of the user.
func (c *codeFactor) issue(userID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.serial++
	code := "c" + newID()[24:] + string(rune('a'+c.serial%26))
	c.codes[code] = userID
	return code
}

func (c *codeFactor) Enrolled(_ context.Context, userID string) (bool, error) {
	if c.down.Load() {
		return false, auth.ErrUnavailable
	}
	return c.enrolled(userID), nil
}

func (c *codeFactor) Reset(_ context.Context, userID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.users, userID)
	return nil
}

func (c *codeFactor) VerifyCode(_ context.Context, u *auth.User, code string) (auth.Proof, error) {
	if c.down.Load() {
		return auth.Proof{}, auth.ErrUnavailable
	}
	return c.verify(u.ID, code)
}

func (c *codeFactor) verify(userID, code string) (auth.Proof, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if owner, ok := c.codes[code]; !ok || owner != userID || !c.users[userID] {
		return auth.Proof{}, auth.ErrInvalidCode
	}
	delete(c.codes, code)
	return auth.Proof{UserID: userID, Methods: []auth.Method{auth.MethodOTP}, Factor: codeFactorName}, nil
}
