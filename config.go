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
	// Tokens stores the single-use tokens of e-mail verification, password
	// reset and e-mail change. Optional; those flows return
	// ErrNotConfigured without it.
	Tokens ActionTokenStore
	// Notifier delivers verification and reset messages. Optional, as
	// Tokens. With both set, Register sends a verification message.
	Notifier Notifier
	// VerifyTTL is how long verification and e-mail change tokens last.
	// Zero: 24 hours.
	VerifyTTL time.Duration
	// ResetTTL is how long password-reset tokens last. Zero: 1 hour.
	ResetTTL time.Duration
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
	// NopSink{} turns auditing off.
	Events EventSink
	// AuditLog, if set, answers AuditEvents (the admin's view of the log).
	// It is usually also in Events (directly, or through NewAsyncSink).
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

	// Now is the clock. Zero: time.Now.
	Now func() time.Time
	// Logger receives security events (token and session IDs, never token
	// values or passwords). Zero: slog.Default().
	Logger *slog.Logger
}

// Authenticator runs every authentication flow over the configured stores.
// It is safe for concurrent use.
type Authenticator struct {
	keys            atomic.Pointer[KeySet]
	users           UserStore
	tenants         TenantStore
	sessions        SessionStore
	revocations     RevocationStore
	rules           tokenRules
	cache           *tokenCache
	accessTTL       time.Duration
	idleTTL         time.Duration
	sessionTTL      time.Duration
	grace           time.Duration
	roles           []Role
	defaultRole     Role
	policy          PasswordPolicy
	hasher          *Hasher
	limiter         Limiter
	limits          Limits
	events          EventSink
	tel             *telemetry
	audit           AuditLog
	tokens          ActionTokenStore
	notifier        Notifier
	verifyTTL       time.Duration
	resetTTL        time.Duration
	requireVerified bool
	failOpen        bool
	now             func() time.Time
	log             *slog.Logger
}

// New returns an Authenticator for cfg, or an error naming the first missing
// or invalid field.
func New(cfg Config) (*Authenticator, error) {
	switch {
	case cfg.Keys == nil:
		return nil, errors.New("auth: Config.Keys is required")
	case cfg.Users == nil:
		return nil, errors.New("auth: Config.Users is required")
	case cfg.Tenants == nil:
		return nil, errors.New("auth: Config.Tenants is required")
	case cfg.Sessions == nil:
		return nil, errors.New("auth: Config.Sessions is required")
	case cfg.Revocations == nil:
		return nil, errors.New("auth: Config.Revocations is required")
	}
	a := &Authenticator{
		users: cfg.Users, tenants: cfg.Tenants, sessions: cfg.Sessions, revocations: cfg.Revocations,
		accessTTL:       orDefault(cfg.AccessTTL, 15*time.Minute),
		idleTTL:         orDefault(cfg.SessionIdleTTL, 7*24*time.Hour),
		sessionTTL:      orDefault(cfg.SessionTTL, 30*24*time.Hour),
		grace:           orDefault(cfg.RefreshGrace, 10*time.Second),
		policy:          cfg.Password.withDefaults(),
		hasher:          cfg.Hasher,
		limiter:         cfg.Limiter,
		limits:          cfg.Limits.withDefaults(),
		events:          cfg.Events,
		audit:           cfg.AuditLog,
		tokens:          cfg.Tokens,
		notifier:        cfg.Notifier,
		verifyTTL:       orDefault(cfg.VerifyTTL, 24*time.Hour),
		resetTTL:        orDefault(cfg.ResetTTL, time.Hour),
		requireVerified: cfg.RequireVerifiedEmail,
		failOpen:        cfg.FailOpen,
		now:             cfg.Now,
		log:             cfg.Logger,
	}
	a.keys.Store(cfg.Keys)
	a.rules = tokenRules{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		skew:     orDefault(cfg.Skew, 30*time.Second),
		maxBytes: cfg.MaxTokenBytes,
	}
	if a.rules.issuer == "" {
		a.rules.issuer = "auth"
	}
	if a.rules.audience == "" {
		a.rules.audience = a.rules.issuer
	}
	if a.rules.maxBytes <= 0 {
		a.rules.maxBytes = DefaultMaxTokenBytes
	}
	switch {
	case cfg.TokenCacheSize == 0:
		a.cache = newTokenCache(10000)
	case cfg.TokenCacheSize > 0:
		a.cache = newTokenCache(cfg.TokenCacheSize)
	}
	switch {
	case cfg.AccessTTL < 0 || cfg.SessionIdleTTL < 0 || cfg.SessionTTL < 0:
		return nil, errors.New("auth: Config.AccessTTL, SessionIdleTTL and SessionTTL must not be negative")
	case a.idleTTL > a.sessionTTL:
		return nil, errors.New("auth: Config.SessionIdleTTL must not exceed Config.SessionTTL")
	case a.accessTTL > a.sessionTTL:
		return nil, errors.New("auth: Config.AccessTTL must not exceed Config.SessionTTL")
	case a.rules.skew > 5*time.Minute:
		return nil, errors.New("auth: Config.Skew must not exceed 5 minutes")
	case a.grace > time.Minute:
		return nil, errors.New("auth: Config.RefreshGrace must not exceed a minute")
	case a.verifyTTL <= 0 || a.resetTTL <= 0:
		return nil, errors.New("auth: Config.VerifyTTL and Config.ResetTTL must be positive")
	case a.rules.maxBytes < 512:
		return nil, errors.New("auth: Config.MaxTokenBytes must be at least 512")
	}
	if err := cfg.Limits.validate(); err != nil {
		return nil, err
	}
	a.policy.Words = slices.Clone(a.policy.Words)
	a.roles = slices.Clone(cfg.Roles)
	if len(a.roles) == 0 {
		a.roles = []Role{RoleViewer, RoleEditor, RoleAdmin}
	}
	for i, r := range a.roles {
		if r == "" || len(r) > 64 || slices.Index(a.roles, r) != i {
			return nil, fmt.Errorf("auth: Config.Roles has an empty, overlong or duplicate role %q", r)
		}
	}
	a.defaultRole = cfg.DefaultRole
	if a.defaultRole == "" {
		a.defaultRole = a.roles[0]
	}
	if !slices.Contains(a.roles, a.defaultRole) {
		return nil, fmt.Errorf("auth: Config.DefaultRole %q is not in Config.Roles", a.defaultRole)
	}
	if a.hasher == nil {
		h, err := NewHasher(HasherConfig{})
		if err != nil {
			return nil, err
		}
		a.hasher = h
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.events == nil {
		a.events = SlogSink{Logger: a.log}
	}
	tel, err := newTelemetry(cfg.TracerProvider, cfg.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("auth: creating OpenTelemetry instruments: %w", err)
	}
	a.tel = tel
	if a.limiter == nil {
		a.limiter = localLimiter{ratelimit.New(1<<20, a.now)}
	}
	return a, nil
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
func (a *Authenticator) Roles() []Role { return slices.Clone(a.roles) }

// RoleAtLeast reports whether have is a known role ranked at or above want.
// An unknown role is never enough.
func (a *Authenticator) RoleAtLeast(have, want Role) bool {
	h, w := slices.Index(a.roles, have), slices.Index(a.roles, want)
	return h >= 0 && w >= 0 && h >= w
}

// PasswordPolicy returns the effective password policy.
func (a *Authenticator) PasswordPolicy() PasswordPolicy { return a.policy }
