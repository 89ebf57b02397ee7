package auth

import (
	"errors"
	"time"

	"github.com/maestro-ml/auth/internal/errs"
)

// Sentinel errors. Every error returned by this package and by the stores in
// store/... either is one of these or wraps one, so callers branch with
// errors.Is. Messages never carry a password, a token or a hash.
var (
	// ErrInvalidCredentials is returned by Login when the email is unknown or
	// the password is wrong. The two cases are indistinguishable on purpose
	// (OWASP ASVS 5.0 V6.3).
	ErrInvalidCredentials = errors.New("auth: invalid email or password")
	// ErrUserInactive is returned by Login and Refresh for a deactivated user,
	// and only after the password has been verified.
	ErrUserInactive = errors.New("auth: user is inactive")
	// ErrEmailNotVerified is returned by Login when Config.RequireVerifiedEmail
	// is set and the user has not verified the address yet.
	ErrEmailNotVerified = errors.New("auth: email address is not verified")
	// ErrEmailTaken is returned when an email address already belongs to a user.
	ErrEmailTaken = errors.New("auth: email address is already registered")
	// ErrInvalidEmail is returned for an address that is not a single plain
	// addr-spec of at most 254 bytes.
	ErrInvalidEmail = errors.New("auth: invalid email address")
	// ErrInvalidRole is returned for a role that is not in Config.Roles.
	ErrInvalidRole = errors.New("auth: unknown role")
	// ErrInvalidInput is returned for malformed arguments that are neither an
	// email nor a password: a name that is too long, meta that is not a JSON
	// object, a malformed ID.
	ErrInvalidInput = errors.New("auth: invalid input")

	// ErrUserNotFound is returned when no user matches; for tenant-scoped
	// calls, a user of another tenant is not found either.
	ErrUserNotFound = errors.New("auth: user not found")
	// ErrTenantNotFound is returned when a tenant does not exist or is inactive.
	ErrTenantNotFound = errors.New("auth: tenant not found")
	// ErrTenantTaken is returned when a tenant slug is already in use.
	ErrTenantTaken = errors.New("auth: tenant slug is already in use")
	// ErrSessionNotFound is returned when no session matches.
	ErrSessionNotFound = errors.New("auth: session not found")
	// ErrConflict is returned by a store when a conditional update lost a race
	// (for example a refresh token rotated concurrently).
	ErrConflict = errors.New("auth: concurrent update")

	// ErrInvalidToken is returned for an access or refresh token that is
	// malformed, badly signed, of the wrong type, or not valid for this
	// issuer and audience. Every token error below wraps it.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrTokenExpired is returned for an access token past its exp, or a
	// refresh token whose session reached its idle or absolute lifetime.
	ErrTokenExpired = errs.Kind(ErrInvalidToken, "auth: token expired")
	// ErrTokenRevoked is returned for an access token that was revoked,
	// directly, through its session, or by a cutoff on its user.
	ErrTokenRevoked = errs.Kind(ErrInvalidToken, "auth: token revoked")
	// ErrRefreshReused is returned when a refresh token that was already
	// rotated is presented again after the grace window. The whole session
	// and every access token it issued are revoked (RFC 9700 §4.14.2).
	ErrRefreshReused = errs.Kind(ErrInvalidToken, "auth: refresh token reused; session revoked")

	// ErrPasswordPolicy is the parent of every password policy rejection;
	// the specific errors below say why.
	ErrPasswordPolicy = errors.New("auth: password rejected by policy")
	// ErrPasswordTooShort: fewer characters than PasswordPolicy.MinLength.
	ErrPasswordTooShort = errs.Kind(ErrPasswordPolicy, "auth: password is too short")
	// ErrPasswordTooLong: more than PasswordPolicy.MaxLength characters or
	// more than MaxPasswordBytes bytes.
	ErrPasswordTooLong = errs.Kind(ErrPasswordPolicy, "auth: password is too long")
	// ErrPasswordCommon: the password is on the list of common passwords.
	ErrPasswordCommon = errs.Kind(ErrPasswordPolicy, "auth: password is too common")
	// ErrPasswordContext: the password repeats the email address, its local
	// part or a configured word such as the service name (NIST SP 800-63B
	// §3.1.1.2 context-specific words).
	ErrPasswordContext = errs.Kind(ErrPasswordPolicy, "auth: password is too close to the email address or service name")
	// ErrPasswordEncoding: the password is not valid UTF-8 or contains
	// control characters.
	ErrPasswordEncoding = errs.Kind(ErrPasswordPolicy, "auth: password is not valid text")

	// ErrUnavailable is wrapped by every error caused by a store or a
	// dependency that cannot be reached or timed out. HTTP maps it to 503;
	// Authenticate fails closed on it unless Config.FailOpen is set.
	ErrUnavailable = errors.New("auth: service unavailable")
	// ErrBusy is returned when password hashing capacity stayed exhausted for
	// longer than the queue timeout; it wraps ErrUnavailable.
	ErrBusy = errs.Kind(ErrUnavailable, "auth: too many concurrent password operations")
	// ErrRateLimited is matched by every *RateLimitError: too many attempts
	// from one client or against one account (including a temporary
	// account lock). HTTP maps it to 429 with Retry-After.
	ErrRateLimited = errors.New("auth: too many attempts")
	// ErrFactorEnrolled is returned by a credential package when the user
	// already has the second factor being enrolled.
	ErrFactorEnrolled = errors.New("auth: second factor already enrolled")
	// ErrFactorNotEnrolled is returned by a credential package when the
	// user has no such second factor (or no enrolment pending to confirm).
	ErrFactorNotEnrolled = errors.New("auth: second factor not enrolled")
)

// RateLimitError is returned when an attempt is refused by a rate limit or
// an account lock. It matches ErrRateLimited.
type RateLimitError struct {
	// RetryAfter is how long until an attempt may succeed.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string        { return ErrRateLimited.Error() }
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

func invalidToken(why string) error { return errs.Because(ErrInvalidToken, why) }
