package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/google/uuid"
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

// TokenPair is what Login and Refresh return.
type TokenPair struct {
	AccessToken string `json:"access_token"`
	// TokenType is always "Bearer".
	TokenType string `json:"token_type"`
	// IssuedAt is when the pair was issued, by the Authenticator's clock;
	// ExpiresAt.Sub(IssuedAt) is the access token's lifetime.
	IssuedAt time.Time `json:"issued_at"`
	// ExpiresAt is when the access token expires.
	ExpiresAt time.Time `json:"expires_at"`
	// RefreshToken is the new refresh token. It is empty when Refresh
	// answered a concurrent retry within the grace window: the client
	// keeps the refresh token it already has (RFC 6749 §6).
	RefreshToken string `json:"refresh_token,omitempty"`
	// RefreshExpiresAt is when the session ends unless refreshed.
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	// SessionID identifies the session for listing and revocation.
	SessionID string `json:"session_id"`
}

// ClientInfo describes the client of a login or refresh, kept on the session.
type ClientInfo struct {
	UserAgent string
	IP        string
}

// Authenticate verifies an access token and returns its claims: the
// signature with the key its kid names (pinned algorithm), typ, exp, nbf,
// iat, iss and aud, then one deny-list look-up covering the token, its
// session and its user. It touches no user or session store.
//
// Errors: ErrInvalidToken (wrapped with a reason), ErrTokenExpired,
// ErrTokenRevoked, or an error wrapping ErrUnavailable when the deny-list
// cannot be read (unless Config.FailOpen).
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Claims, error) {
	sampled := trace.SpanContextFromContext(ctx).IsSampled()
	if !sampled && !a.tel.authDur.Enabled(ctx) {
		return a.authenticate(ctx, token) // no telemetry: nothing added to the hot path
	}
	return a.authenticateObserved(ctx, token, sampled)
}

func (a *Authenticator) authenticateObserved(ctx context.Context, token string, sampled bool) (c *Claims, err error) {
	start := time.Now()
	if sampled {
		var end func(*error)
		ctx, end = a.span(ctx, "auth.Authenticate")
		defer end(&err)
	}
	c, err = a.authenticate(ctx, token)
	a.tel.recordAuthenticate(ctx, start, err)
	return c, err
}

func (a *Authenticator) authenticate(ctx context.Context, token string) (*Claims, error) {
	c, err := a.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	st, err := a.revocations.Revoked(ctx, RevocationQuery{TokenID: c.TokenID, SessionID: c.SessionID, UserID: c.UserID})
	if err != nil {
		if a.failOpen && errors.Is(err, ErrUnavailable) {
			a.log.WarnContext(ctx, "auth: revocation store unavailable; accepting token (FailOpen)", "jti", c.TokenID)
			return c, nil
		}
		return nil, err
	}
	if st.Revokes(c.IssuedAt) {
		return nil, ErrTokenRevoked
	}
	return c, nil
}

// verify returns the claims of a well-formed, correctly signed, unexpired
// access token, from the verified-token cache when possible.
func (a *Authenticator) verify(ctx context.Context, token string) (*Claims, error) {
	ks, now := a.keys.Load(), a.now()
	if a.cache != nil && len(token) <= a.rules.maxBytes {
		c, ok := a.cache.get(ks, token, now, a.rules.skew)
		if a.tel.cache.Enabled(ctx) {
			result := a.tel.cacheMiss
			if ok {
				result = a.tel.cacheHit
			}
			a.tel.cache.Add(ctx, 1, result)
		}
		if ok {
			return c, nil
		}
	}
	c, err := parseAccessToken(ks, &a.rules, token, now)
	if err != nil {
		return nil, err
	}
	if a.cache != nil {
		a.cache.put(ks, token, c)
	}
	return c, nil
}

// issue creates the access token for a session of u and returns it with the
// refresh token rt (empty when none was issued).
func (a *Authenticator) issue(u *User, s *Session, now time.Time, rt string) (*TokenPair, error) {
	now = now.Truncate(time.Millisecond)
	c := &Claims{
		UserID: u.ID, TenantID: u.TenantID, SessionID: s.ID, TokenID: uuid.NewString(), Role: u.Role,
		Issuer: a.rules.issuer, Audience: []string{a.rules.audience},
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(a.accessTTL),
	}
	tok, err := signAccessToken(a.keys.Load().SigningKey(), c)
	if err != nil {
		return nil, fmt.Errorf("auth: signing access token: %w", err)
	}
	return &TokenPair{
		AccessToken: tok, TokenType: "Bearer", IssuedAt: now, ExpiresAt: c.ExpiresAt, RefreshToken: rt,
		RefreshExpiresAt: s.IdleExpiresAt, SessionID: s.ID,
	}, nil
}

// revocationTTL is how long a session or user entry must outlive now: until
// every access token it can match has expired.
func (a *Authenticator) revocationTTL(now time.Time) time.Time {
	return now.Add(a.accessTTL + a.rules.skew + time.Second)
}

// Register creates an active, unverified user with Config.DefaultRole in
// tenantID (empty: the default tenant). The role never comes from the
// caller. Errors: ErrInvalidEmail, a password policy error, ErrEmailTaken,
// ErrTenantNotFound, ErrInvalidInput, *RateLimitError.
func (a *Authenticator) Register(ctx context.Context, r RegisterRequest) (_ *User, err error) {
	ctx, end := a.span(ctx, "auth.Register")
	defer end(&err)
	if err := a.allowIP(ctx, "register", r.Client.IP, a.limits.RegisterPerIP); err != nil {
		a.emit(ctx, Event{Type: EventRateLimited, Reason: "register_ip", IP: r.Client.IP, UserAgent: r.Client.UserAgent})
		return nil, err
	}
	u, err := a.createUser(ctx, NewUser{
		TenantID: r.TenantID, Email: r.Email, Password: r.Password, Name: r.Name, Meta: r.Meta,
		Role: a.defaultRole,
	})
	switch {
	case err == nil:
		a.emit(ctx, Event{Type: EventUserRegistered, UserID: u.ID, TenantID: u.TenantID, IP: r.Client.IP, UserAgent: r.Client.UserAgent})
		if a.lifecycleReady() == nil {
			if verr := a.RequestVerification(ctx, u.ID); verr != nil {
				a.log.WarnContext(ctx, "auth: verification message not sent", "user", u.ID, "error", verr)
			}
		}
	case errors.Is(err, ErrEmailTaken) && a.notifier != nil:
		// Tell the owner; an enumeration-safe HTTP answer hides it from the caller.
		email, _ := NormalizeEmail(r.Email)
		if a.allow(ctx, "exists:acct:"+email, a.limits.ResetPerAccount) == nil {
			if owner, oerr := a.users.UserByEmail(ctx, email); oerr == nil {
				a.notifyQuietly(ctx, Message{Kind: MessageAccountExists, To: owner.Email, UserID: owner.ID, TenantID: owner.TenantID})
			}
		}
	}
	return u, err
}

// RegisterRequest is the input of Register: only what a user may choose.
type RegisterRequest struct {
	Email    string
	Password string
	Name     string
	// TenantID is the tenant to join; empty means DefaultTenantID. Any
	// active tenant whose ID the caller knows can be joined: expose it to
	// end users only if your tenants are open to self-registration.
	TenantID string
	// Meta is an optional JSON object of application data.
	Meta []byte
	// Client is the registering client, for per-IP rate limits.
	Client ClientInfo
}

// NewUser is the input of CreateUser, an administrative operation.
type NewUser struct {
	TenantID string
	Email    string
	Password string
	Name     string
	// Role must be one of Config.Roles. Zero: Config.DefaultRole.
	Role     Role
	Verified bool
	Meta     []byte
}

// CreateUser creates an active user with the given role, for administrators
// and provisioning. Errors as for Register, plus ErrInvalidRole.
func (a *Authenticator) CreateUser(ctx context.Context, n NewUser) (_ *User, err error) {
	ctx, end := a.span(ctx, "auth.CreateUser")
	defer end(&err)
	u, err := a.createUser(ctx, n)
	if err == nil {
		a.emit(ctx, Event{Type: EventUserCreated, UserID: u.ID, TenantID: u.TenantID, Reason: "role " + string(u.Role)})
	}
	return u, err
}

func (a *Authenticator) createUser(ctx context.Context, n NewUser) (*User, error) {
	email, err := NormalizeEmail(n.Email)
	if err != nil {
		return nil, err
	}
	if err := a.policy.Check(n.Password, email); err != nil {
		return nil, err
	}
	name, err := validateName(n.Name)
	if err != nil {
		return nil, err
	}
	meta, err := validateMeta(n.Meta)
	if err != nil {
		return nil, err
	}
	role := n.Role
	if role == "" {
		role = a.defaultRole
	}
	if !slices.Contains(a.roles, role) {
		return nil, ErrInvalidRole
	}
	tenantID := n.TenantID
	if tenantID == "" {
		tenantID = DefaultTenantID
	}
	if !ValidID(tenantID) {
		return nil, ErrTenantNotFound
	}
	t, err := a.tenants.Tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return nil, ErrTenantNotFound
	}
	hash, err := a.hasher.Hash(ctx, n.Password)
	if err != nil {
		return nil, err
	}
	now := a.now().UTC()
	u := &User{
		ID: newID(), TenantID: tenantID, Email: email, PasswordHash: hash, Name: name, Role: role,
		Active: true, Verified: n.Verified, CreatedAt: now, UpdatedAt: now, Meta: meta,
	}
	if err := a.users.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// LoginRequest is the input of Login.
type LoginRequest struct {
	Email    string
	Password string
	Client   ClientInfo
}

// Login checks an email and password and starts a session. An unknown
// email costs the same work as a wrong password and returns the same
// ErrInvalidCredentials. A correct password for an inactive user (or
// tenant) gives ErrUserInactive; for an unverified one, with
// Config.RequireVerifiedEmail, ErrEmailNotVerified. A bcrypt hash, or an
// argon2id hash with old parameters, is replaced on success.
//
// Attempts are limited per client IP and per email address (Config.Limits);
// past the limit Login returns a *RateLimitError before looking at the
// password, so a locked account answers the same whether the password is
// right or wrong, and whether the account exists or not.
func (a *Authenticator) Login(ctx context.Context, r LoginRequest) (_ *TokenPair, _ *User, err error) {
	ctx, end := a.span(ctx, "auth.Login")
	defer end(&err)
	pair, u, subject, event, reason, err := a.login(ctx, r)
	e := Event{Type: event, Reason: reason, IP: r.Client.IP, UserAgent: r.Client.UserAgent}
	if subject != nil {
		e.UserID, e.TenantID = subject.ID, subject.TenantID
	}
	if pair != nil {
		e.SessionID = pair.SessionID
	}
	if event != "" {
		a.emit(ctx, e)
	}
	return pair, u, err
}

// login is Login without the audit event: it returns, besides the result,
// the user the attempt was about (if known), and the event type and reason
// class to record ("" for errors of the infrastructure).
func (a *Authenticator) login(ctx context.Context, r LoginRequest) (pair *TokenPair, u, subject *User, event EventType, reason string, err error) {
	fail := func(et EventType, why string, err error) (*TokenPair, *User, *User, EventType, string, error) {
		return nil, nil, subject, et, why, err
	}
	if err := a.allowIP(ctx, "login", r.Client.IP, a.limits.LoginPerIP); err != nil {
		return fail(EventRateLimited, "login_ip", err)
	}
	email, emailErr := NormalizeEmail(r.Email)
	acctKey := "login:acct:" + limitAccount(r.Email)
	if err := a.allow(ctx, acctKey, a.limits.LoginPerAccount); err != nil {
		if emailErr == nil && errors.Is(err, ErrRateLimited) {
			subject, _ = a.users.UserByEmail(ctx, email) // for the audit record only
		}
		return fail(EventLoginLocked, "account", err)
	}
	defer func() {
		if event == "" { // not judged: the store, the hasher or the request failed
			a.refund(ctx, acctKey, a.limits.LoginPerAccount, err)
		}
	}()
	if emailErr == nil {
		subject, err = a.users.UserByEmail(ctx, email)
		if err != nil && !errors.Is(err, ErrUserNotFound) {
			return fail("", "", err)
		}
	}
	if subject == nil {
		if err := a.hasher.VerifyDummy(ctx, r.Password); err != nil {
			return fail("", "", err)
		}
		return fail(EventLoginFailed, "unknown_user", ErrInvalidCredentials)
	}
	ok, rehash, err := a.hasher.Verify(ctx, r.Password, subject.PasswordHash)
	switch {
	case errors.Is(err, errMalformedHash):
		// Spend the work anyway: an unusable hash must not answer faster.
		if err := a.hasher.VerifyDummy(ctx, r.Password); err != nil {
			return fail("", "", err)
		}
		return fail(EventLoginFailed, "unusable_hash", ErrInvalidCredentials)
	case err != nil:
		return fail("", "", err)
	case !ok:
		return fail(EventLoginFailed, "bad_password", ErrInvalidCredentials)
	}
	if err := a.checkActive(ctx, subject); err != nil {
		return fail(loginFailure(err))
	}
	if a.limits.LoginPerAccount.enabled() {
		if err := a.limiter.Reset(ctx, acctKey); err != nil {
			return fail("", "", err)
		}
	}
	var newHash *string
	if rehash {
		if h, err := a.hasher.Hash(ctx, r.Password); err == nil {
			newHash = &h
		} else {
			a.log.WarnContext(ctx, "auth: password rehash skipped", "user", subject.ID, "error", err)
		}
	}
	now := a.now().UTC()
	s, rt, err := a.createSession(ctx, subject, r.Client, now)
	if err != nil {
		return fail("", "", err)
	}
	// Read the user again only now that the session exists. A password
	// reset or change, or a deactivation, that landed while the password
	// was being verified either shows here (the hash is no longer the one
	// verified, or the user is inactive), or ran its own session revocation
	// after this session was created and so ended it. The conditional
	// update also keeps a rehash of the old password from overwriting a new
	// one.
	verified := subject.PasswordHash
	u, err = a.users.UpdateUser(ctx, "", subject.ID, UserUpdate{LastLoginAt: &now, PasswordHash: newHash, IfPasswordHash: &verified, At: now})
	if err == nil {
		err = a.checkActive(ctx, u)
	}
	if err != nil {
		if rerr := a.endSession(ctx, s, now); rerr != nil {
			return fail("", "", rerr)
		}
		switch {
		case errors.Is(err, ErrConflict), errors.Is(err, ErrUserNotFound):
			return fail(EventLoginFailed, "changed_during_login", ErrInvalidCredentials)
		}
		return fail(loginFailure(err))
	}
	if pair, err = a.issue(u, s, a.now().UTC(), rt); err != nil {
		return fail("", "", err)
	}
	reason = ""
	if newHash != nil {
		reason = "password_rehashed"
	}
	return pair, u, u, EventLoginSucceeded, reason, nil
}

// loginFailure classifies an error of checkActive for the audit event.
func loginFailure(err error) (EventType, string, error) {
	switch {
	case errors.Is(err, ErrUserInactive):
		return EventLoginFailed, "inactive", err
	case errors.Is(err, ErrEmailNotVerified):
		return EventLoginFailed, "unverified", err
	}
	return "", "", err
}

// checkActive refuses inactive or unverified users and users of inactive tenants.
func (a *Authenticator) checkActive(ctx context.Context, u *User) error {
	if !u.Active {
		return ErrUserInactive
	}
	if a.requireVerified && !u.Verified {
		return ErrEmailNotVerified
	}
	t, err := a.tenants.Tenant(ctx, u.TenantID)
	if errors.Is(err, ErrTenantNotFound) || (err == nil && !t.Active) {
		return ErrUserInactive
	}
	return err
}

// createSession stores a new session of u and returns it with its refresh
// token. No access token exists for it yet.
func (a *Authenticator) createSession(ctx context.Context, u *User, client ClientInfo, now time.Time) (*Session, string, error) {
	rt, hash, err := newRefreshToken()
	if err != nil {
		return nil, "", err
	}
	s := &Session{
		ID: newID(), UserID: u.ID, TenantID: u.TenantID, RefreshHash: hash,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(a.sessionTTL),
		UserAgent: clientString(client.UserAgent, 512), IP: clientString(client.IP, 64),
	}
	s.IdleExpiresAt = minTime(now.Add(a.idleTTL), s.ExpiresAt)
	if err := a.sessions.CreateSession(ctx, s); err != nil {
		return nil, "", err
	}
	return s, rt, nil
}

// endSession revokes a session that never issued an access token.
func (a *Authenticator) endSession(ctx context.Context, s *Session, now time.Time) error {
	_, err := a.sessions.RevokeSessions(ctx, SessionRevocation{UserID: s.UserID, SessionID: s.ID, At: now})
	return err
}

// RefreshRequest is the input of Refresh.
type RefreshRequest struct {
	RefreshToken string
	Client       ClientInfo
}

// Refresh exchanges a refresh token for a new token pair and rotates it.
// The user is read again, so role changes apply and inactive users are
// refused (ErrUserInactive, and the session is revoked). A token that was
// already rotated is accepted within Config.RefreshGrace of its rotation
// (a new access token, no new refresh token); after that it is theft:
// the session and all its access tokens are revoked and ErrRefreshReused
// returned. So is any older token of the family, whatever its age: a
// thief who rotates twice cannot make the victim's token merely unknown. An unknown token is ErrInvalidToken; an expired or revoked
// session is ErrTokenExpired or ErrTokenRevoked.
func (a *Authenticator) Refresh(ctx context.Context, r RefreshRequest) (_ *TokenPair, err error) {
	ctx, end := a.span(ctx, "auth.Refresh")
	defer end(&err)
	ev := Event{IP: r.Client.IP, UserAgent: r.Client.UserAgent}
	if err := a.allowIP(ctx, "refresh", r.Client.IP, a.limits.RefreshPerIP); err != nil {
		ev.Type, ev.Reason = EventRateLimited, "refresh_ip"
		a.emit(ctx, ev)
		return nil, err
	}
	hash, ok := hashRefreshToken(r.RefreshToken)
	if !ok {
		ev.Type, ev.Reason = EventRefreshFailed, "malformed_token"
		a.emit(ctx, ev)
		return nil, invalidRefresh
	}
	for attempt := 0; ; attempt++ {
		s, err := a.sessions.SessionByRefreshHash(ctx, hash)
		if errors.Is(err, ErrSessionNotFound) {
			ev.Type, ev.Reason = EventRefreshFailed, "unknown_token"
			a.emit(ctx, ev)
			return nil, invalidRefresh
		}
		if err != nil {
			return nil, err
		}
		now := a.now().UTC()
		switch {
		case !s.RevokedAt.IsZero():
			ev.Type, ev.Reason, ev.UserID, ev.TenantID, ev.SessionID = EventRefreshFailed, "session_revoked", s.UserID, s.TenantID, s.ID
			a.emit(ctx, ev)
			return nil, ErrTokenRevoked
		case !s.Live(now):
			return nil, ErrTokenExpired
		}
		if subtle.ConstantTimeCompare(hash, s.RefreshHash) == 1 {
			u, err := a.sessionUser(ctx, s, now)
			if err != nil {
				return nil, err
			}
			rt, newHash, err := newRefreshToken()
			if err != nil {
				return nil, err
			}
			s, err = a.sessions.RotateSession(ctx, s.ID, Rotation{
				From: hash, To: newHash, At: now, IdleExpiresAt: minTime(now.Add(a.idleTTL), s.ExpiresAt),
			})
			if errors.Is(err, ErrConflict) && attempt == 0 {
				continue // lost a race with a concurrent refresh: now it is the previous token
			}
			if err != nil {
				return nil, err
			}
			ev.Type, ev.UserID, ev.TenantID, ev.SessionID = EventTokenRefreshed, u.ID, u.TenantID, s.ID
			pair, err := a.issue(u, s, now, rt)
			if err == nil {
				a.emit(ctx, ev)
			}
			return pair, err
		}
		// A token the family already replaced: the one just before the
		// current one may be a client's concurrent retry within the grace
		// window; anything else is reuse.
		ev.UserID, ev.TenantID, ev.SessionID = s.UserID, s.TenantID, s.ID
		previous := len(s.PreviousHash) > 0 && subtle.ConstantTimeCompare(hash, s.PreviousHash) == 1
		if previous && a.grace > 0 && now.Sub(s.RotatedAt) <= a.grace {
			u, err := a.sessionUser(ctx, s, now)
			if err != nil {
				return nil, err
			}
			ev.Type, ev.Reason = EventTokenRefreshed, "grace"
			pair, err := a.issue(u, s, now, "")
			if err == nil {
				a.emit(ctx, ev)
			}
			return pair, err
		}
		if err := a.revokeSessions(ctx, SessionRevocation{UserID: s.UserID, SessionID: s.ID, At: now}); err != nil {
			return nil, err
		}
		ev.Type = EventRefreshReused
		a.emit(ctx, ev)
		return nil, ErrRefreshReused
	}
}

var invalidRefresh = invalidToken("unknown refresh token")

// sessionUser loads the session's user and checks it may still be served,
// revoking the session if not.
func (a *Authenticator) sessionUser(ctx context.Context, s *Session, now time.Time) (*User, error) {
	u, err := a.users.User(ctx, s.UserID)
	if err == nil {
		err = a.checkActive(ctx, u)
	}
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, ErrUserNotFound), errors.Is(err, ErrUserInactive), errors.Is(err, ErrEmailNotVerified):
		if rerr := a.revokeSessions(ctx, SessionRevocation{UserID: s.UserID, SessionID: s.ID, At: now}); rerr != nil {
			return nil, rerr
		}
		if errors.Is(err, ErrUserNotFound) {
			return nil, invalidRefresh
		}
	}
	return nil, err
}

// revokeSessions ends the selected sessions and deny-lists their access tokens.
func (a *Authenticator) revokeSessions(ctx context.Context, r SessionRevocation) error {
	ids, err := a.sessions.RevokeSessions(ctx, r)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := a.revocations.Revoke(ctx, Revocation{Kind: RevokeSession, ID: id, At: r.At, ExpiresAt: a.revocationTTL(r.At)}); err != nil {
			return err
		}
	}
	return nil
}

// Logout ends the session that issued c: its refresh token stops working
// and its access tokens (including c's) are revoked. Logging out an
// already-ended session succeeds.
func (a *Authenticator) Logout(ctx context.Context, c *Claims) (err error) {
	ctx, end := a.span(ctx, "auth.Logout")
	defer end(&err)
	now := a.now().UTC()
	if err := a.revokeSessions(ctx, SessionRevocation{UserID: c.UserID, SessionID: c.SessionID, At: now}); err != nil {
		return err
	}
	// The session may already be gone from the store; deny-list it anyway.
	if err := a.revocations.Revoke(ctx, Revocation{Kind: RevokeSession, ID: c.SessionID, At: now, ExpiresAt: a.revocationTTL(now)}); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventLogout, UserID: c.UserID, TenantID: c.TenantID, SessionID: c.SessionID})
	return nil
}

// LogoutAll ends every session of the user and revokes every access token
// issued to them until now.
func (a *Authenticator) LogoutAll(ctx context.Context, userID string) (err error) {
	ctx, end := a.span(ctx, "auth.LogoutAll")
	defer end(&err)
	if err := a.cutoff(ctx, userID, true); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventLogoutAll, UserID: userID, TenantID: a.tenantOf(ctx, userID)})
	return nil
}

// cutoff revokes the user's access tokens issued until now and, with
// sessions set, every session.
func (a *Authenticator) cutoff(ctx context.Context, userID string, sessions bool) error {
	now := a.now().UTC()
	if sessions {
		if _, err := a.sessions.RevokeSessions(ctx, SessionRevocation{UserID: userID, At: now}); err != nil {
			return err
		}
	}
	return a.revocations.Revoke(ctx, Revocation{Kind: RevokeUser, ID: userID, At: now, ExpiresAt: a.revocationTTL(now)})
}

// RevokeToken deny-lists a single access token until it expires.
func (a *Authenticator) RevokeToken(ctx context.Context, c *Claims) (err error) {
	ctx, end := a.span(ctx, "auth.RevokeToken")
	defer end(&err)
	err = a.revocations.Revoke(ctx, Revocation{Kind: RevokeToken, ID: c.TokenID, At: a.now().UTC(), ExpiresAt: c.ExpiresAt.Add(a.rules.skew + time.Second)})
	if err == nil {
		a.emit(ctx, Event{Type: EventTokenRevoked, UserID: c.UserID, TenantID: c.TenantID, SessionID: c.SessionID})
	}
	return err
}

// tenantOf returns the tenant of a user for an audit record, or "".
func (a *Authenticator) tenantOf(ctx context.Context, userID string) string {
	if c, ok := ClaimsFromContext(ctx); ok && c.UserID == userID {
		return c.TenantID
	}
	if u, err := a.users.User(ctx, userID); err == nil {
		return u.TenantID
	}
	return ""
}

// Sessions returns the user's live sessions, newest first.
func (a *Authenticator) Sessions(ctx context.Context, userID string) ([]*Session, error) {
	return a.sessions.ListSessions(ctx, userID, a.now().UTC())
}

// RevokeSession ends one of the user's sessions and its access tokens.
// A session that is not the user's, or not live, is ErrSessionNotFound.
func (a *Authenticator) RevokeSession(ctx context.Context, userID, sessionID string) (err error) {
	ctx, end := a.span(ctx, "auth.RevokeSession")
	defer end(&err)
	if !ValidID(sessionID) {
		return ErrSessionNotFound
	}
	now := a.now().UTC()
	ids, err := a.sessions.RevokeSessions(ctx, SessionRevocation{UserID: userID, SessionID: sessionID, At: now})
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return ErrSessionNotFound
	}
	if err := a.revocations.Revoke(ctx, Revocation{Kind: RevokeSession, ID: sessionID, At: now, ExpiresAt: a.revocationTTL(now)}); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventSessionRevoked, UserID: userID, TenantID: a.tenantOf(ctx, userID), SessionID: sessionID})
	return nil
}

// RevokeOtherSessions ends every session of the user except keepSessionID
// ("sign out other devices").
func (a *Authenticator) RevokeOtherSessions(ctx context.Context, userID, keepSessionID string) (err error) {
	ctx, end := a.span(ctx, "auth.RevokeOtherSessions")
	defer end(&err)
	if err := a.revokeSessions(ctx, SessionRevocation{UserID: userID, ExceptID: keepSessionID, At: a.now().UTC()}); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventSessionRevoked, UserID: userID, TenantID: a.tenantOf(ctx, userID), SessionID: keepSessionID, Reason: "all_others"})
	return nil
}

// CurrentUser returns the user an access token was issued to. It reads the
// user store; ErrUserNotFound if the user was deleted.
func (a *Authenticator) CurrentUser(ctx context.Context, c *Claims) (*User, error) {
	u, err := a.users.User(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	if u.TenantID != c.TenantID {
		return nil, ErrUserNotFound
	}
	return u, nil
}

// User returns a user of the tenant; a user of another tenant is ErrUserNotFound.
func (a *Authenticator) User(ctx context.Context, tenantID, userID string) (*User, error) {
	if !ValidID(userID) {
		return nil, ErrUserNotFound
	}
	u, err := a.users.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.TenantID != tenantID {
		return nil, ErrUserNotFound
	}
	return u, nil
}

// ListUsers returns a page of the tenant's users ordered by ID, and the
// cursor for the next page (empty on the last page).
func (a *Authenticator) ListUsers(ctx context.Context, q UserQuery) ([]*User, string, error) {
	if q.TenantID == "" {
		return nil, "", ErrTenantNotFound
	}
	switch {
	case q.Limit == 0:
		q.Limit = 20
	case q.Limit < 0 || q.Limit > 100:
		return nil, "", ErrInvalidInput
	}
	if q.After != "" && !ValidID(q.After) {
		return nil, "", ErrInvalidInput
	}
	if q.Role != "" && !slices.Contains(a.roles, q.Role) {
		return nil, "", ErrInvalidRole
	}
	limit := q.Limit
	q.Limit++ // one more tells whether there is a next page
	users, err := a.users.ListUsers(ctx, q)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = users[limit-1].ID
	}
	return users, next, nil
}

// AdminUpdate is what an administrator may change about a user.
type AdminUpdate struct {
	Role     *Role
	Active   *bool
	Verified *bool
}

// UpdateUser applies an administrator's change to a user of the tenant. A
// role change or deactivation takes effect at once: the user's existing
// access tokens are revoked (deactivation also ends every session), and the
// next refresh carries the new role. Errors: ErrUserNotFound (also for a
// user of another tenant), ErrInvalidRole.
func (a *Authenticator) UpdateUser(ctx context.Context, tenantID, userID string, upd AdminUpdate) (_ *User, err error) {
	ctx, end := a.span(ctx, "auth.UpdateUser")
	defer end(&err)
	if !ValidID(userID) || tenantID == "" {
		return nil, ErrUserNotFound
	}
	if upd.Role != nil && !slices.Contains(a.roles, *upd.Role) {
		return nil, ErrInvalidRole
	}
	before, err := a.User(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	now := a.now().UTC()
	u, err := a.users.UpdateUser(ctx, tenantID, userID, UserUpdate{Role: upd.Role, Active: upd.Active, Verified: upd.Verified, At: now})
	if err != nil {
		return nil, err
	}
	roleChanged := u.Role != before.Role
	deactivated := before.Active && !u.Active
	if roleChanged || deactivated {
		if err := a.cutoff(ctx, userID, deactivated); err != nil {
			return nil, err
		}
	}
	ev := Event{UserID: userID, TenantID: tenantID}
	if roleChanged {
		ev.Type, ev.Reason = EventRoleChanged, string(before.Role)+"->"+string(u.Role)
		a.emit(ctx, ev)
	}
	if before.Active != u.Active {
		ev.Type, ev.Reason = EventActivationChanged, map[bool]string{true: "activated", false: "deactivated"}[u.Active]
		a.emit(ctx, ev)
	}
	if !before.Verified && u.Verified {
		ev.Type, ev.Reason = EventEmailVerified, "administrator"
		a.emit(ctx, ev)
	}
	return u, nil
}

// EnsureDefaultTenant creates the default tenant (DefaultTenantID,
// DefaultTenantSlug) if it does not exist, and returns it. Migrations
// create it for SQL stores; call this once at start-up otherwise.
func (a *Authenticator) EnsureDefaultTenant(ctx context.Context) (_ *Tenant, err error) {
	ctx, end := a.span(ctx, "auth.EnsureDefaultTenant")
	defer end(&err)
	t, err := a.tenants.Tenant(ctx, DefaultTenantID)
	if err == nil || !errors.Is(err, ErrTenantNotFound) {
		return t, err
	}
	now := a.now().UTC()
	t = &Tenant{ID: DefaultTenantID, Name: "Default", Slug: DefaultTenantSlug, Active: true, CreatedAt: now, UpdatedAt: now}
	if err := a.tenants.CreateTenant(ctx, t); err != nil && !errors.Is(err, ErrTenantTaken) {
		return nil, err
	}
	return a.tenants.Tenant(ctx, DefaultTenantID)
}

// CreateTenant creates an active tenant. The slug must be 1 to 63 lower-case
// letters, digits and hyphens. Errors: ErrInvalidInput, ErrTenantTaken.
func (a *Authenticator) CreateTenant(ctx context.Context, name, slug string) (_ *Tenant, err error) {
	ctx, end := a.span(ctx, "auth.CreateTenant")
	defer end(&err)
	name, err = validateName(name)
	if err != nil || name == "" || !validSlug(slug) {
		return nil, ErrInvalidInput
	}
	now := a.now().UTC()
	t := &Tenant{ID: newID(), Name: name, Slug: slug, Active: true, CreatedAt: now, UpdatedAt: now}
	if err := a.tenants.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

func validSlug(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// clientString makes client-supplied text safe to store: valid UTF-8,
// no control characters, at most n bytes.
func clientString(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") // drops a rune cut in half
	}
	return s
}
