package auth

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Method is an authentication method reference, as carried in the "amr"
// claim of access tokens (RFC 8176 §2 lists the registered values).
type Method string

// Authentication methods of RFC 8176 the library records. Credential
// packages may use any other registered value.
const (
	MethodPassword    Method = "pwd" // a password
	MethodOTP         Method = "otp" // a one-time password: TOTP or a recovery code
	MethodHardwareKey Method = "hwk" // proof of possession of a hardware-bound key
	MethodSoftwareKey Method = "swk" // proof of possession of a software key (a synced passkey)
	MethodFederated   Method = "fed" // sign-in through an identity provider
	MethodUser        Method = "user"
	MethodMFA         Method = "mfa" // more than one factor was used
)

// validMethod reports whether m can stand in an amr claim and in a ticket:
// a short lower-case word.
func validMethod(m Method) bool {
	if m == "" || len(m) > 8 {
		return false
	}
	for _, c := range []byte(m) {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// factorClass sorts methods into the factor classes of NIST SP 800-63B
// (something you know, something you have); a login is multi-factor when
// two classes were proven. Federation counts as its own class: the
// provider's sign-in is independent of the factors held here.
func factorClass(m Method) string {
	switch m {
	case MethodPassword, "pin", "kba":
		return "know"
	case MethodOTP, MethodHardwareKey, MethodSoftwareKey, "sms", "tel", "sc":
		return "have"
	case MethodFederated:
		return "fed"
	}
	return ""
}

// Proof is what a credential package hands the core once it has verified
// a credential: "user UserID proved Methods". The core alone turns proofs
// into sessions and tokens.
type Proof struct {
	// UserID is the user who proved the credential.
	UserID string
	// Methods are the RFC 8176 values proven: {MethodOTP} for a TOTP code;
	// {MethodHardwareKey, MethodUser} for a passkey with user verification.
	Methods []Method
	// MultiFactor says the proof alone is multi-factor: a passkey with user
	// verification is possession and a biometric or PIN. It satisfies the
	// second-factor policy by itself and adds "mfa" to amr.
	MultiFactor bool
	// Factor names the credential kind for audit events ("totp",
	// "recovery_code", "passkey").
	Factor string
}

func (p Proof) valid() bool {
	if !ValidID(p.UserID) || len(p.Methods) == 0 || len(p.Methods) > 4 || len(p.Factor) > 32 {
		return false
	}
	for _, m := range p.Methods {
		if !validMethod(m) {
			return false
		}
	}
	return true
}

// SecondFactor is a kind of credential that can complete a login after its
// first step (factor/totp, factor/passkey). Config.SecondFactors lists
// them; the core asks them whether a user has one, and an administrator's
// reset removes them. Implementations must be safe for concurrent use.
type SecondFactor interface {
	// Name is the factor's kind in answers, events and LoginMFA ("totp").
	// It is a short lower-case word and unique within Config.SecondFactors.
	Name() string
	// Enrolled reports whether the user has a confirmed factor of this kind.
	Enrolled(ctx context.Context, userID string) (bool, error)
	// Reset removes every factor of this kind the user has.
	Reset(ctx context.Context, userID string) error
}

// Attacher is a SecondFactor that needs the Authenticator it serves, to
// record events (Emit) and to finish logins (EnrollMFA, MFATicket) from
// its own flows. New calls Attach once, after every other check passed;
// an error fails New. A factor serves one Authenticator: attaching it to a
// second one should fail.
type Attacher interface {
	Attach(a *Authenticator) error
}

// CodeFactor is a SecondFactor proven by a code the user types (a TOTP
// code, a recovery code). LoginMFA and StepUpCode call it.
type CodeFactor interface {
	SecondFactor
	// VerifyCode checks code for the user. A wrong, reused or malformed code
	// is an error wrapping ErrInvalidCredentials (it counts against the
	// account's limit); any other error is a failure to judge (a store is
	// unavailable) and is given back to the limit. A code is accepted at
	// most once, also when two requests present it at the same time.
	VerifyCode(ctx context.Context, u *User, code string) (Proof, error)
}

// MFAPolicy says who must use a second factor. A user who has enrolled one
// always must; the policy adds users who must have one. A user the policy
// covers who has none can only enrol one: Login answers with a ticket that
// allows enrolment and nothing else.
type MFAPolicy struct {
	// All requires a second factor of every user.
	All bool
	// Roles requires it of users with any of these roles, or a role
	// ranked above one of them in Config.Roles (admin covers a higher
	// owner role too). Each must be one of Config.Roles.
	Roles []Role
	// Tenants requires it of every user of these tenants (IDs).
	Tenants []string
}

// requires reports whether the policy covers u; roles ranks the roles,
// lowest first (Config.Roles).
func (p MFAPolicy) requires(u *User, roles []Role) bool {
	if p.All || slices.Contains(p.Tenants, u.TenantID) {
		return true
	}
	have := slices.Index(roles, u.Role)
	for _, r := range p.Roles {
		if r == u.Role || (have >= 0 && have >= slices.Index(roles, r) && slices.Contains(roles, r)) {
			return true
		}
	}
	return false
}

func (p MFAPolicy) set() bool { return p.All || len(p.Roles) > 0 || len(p.Tenants) > 0 }

// ErrMFARequired is matched by *MFARequiredError: the first step of a login
// succeeded and a second one is needed.
var ErrMFARequired = errors.New("auth: second factor required")

// MFARequiredError is what Login (and SignIn) return instead of tokens when
// the user must complete a second step. The Ticket is a short-lived,
// single-use, opaque value bound to the user and the first step; it is not
// a bearer token and authenticates nothing but LoginMFA, VerifyMFA and
// enrolment through MFATicket.
type MFARequiredError struct {
	Ticket    string
	ExpiresAt time.Time
	// Factors are the names of the factors the user has enrolled, in
	// Config.SecondFactors order. Empty when Enroll is set.
	Factors []string
	// Enroll is set when the policy requires a second factor and the user
	// has none: the ticket only allows enrolling one, and confirming it
	// completes the login.
	Enroll bool
}

func (e *MFARequiredError) Error() string        { return ErrMFARequired.Error() }
func (e *MFARequiredError) Is(target error) bool { return target == ErrMFARequired }

// ErrInsufficientAuth is matched by *InsufficientAuthError: the access
// token's authentication is too weak or too old for the action (RFC 9470).
var ErrInsufficientAuth = errors.New("auth: stronger or more recent authentication required")

// InsufficientAuthError says what a step-up must bring: HTTP answers it
// 401 with an RFC 9470 insufficient_user_authentication challenge.
type InsufficientAuthError struct {
	// ACR is the acr_values of the challenge ("mfa" when a second factor
	// is required), or empty.
	ACR string
	// MaxAge is the max_age of the challenge: how recent the
	// authentication must be; zero when only ACR is required.
	MaxAge time.Duration
}

func (e *InsufficientAuthError) Error() string        { return ErrInsufficientAuth.Error() }
func (e *InsufficientAuthError) Is(target error) bool { return target == ErrInsufficientAuth }
