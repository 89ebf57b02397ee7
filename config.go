package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/maestro-ml/auth/internal/ratelimit"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config configures an Authenticator. New validates and copies it. The zero
// value of every optional field is the secure default stated in its comment.
type Config struct {
	// Keys signs and verifies access tokens. Required. Replace it at run
	// time with Authenticator.SetKeys to rotate.
	Keys *KeySet
	// Users, Tenants, Sessions and Revocations are the stores. Required.
	// One store value often implements several (memstore, bunstore).
	Users       UserStore
	Tenants     TenantStore
	Sessions    SessionStore
	Revocations RevocationStore

	// Issuer is the "iss" of access tokens. Zero: "auth".
	Issuer string
	// Audience is the "aud" of access tokens, and the only audience
	// accepted. Zero: the Issuer.
	Audience string
	// AccessTTL is the lifetime of access tokens. Zero: 15 minutes.
	AccessTTL time.Duration
	// SessionIdleTTL ends a session that is not refreshed for this long.
	// Zero: 7 days.
	SessionIdleTTL time.Duration
	// SessionTTL is the absolute lifetime of a session, after which the
	// user must log in again. Zero: 30 days.
	SessionTTL time.Duration
	// RefreshGrace is how long after a rotation the previous refresh token
	// is still honoured, so that a client's concurrent refreshes are not
	// taken for token theft. Within it, the previous token yields a new
	// access token and no new refresh token (the client keeps the one it
	// got from the winning request, RFC 6749 §6). Zero: 10 seconds;
	// negative: no grace, any reuse revokes the session.
	RefreshGrace time.Duration
	// Skew is the clock leeway applied to exp, nbf and iat. Zero: 30 seconds;
	// negative: none.
	Skew time.Duration
	// MaxTokenBytes caps the length of an access token, checked before any
	// parsing. Zero: DefaultMaxTokenBytes (8 KiB).
	MaxTokenBytes int
	// TokenCacheSize is how many verified access tokens Authenticate
	// remembers, so a repeat token skips the signature check (about 1 KiB
	// each). Entries are tied to the key set and exp is checked on every
	// hit; revocation is checked on every request regardless. Zero: 10000;
	// negative: no cache.
	TokenCacheSize int

	// Roles lists the known roles from least to most privileged. Zero:
	// viewer, editor, admin.
	Roles []Role
	// DefaultRole is the role Register gives. Zero: the first of Roles.
	DefaultRole Role
	// Password is the policy for new passwords. Zero: see PasswordPolicy.
	Password PasswordPolicy
	// Hasher hashes passwords. Zero: NewHasher(HasherConfig{}).
	Hasher *Hasher
	// Limiter counts attempts for Limits. Zero: an in-process limiter,
	// which is exact for one instance; give several instances a shared one
	// (redisstore.Limiter).
	Limiter Limiter
	// Limits are the rate limits and the account lockout. Zero: see Limits.
	Limits Limits
	// ActionTokens stores the single-use tokens of e-mail verification, password
	// reset and e-mail change. Optional; those flows return
	// ErrNotConfigured without it.
	ActionTokens ActionTokenStore
	// Notifier delivers verification and reset messages. Optional, as
	// ActionTokens. With both set, Register sends a verification message.
	Notifier Notifier
	// VerifyTTL is how long verification and e-mail change tokens last.
	// Zero: 24 hours.
	VerifyTTL time.Duration
	// ResetTTL is how long password-reset tokens last. Zero: 1 hour.
	ResetTTL time.Duration
	// SecondFactors are the second-step credentials users may enrol
	// (factor/totp, factor/passkey). A user who has one must use it after
	// the password: Login answers *MFARequiredError with a ticket, and
	// LoginMFA or VerifyMFA finish the login. Names must be unique. They
	// need ActionTokens, which keeps the tickets.
	SecondFactors []SecondFactor
	// MFA says who must have a second factor besides those who enrolled
	// one. Zero: nobody. Needs SecondFactors.
	MFA MFAPolicy
	// MFATicketTTL is how long the ticket between a login's steps lasts.
	// Zero: 5 minutes; at most 15 minutes.
	MFATicketTTL time.Duration
	// EnumerationSafe keeps registration and login from telling whether an
	// address has an account (OWASP ASVS 5.0 V6.3.8). The HTTP layer then
	// answers registering, or moving an account to, a taken address like a
	// free one; and Login refuses a user whose address is not verified
	// with ErrInvalidCredentials, after the same work and counted against
	// the same lockout as a wrong password, so that an account a probe has
	// just registered cannot be told from an existing one by logging in.
	// The verification message that registration sends tells the owner
	// what to do. It needs ActionTokens and Notifier. Zero: off.
	EnumerationSafe bool
	// RequireVerifiedEmail refuses Login (ErrEmailNotVerified) until the
	// user's email is verified. Zero: not required.
	RequireVerifiedEmail bool

	// FailOpen makes Authenticate accept a valid token when the revocation
	// store is unavailable, instead of failing with ErrUnavailable.
	// INSECURE: while the store is down, revoked tokens are accepted until
	// they expire. Zero: fail closed.
	FailOpen bool

	// Events receives an audit event for every security-relevant action
	// (see EventSink for the guarantees). Zero: SlogSink over Logger;
	// audit.Nop{} turns auditing off.
	Events EventSink
	// AuditLog, if set, answers AuditEvents (the admin's view of the log).
	// It is usually also in Events (directly, or through audit.NewAsync).
	AuditLog AuditLog

	// TracerProvider receives a span per flow (Authenticate only when the
	// caller's span is sampled). Zero: otel.GetTracerProvider(), a no-op
	// until the application installs an OpenTelemetry SDK.
	TracerProvider trace.TracerProvider
	// MeterProvider receives metrics: auth.logins by outcome,
	// auth.authenticate.duration, auth.token_cache.lookups,
	// auth.rate_limited and auth.refresh.reuse_detected. Zero:
	// otel.GetMeterProvider(), a no-op until an SDK is installed.
	MeterProvider metric.MeterProvider

	// Now is the clock. Zero: time.Now. The Authenticator reads it in UTC,
	// truncated to the millisecond.
	Now func() time.Time
	// Logger receives security events (token and session IDs, never token
	// values or passwords). Zero: slog.Default().
	Logger *slog.Logger
}

// Authenticator runs every authentication flow over the configured stores.
// It is safe for concurrent use.
type Authenticator struct {
	cfg   Config // validated, with every default filled in; never changed
	keys  atomic.Pointer[KeySet]
	rules tokenRules
	cache *tokenCache
	tel   *telemetry
}

// New returns an Authenticator for cfg, or an error naming the first missing
// or invalid field. The Authenticator keeps its own copy of cfg, with the
// defaults filled in; changing cfg afterwards has no effect.
func New(cfg Config) (*Authenticator, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	a := &Authenticator{cfg: cfg}
	a.keys.Store(cfg.Keys)
	a.rules = tokenRules{issuer: cfg.Issuer, audience: cfg.Audience, skew: cfg.Skew, maxBytes: cfg.MaxTokenBytes}
	if cfg.TokenCacheSize > 0 {
		a.cache = newTokenCache(cfg.TokenCacheSize)
	}
	tel, err := newTelemetry(cfg.TracerProvider, cfg.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("auth: Config.TracerProvider or Config.MeterProvider: creating instruments: %w", err)
	}
	a.tel = tel
	for i, f := range cfg.SecondFactors {
		if at, ok := f.(Attacher); ok {
			if err := at.Attach(a); err != nil {
				return nil, fmt.Errorf("auth: Config.SecondFactors[%d] (%s): %w", i, f.Name(), err)
			}
		}
	}
	return a, nil
}

// normalize validates c and returns it with every zero field replaced by
// its default, its slices cloned, and negative durations that mean "off"
// set to zero. Fields are checked in declaration order, so the error names
// the first bad one the same way on every run.
func (c Config) normalize() (Config, error) {
	switch {
	case c.Keys == nil:
		return c, errors.New("auth: Config.Keys is required")
	case c.Users == nil:
		return c, errors.New("auth: Config.Users is required")
	case c.Tenants == nil:
		return c, errors.New("auth: Config.Tenants is required")
	case c.Sessions == nil:
		return c, errors.New("auth: Config.Sessions is required")
	case c.Revocations == nil:
		return c, errors.New("auth: Config.Revocations is required")
	case c.AccessTTL < 0 || c.SessionIdleTTL < 0 || c.SessionTTL < 0:
		return c, errors.New("auth: Config.AccessTTL, SessionIdleTTL and SessionTTL must not be negative")
	}
	c.AccessTTL = orDefault(c.AccessTTL, 15*time.Minute)
	c.SessionIdleTTL = orDefault(c.SessionIdleTTL, 7*24*time.Hour)
	c.SessionTTL = orDefault(c.SessionTTL, 30*24*time.Hour)
	c.RefreshGrace = orDefault(c.RefreshGrace, 10*time.Second)
	c.Skew = orDefault(c.Skew, 30*time.Second)
	c.VerifyTTL = orDefault(c.VerifyTTL, 24*time.Hour)
	c.ResetTTL = orDefault(c.ResetTTL, time.Hour)
	c.MFATicketTTL = orDefault(c.MFATicketTTL, 5*time.Minute)
	if c.Issuer == "" {
		c.Issuer = "auth"
	}
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	if c.MaxTokenBytes <= 0 {
		c.MaxTokenBytes = DefaultMaxTokenBytes
	}
	switch {
	case c.TokenCacheSize == 0:
		c.TokenCacheSize = 10000
	case c.TokenCacheSize < 0:
		c.TokenCacheSize = -1
	}
	switch {
	case c.SessionIdleTTL > c.SessionTTL:
		return c, errors.New("auth: Config.SessionIdleTTL must not exceed Config.SessionTTL")
	case c.AccessTTL > c.SessionTTL:
		return c, errors.New("auth: Config.AccessTTL must not exceed Config.SessionTTL")
	case c.Skew > 5*time.Minute:
		return c, errors.New("auth: Config.Skew must not exceed 5 minutes")
	case c.RefreshGrace > time.Minute:
		return c, errors.New("auth: Config.RefreshGrace must not exceed a minute")
	case c.VerifyTTL <= 0 || c.ResetTTL <= 0:
		return c, errors.New("auth: Config.VerifyTTL and Config.ResetTTL must be positive")
	case c.MaxTokenBytes < 512:
		return c, errors.New("auth: Config.MaxTokenBytes must be at least 512")
	case c.MFATicketTTL <= 0 || c.MFATicketTTL > 15*time.Minute:
		return c, errors.New("auth: Config.MFATicketTTL must be positive and at most 15 minutes")
	}
	if c.EnumerationSafe && (c.ActionTokens == nil || c.Notifier == nil) {
		return c, errors.New("auth: Config.EnumerationSafe needs Config.ActionTokens and Config.Notifier: unverified users cannot log in, and must be able to verify")
	}
	if err := c.Limits.validate(); err != nil {
		return c, err
	}
	c.Limits = c.Limits.withDefaults()
	c.Password = c.Password.withDefaults()
	c.Password.Words = slices.Clone(c.Password.Words)
	c.Roles = slices.Clone(c.Roles)
	if len(c.Roles) == 0 {
		c.Roles = []Role{RoleViewer, RoleEditor, RoleAdmin}
	}
	for i, r := range c.Roles {
		if r == "" || len(r) > 64 || slices.Index(c.Roles, r) != i {
			return c, fmt.Errorf("auth: Config.Roles has an empty, overlong or duplicate role %q", r)
		}
	}
	if c.DefaultRole == "" {
		c.DefaultRole = c.Roles[0]
	}
	if !slices.Contains(c.Roles, c.DefaultRole) {
		return c, fmt.Errorf("auth: Config.DefaultRole %q is not in Config.Roles", c.DefaultRole)
	}
	if err := c.validateFactors(); err != nil {
		return c, err
	}
	if c.Hasher == nil {
		h, err := NewHasher(HasherConfig{})
		if err != nil {
			return c, err
		}
		c.Hasher = h
	}
	// Every time the library stores or returns is in UTC and whole
	// milliseconds, the coarsest precision of its stores (SQLite keeps
	// milliseconds, PostgreSQL microseconds), so that a value returned by
	// a flow equals the one read back later.
	clock := c.Now
	if clock == nil {
		clock = time.Now
	}
	c.Now = func() time.Time { return clock().UTC().Truncate(time.Millisecond) }
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Events == nil {
		c.Events = SlogSink{Logger: c.Logger}
	}
	if c.Limiter == nil {
		c.Limiter = localLimiter{ratelimit.New(1<<20, c.Now)}
	}
	return c, nil
}

// validateFactors checks SecondFactors and MFA, and clones them.
func (c *Config) validateFactors() error {
	c.SecondFactors = slices.Clone(c.SecondFactors)
	c.MFA.Roles = slices.Clone(c.MFA.Roles)
	c.MFA.Tenants = slices.Clone(c.MFA.Tenants)
	seen := map[string]bool{}
	for i, f := range c.SecondFactors {
		if f == nil {
			return fmt.Errorf("auth: Config.SecondFactors[%d] is nil", i)
		}
		n := f.Name()
		if !validMethod(Method(n)) && !validFactorName(n) || seen[n] {
			return fmt.Errorf("auth: Config.SecondFactors[%d] has an empty, malformed or duplicate name %q", i, n)
		}
		seen[n] = true
	}
	switch {
	case len(c.SecondFactors) > 0 && c.ActionTokens == nil:
		return errors.New("auth: Config.SecondFactors needs Config.ActionTokens, which keeps the tickets between a login's steps")
	case c.MFA.set() && len(c.SecondFactors) == 0:
		return errors.New("auth: Config.MFA requires second factors but Config.SecondFactors is empty")
	}
	for _, r := range c.MFA.Roles {
		if !slices.Contains(c.Roles, r) {
			return fmt.Errorf("auth: Config.MFA.Roles has %q, which is not one of Config.Roles %v", r, c.Roles)
		}
	}
	return nil
}

// validFactorName: a short lower-case name with digits and underscores.
func validFactorName(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for _, c := range []byte(n) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// orDefault returns d for zero, zero for negative, and v otherwise.
func orDefault(v, d time.Duration) time.Duration {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
}

// Keys returns the current key set.
func (a *Authenticator) Keys() *KeySet { return a.keys.Load() }

// SetKeys replaces the key set; tokens signed with keys absent from ks stop
// verifying at once. Rotate by installing a set that signs with a new key
// and still verifies with the previous one for at least Config.AccessTTL.
func (a *Authenticator) SetKeys(ks *KeySet) error {
	if ks == nil {
		return errors.New("auth: nil KeySet")
	}
	if old := a.keys.Swap(ks); old.SigningKey() != ks.SigningKey() {
		a.emit(context.Background(), Event{Type: EventKeysRotated, Reason: "signing kid " + ks.SigningKey().ID()})
	}
	return nil
}

// Roles returns the role hierarchy, least privileged first.
func (a *Authenticator) Roles() []Role { return slices.Clone(a.cfg.Roles) }

// EnumerationSafe reports Config.EnumerationSafe, which the HTTP layer
// follows.
func (a *Authenticator) EnumerationSafe() bool { return a.cfg.EnumerationSafe }

// RoleAtLeast reports whether have is a known role ranked at or above want.
// An unknown role is never enough.
func (a *Authenticator) RoleAtLeast(have, want Role) bool {
	h, w := slices.Index(a.cfg.Roles, have), slices.Index(a.cfg.Roles, want)
	return h >= 0 && w >= 0 && h >= w
}

// PasswordPolicy returns the effective password policy.
func (a *Authenticator) PasswordPolicy() PasswordPolicy { return a.cfg.Password }
