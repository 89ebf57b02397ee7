package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/maestro-ml/auth/internal/errs"
)

// PurposeMFA is the ActionToken purpose of the ticket between the steps of
// a login (MFARequiredError.Ticket).
const PurposeMFA Purpose = "mfa_login"

// ErrInvalidCode is returned when a second-factor code is wrong, malformed
// or already used. It wraps ErrInvalidCredentials.
var ErrInvalidCode = errs.Kind(ErrInvalidCredentials, "auth: invalid code")

var errMFATicket = invalidToken("unknown, used or expired MFA ticket")

// MaxMFATicketBytes caps a ticket's length, checked before anything else.
const MaxMFATicketBytes = 128

// Tickets are "<methods>.<43 random base64url characters>", the methods
// of the first step joined by "-" ("pwd", "fed"). Only the SHA-256 of the
// whole ticket is stored, so the methods cannot be altered.
func newTicket(first []Method) (string, []byte, error) {
	tok, _, err := newRefreshToken()
	if err != nil {
		return "", nil, err
	}
	names := make([]string, len(first))
	for i, m := range first {
		names[i] = string(m)
	}
	ticket := strings.Join(names, "-") + "." + tok
	h := sha256.Sum256([]byte(ticket))
	return ticket, h[:], nil
}

// parseTicket returns the first-step methods and the stored hash of a
// presented ticket, or false if it cannot be one.
func parseTicket(ticket string) ([]Method, []byte, bool) {
	if len(ticket) > MaxMFATicketBytes {
		return nil, nil, false
	}
	prefix, tok, ok := strings.Cut(ticket, ".")
	if !ok {
		return nil, nil, false
	}
	if _, ok := hashRefreshToken(tok); !ok {
		return nil, nil, false
	}
	parts := strings.Split(prefix, "-")
	if len(parts) > 4 {
		return nil, nil, false
	}
	first := make([]Method, len(parts))
	for i, p := range parts {
		if first[i] = Method(p); !validMethod(first[i]) {
			return nil, nil, false
		}
	}
	h := sha256.Sum256([]byte(ticket))
	return first, h[:], true
}

// MFATicket describes a pending second step (see Authenticator.MFATicket).
type MFATicket struct {
	User *User
	// Methods are what the first step proved ("pwd").
	Methods   []Method
	ExpiresAt time.Time
	// Factors and Enroll are as in MFARequiredError, as of now.
	Factors []string
	Enroll  bool
}

// enrolledFactors returns the names of the factors the user has.
func (a *Authenticator) enrolledFactors(ctx context.Context, userID string) ([]string, error) {
	var names []string
	for _, f := range a.cfg.SecondFactors {
		ok, err := f.Enrolled(ctx, userID)
		if err != nil {
			return nil, err
		}
		if ok {
			names = append(names, f.Name())
		}
	}
	return names, nil
}

// SecondFactors returns the names of the second factors the user has
// enrolled, in Config.SecondFactors order.
func (a *Authenticator) SecondFactors(ctx context.Context, userID string) ([]string, error) {
	return a.enrolledFactors(ctx, userID)
}

// MFARequiredFor reports whether Config.MFA requires a second factor of u.
func (a *Authenticator) MFARequiredFor(u *User) bool { return a.cfg.MFA.requires(u, a.cfg.Roles) }

// pendingStep decides whether u, having proven first, needs a second step,
// and if so stores a ticket and returns it as an *MFARequiredError.
func (a *Authenticator) pendingStep(ctx context.Context, u *User, first []Method, now time.Time) (*MFARequiredError, error) {
	if len(a.cfg.SecondFactors) == 0 {
		return nil, nil
	}
	factors, err := a.enrolledFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	enroll := len(factors) == 0 && a.cfg.MFA.requires(u, a.cfg.Roles)
	if len(factors) == 0 && !enroll {
		return nil, nil
	}
	ticket, hash, err := newTicket(first)
	if err != nil {
		return nil, err
	}
	t := &ActionToken{Hash: hash, Purpose: PurposeMFA, UserID: u.ID, Email: u.Email, CreatedAt: now, ExpiresAt: now.Add(a.cfg.MFATicketTTL)}
	if err := a.cfg.ActionTokens.CreateActionToken(ctx, t); err != nil {
		return nil, err
	}
	return &MFARequiredError{Ticket: ticket, ExpiresAt: t.ExpiresAt, Factors: factors, Enroll: enroll}, nil
}

// lookupTicket returns the live ticket, the first-step methods and the
// user, or errMFATicket.
func (a *Authenticator) lookupTicket(ctx context.Context, ticket string) (*ActionToken, []Method, *User, error) {
	if len(a.cfg.SecondFactors) == 0 {
		return nil, nil, nil, errMFATicket
	}
	first, hash, ok := parseTicket(ticket)
	if !ok {
		return nil, nil, nil, errMFATicket
	}
	t, err := a.cfg.ActionTokens.ActionToken(ctx, PurposeMFA, hash, a.cfg.Now().UTC())
	if errors.Is(err, ErrInvalidToken) {
		return nil, nil, nil, errMFATicket
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if t.UserID == "" || subtle.ConstantTimeCompare(t.Hash, hash) != 1 {
		return nil, nil, nil, errMFATicket
	}
	u, err := a.cfg.Users.User(ctx, t.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return nil, nil, nil, errMFATicket
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return t, first, u, nil
}

// MFATicket returns what a ticket from an *MFARequiredError stands for,
// without using it: the user, what the first step proved, and which
// factors can finish the login. A credential package calls it to begin a
// step that needs the user first (a passkey challenge, a TOTP enrolment
// when Enroll is set). An unknown, used or expired ticket is
// ErrInvalidToken; an inactive user, ErrUserInactive.
func (a *Authenticator) MFATicket(ctx context.Context, ticket string) (*MFATicket, error) {
	t, first, u, err := a.lookupTicket(ctx, ticket)
	if err != nil {
		return nil, err
	}
	if err := a.checkActive(ctx, u); err != nil {
		return nil, err
	}
	factors, err := a.enrolledFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return &MFATicket{User: u, Methods: first, ExpiresAt: t.ExpiresAt, Factors: factors, Enroll: len(factors) == 0 && a.cfg.MFA.requires(u, a.cfg.Roles)}, nil
}

// MFARequest is the input of LoginMFA.
type MFARequest struct {
	// Ticket is MFARequiredError.Ticket.
	Ticket string
	// Factor names the CodeFactor to check the code with; empty tries each
	// the user has enrolled, in Config.SecondFactors order.
	Factor string
	Code   string
	Client ClientInfo
}

// LoginMFA finishes a login with a code of a CodeFactor (a TOTP or a
// recovery code). See VerifyMFA for the rules; a wrong code is
// ErrInvalidCode.
func (a *Authenticator) LoginMFA(ctx context.Context, r MFARequest) (_ *TokenPair, _ *User, err error) {
	ctx, end := a.span(ctx, "auth.LoginMFA")
	defer end(&err)
	factors, err := a.codeFactors(r.Factor)
	if err != nil {
		return nil, nil, err
	}
	return a.secondStep(ctx, r.Ticket, r.Client, false, func(ctx context.Context, u *User) (Proof, error) {
		return a.verifyCode(ctx, factors, u, r.Code)
	})
}

// codeFactors returns the CodeFactor named name, or every CodeFactor.
func (a *Authenticator) codeFactors(name string) ([]CodeFactor, error) {
	var out []CodeFactor
	for _, f := range a.cfg.SecondFactors {
		if cf, ok := f.(CodeFactor); ok && (name == "" || f.Name() == name) {
			out = append(out, cf)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no second factor takes codes under that name", ErrInvalidInput)
	}
	return out, nil
}

// verifyCode checks code against the user's enrolled factors among fs.
func (a *Authenticator) verifyCode(ctx context.Context, fs []CodeFactor, u *User, code string) (Proof, error) {
	if code == "" || len(code) > 64 {
		return Proof{}, ErrInvalidCode
	}
	for _, f := range fs {
		ok, err := f.Enrolled(ctx, u.ID)
		if err != nil {
			return Proof{}, err
		}
		if !ok {
			continue
		}
		p, err := f.VerifyCode(ctx, u, code)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, ErrInvalidCredentials) {
			return Proof{}, err
		}
	}
	return Proof{}, ErrInvalidCode
}

// VerifyMFA finishes a login whose first step returned an
// *MFARequiredError: verify checks the second credential of the ticket's
// user and returns its Proof. The ticket is checked first; then the
// per-ticket and per-account limits (Limits.MFAPerTicket,
// Limits.MFAPerAccount), which refuse with a *RateLimitError before verify
// runs, so a locked account answers the same whatever the code; then
// verify. A verify error wrapping ErrInvalidCredentials counts against the
// limits and is returned as ErrInvalidCode; any other is not counted. On
// success the ticket is used up (of concurrent uses exactly one wins; the
// others get ErrInvalidToken), the account's counter is reset, and a
// session is started whose amr holds the first step's methods, the
// proof's and "mfa". A ticket past its per-ticket limit is spent.
func (a *Authenticator) VerifyMFA(ctx context.Context, ticket string, client ClientInfo, verify func(context.Context, *User) (Proof, error)) (_ *TokenPair, _ *User, err error) {
	ctx, end := a.span(ctx, "auth.VerifyMFA")
	defer end(&err)
	return a.secondStep(ctx, ticket, client, false, verify)
}

// EnrollMFA finishes a login whose ticket says Enroll (the policy requires
// a second factor and the user has none): confirm enrols the user's first
// factor, proving it (factor/totp's Confirm), and the login completes as
// in VerifyMFA. A ticket of a user who has a factor is refused with
// ErrMFARequired: enrolling another would sidestep the one they have.
func (a *Authenticator) EnrollMFA(ctx context.Context, ticket string, client ClientInfo, confirm func(context.Context, *User) (Proof, error)) (_ *TokenPair, _ *User, err error) {
	ctx, end := a.span(ctx, "auth.EnrollMFA")
	defer end(&err)
	return a.secondStep(ctx, ticket, client, true, confirm)
}

func ticketKey(hash []byte) string       { return "mfa:ticket:" + hex.EncodeToString(hash[:16]) }
func mfaAccountKey(userID string) string { return "mfa:acct:" + userID }

func (a *Authenticator) secondStep(ctx context.Context, ticket string, client ClientInfo, enroll bool, verify func(context.Context, *User) (Proof, error)) (*TokenPair, *User, error) {
	ev := Event{IP: client.IP, UserAgent: client.UserAgent}
	if err := a.allowIP(ctx, "login", client.IP, a.cfg.Limits.LoginPerIP); err != nil {
		if errors.Is(err, ErrRateLimited) {
			ev.Type, ev.Reason = EventRateLimited, "mfa_ip"
			a.emit(ctx, ev)
		}
		return nil, nil, err
	}
	t, first, u, err := a.lookupTicket(ctx, ticket)
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			ev.Type, ev.Reason = EventMFAFailed, "bad_ticket"
			a.emit(ctx, ev)
		}
		return nil, nil, err
	}
	ev.UserID, ev.TenantID = u.ID, u.TenantID
	tkey, akey := ticketKey(t.Hash), mfaAccountKey(u.ID)
	if err := a.allow(ctx, tkey, a.cfg.Limits.MFAPerTicket); err != nil {
		if errors.Is(err, ErrRateLimited) {
			// Spend the ticket: its holder must start over with the password.
			if _, cerr := a.cfg.ActionTokens.ConsumeActionToken(ctx, PurposeMFA, t.Hash, a.cfg.Now().UTC()); cerr != nil && !errors.Is(cerr, ErrInvalidToken) {
				return nil, nil, cerr
			}
			ev.Type, ev.Reason = EventMFALocked, "ticket"
			a.emit(ctx, ev)
		}
		return nil, nil, err
	}
	if err := a.allow(ctx, akey, a.cfg.Limits.MFAPerAccount); err != nil {
		a.refund(ctx, tkey, a.cfg.Limits.MFAPerTicket, errUnjudged)
		if errors.Is(err, ErrRateLimited) {
			ev.Type, ev.Reason = EventMFALocked, "account"
			a.emit(ctx, ev)
		}
		return nil, nil, err
	}
	pair, u, proof, err := a.finishSecondStep(ctx, t, first, u, client, enroll, verify)
	if err != nil {
		a.refund(ctx, tkey, a.cfg.Limits.MFAPerTicket, err)
		a.refund(ctx, akey, a.cfg.Limits.MFAPerAccount, err)
		if errors.Is(err, ErrInvalidCredentials) {
			ev.Type, ev.Reason = EventMFAFailed, "bad_code"
			a.emit(ctx, ev)
		}
		return nil, nil, err
	}
	if a.cfg.Limits.MFAPerAccount.enabled() {
		if err := a.cfg.Limiter.Reset(ctx, akey); err != nil {
			a.cfg.Logger.WarnContext(ctx, "auth: resetting the second-factor counter failed", "user", u.ID, "error", err)
		}
	}
	ev.SessionID = pair.SessionID
	a.emitProof(ctx, ev, proof, EventMFASucceeded)
	ev.Type, ev.Reason = EventLoginSucceeded, "second_factor"
	a.emit(ctx, ev)
	return pair, u, nil
}

// errUnjudged marks an attempt another limit refused: it was never judged.
var errUnjudged = errors.New("auth: attempt not judged")

// emitProof records the success of a credential step, and the use of a
// recovery code as its own event.
func (a *Authenticator) emitProof(ctx context.Context, ev Event, p Proof, et EventType) {
	ev.Type, ev.Reason = et, p.Factor
	a.emit(ctx, ev)
	if p.Factor == FactorRecoveryCode {
		ev.Type, ev.Reason = EventRecoveryCodeUsed, ""
		a.emit(ctx, ev)
	}
}

// FactorRecoveryCode is the Proof.Factor of a recovery code; its use is
// audited as EventRecoveryCodeUsed.
const FactorRecoveryCode = "recovery_code"

func (a *Authenticator) finishSecondStep(ctx context.Context, t *ActionToken, first []Method, u *User, client ClientInfo, enroll bool, verify func(context.Context, *User) (Proof, error)) (*TokenPair, *User, Proof, error) {
	if err := a.checkActive(ctx, u); err != nil {
		return nil, nil, Proof{}, err
	}
	if enroll {
		factors, err := a.enrolledFactors(ctx, u.ID)
		if err != nil {
			return nil, nil, Proof{}, err
		}
		if len(factors) > 0 {
			return nil, nil, Proof{}, fmt.Errorf("%w: the user has a second factor; finish the login with it", ErrMFARequired)
		}
	}
	proof, err := verify(ctx, u)
	if err != nil {
		if errors.Is(err, ErrInvalidCredentials) {
			return nil, nil, Proof{}, ErrInvalidCode
		}
		return nil, nil, Proof{}, err
	}
	if !proof.valid() || proof.UserID != u.ID {
		return nil, nil, Proof{}, errors.New("auth: a second factor returned a proof that is not for the ticket's user")
	}
	amr := combineMethods(first, proof)
	if !slices.Contains(amr, MethodMFA) {
		return nil, nil, Proof{}, fmt.Errorf("%w: the second step proved no other factor than the first", ErrInvalidCode)
	}
	now := a.cfg.Now().UTC()
	if _, err := a.cfg.ActionTokens.ConsumeActionToken(ctx, PurposeMFA, t.Hash, now); err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return nil, nil, Proof{}, errMFATicket // another request finished it first
		}
		return nil, nil, Proof{}, err
	}
	pair, u, err := a.startSession(ctx, u, client, amr, now)
	return pair, u, proof, err
}

// combineMethods joins what was proven, in order and without repeats, and
// adds "mfa" when two factor classes were proven or the proof is
// multi-factor by itself.
func combineMethods(first []Method, p Proof) []Method {
	var out []Method
	classes := map[string]bool{}
	mfa := p.MultiFactor
	for _, m := range slices.Concat(first, p.Methods) {
		if m == MethodMFA {
			mfa = true
			continue
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
		if c := factorClass(m); c != "" {
			classes[c] = true
		}
	}
	if mfa || len(classes) >= 2 {
		out = append(out, MethodMFA)
	}
	return out
}

// startSession creates a session for u, which has proven amr just now, and
// issues its first token pair.
func (a *Authenticator) startSession(ctx context.Context, u *User, client ClientInfo, amr []Method, now time.Time) (*TokenPair, *User, error) {
	s, rt, err := a.createSession(ctx, u, client, now, amr)
	if err != nil {
		return nil, nil, err
	}
	nu, err := a.cfg.Users.UpdateUser(ctx, "", u.ID, UserUpdate{LastLoginAt: &now, At: now})
	if err == nil {
		err = a.checkActive(ctx, nu)
	}
	if err != nil {
		if rerr := a.endSession(ctx, s, now); rerr != nil {
			return nil, nil, rerr
		}
		if errors.Is(err, ErrUserNotFound) {
			return nil, nil, ErrInvalidCredentials
		}
		return nil, nil, err
	}
	pair, err := a.issue(nu, s, a.cfg.Now().UTC(), rt)
	if err != nil {
		return nil, nil, err
	}
	return pair, nu, nil
}

// SignIn starts a session from the first step of a credential package that
// verified the user by itself: a passkey without a password, a federated
// sign-in. A multi-factor proof (a passkey with user verification) gets a
// session at once; otherwise a user with a second factor, or one the
// policy requires to have one, gets an *MFARequiredError as from Login.
// The credential package rate-limits its own attempts. An unknown user is
// ErrUserNotFound; an inactive one, ErrUserInactive.
func (a *Authenticator) SignIn(ctx context.Context, p Proof, client ClientInfo) (_ *TokenPair, _ *User, err error) {
	ctx, end := a.span(ctx, "auth.SignIn")
	defer end(&err)
	if !p.valid() {
		return nil, nil, fmt.Errorf("%w: malformed credential proof", ErrInvalidInput)
	}
	u, err := a.cfg.Users.User(ctx, p.UserID)
	if err != nil {
		return nil, nil, err
	}
	ev := Event{UserID: u.ID, TenantID: u.TenantID, IP: client.IP, UserAgent: client.UserAgent}
	if err := a.checkActive(ctx, u); err != nil {
		if et, why, _ := loginFailure(err); et != "" {
			ev.Type, ev.Reason = et, why
			a.emit(ctx, ev)
		}
		return nil, nil, err
	}
	now := a.cfg.Now().UTC()
	amr := combineMethods(nil, p)
	if !slices.Contains(amr, MethodMFA) {
		mfa, err := a.pendingStep(ctx, u, amr, now)
		if err != nil {
			return nil, nil, err
		}
		if mfa != nil {
			ev.Type, ev.Reason = EventMFARequired, p.Factor
			a.emit(ctx, ev)
			return nil, nil, mfa
		}
	}
	pair, u, err := a.startSession(ctx, u, client, amr, now)
	if err != nil {
		return nil, nil, err
	}
	ev.SessionID = pair.SessionID
	ev.Type, ev.Reason = EventLoginSucceeded, p.Factor
	a.emit(ctx, ev)
	if p.Factor == FactorRecoveryCode {
		ev.Type, ev.Reason = EventRecoveryCodeUsed, ""
		a.emit(ctx, ev)
	}
	return pair, u, nil
}

// Emit records an audit event through Config.Events, completing its ID,
// time, client and actor. Credential packages record their own actions
// (enrolment, removal) with it.
func (a *Authenticator) Emit(ctx context.Context, e Event) { a.emit(ctx, e) }
