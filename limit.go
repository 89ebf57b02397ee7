package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/maestro-ml/auth/internal/ratelimit"
)

// Limit allows Burst attempts at once, replenished at Burst per Period (the
// generic cell rate algorithm): {Burst: 5, Period: 15 * time.Minute} allows
// five attempts, then one every three minutes.
type Limit struct {
	Burst  int
	Period time.Duration
}

func (l Limit) enabled() bool { return l.Burst > 0 && l.Period > 0 }

// Limiter counts attempts. Implementations must make Allow one atomic step
// (check and count together), so concurrent attempts cannot slip past a
// limit: memstore and redisstore (a Lua script) do.
type Limiter interface {
	// Allow counts one attempt against key under l and reports whether it
	// is allowed; if not, retryAfter is how long until one would be. An
	// unreachable limiter yields an error wrapping ErrUnavailable.
	Allow(ctx context.Context, key string, l Limit) (ok bool, retryAfter time.Duration, err error)
	// Refund gives back one attempt that Allow counted against key under
	// l, for an attempt that was never judged (a store was unavailable,
	// the request was cancelled): an outage must not lock anyone out. It
	// never grants more than an unused key has; a missing key is a no-op.
	Refund(ctx context.Context, key string, l Limit) error
	// Reset forgets key: a successful login, or an administrator's unlock.
	Reset(ctx context.Context, key string) error
}

// Limits are the rate limits the Authenticator applies (OWASP ASVS 5.0
// V6.3, NIST SP 800-63B §5.2.2). A zero field takes the default given; a
// negative Burst turns that limit off. Per-IP limits apply only when the
// caller passes ClientInfo.IP; IPv6 addresses are grouped by /64.
type Limits struct {
	// LoginPerIP: zero: 20 per minute.
	LoginPerIP Limit
	// LoginPerAccount limits attempts on one email address, known or not,
	// whatever the password, and is reset by a successful login: this is
	// the account lockout. Only judged attempts count: one that fails
	// because a store is unavailable or the request is cancelled is
	// refunded, so an outage locks nobody out. Zero: 5 per 15 minutes (5 attempts, then one
	// every 3 minutes: at most 25 failures an hour, well under NIST's 100).
	LoginPerAccount Limit
	// RegisterPerIP: zero: 10 per hour.
	RegisterPerIP Limit
	// RefreshPerIP: zero: 120 per minute.
	RefreshPerIP Limit
	// ResetPerIP limits password-reset and verification e-mail requests
	// per client. Zero: 10 per hour.
	ResetPerIP Limit
	// ResetPerAccount limits those requests per email address. Zero: 3 per hour.
	ResetPerAccount Limit
	// MFAPerAccount limits second-factor attempts (codes at login and at
	// step-up) per user, with the rules of LoginPerAccount: it is the
	// second factor's lockout, reset by a success, and only judged
	// attempts count. Zero: 5 per 15 minutes.
	MFAPerAccount Limit
	// MFAPerTicket limits attempts with one MFA ticket; past it the ticket
	// is spent and the login starts over. Zero: 3 per 5 minutes.
	MFAPerTicket Limit
}

// validate reports the first Limit, in field order, that is neither zero
// (default), off (negative Burst) nor complete: a half-set limit must not
// silently turn a limit off.
func (l Limits) validate() error {
	for _, f := range []struct {
		name string
		v    Limit
	}{
		{"LoginPerIP", l.LoginPerIP}, {"LoginPerAccount", l.LoginPerAccount}, {"RegisterPerIP", l.RegisterPerIP},
		{"RefreshPerIP", l.RefreshPerIP}, {"ResetPerIP", l.ResetPerIP}, {"ResetPerAccount", l.ResetPerAccount},
		{"MFAPerAccount", l.MFAPerAccount}, {"MFAPerTicket", l.MFAPerTicket},
	} {
		name, v := f.name, f.v
		if v == (Limit{}) || v.Burst < 0 {
			continue
		}
		if v.Burst == 0 || v.Period < time.Millisecond*time.Duration(v.Burst) {
			return fmt.Errorf("auth: Config.Limits.%s needs a positive Burst and a Period of at least a millisecond per attempt (a negative Burst turns it off)", name)
		}
	}
	return nil
}

// DefaultLimits returns the limits a zero Limits stands for: each field
// set to the default its comment gives.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

func (l Limits) withDefaults() Limits {
	def := func(v *Limit, burst int, period time.Duration) {
		if *v == (Limit{}) {
			*v = Limit{Burst: burst, Period: period}
		}
	}
	def(&l.LoginPerIP, 20, time.Minute)
	def(&l.LoginPerAccount, 5, 15*time.Minute)
	def(&l.RegisterPerIP, 10, time.Hour)
	def(&l.RefreshPerIP, 120, time.Minute)
	def(&l.ResetPerIP, 10, time.Hour)
	def(&l.ResetPerAccount, 3, time.Hour)
	def(&l.MFAPerAccount, 5, 15*time.Minute)
	def(&l.MFAPerTicket, 3, 5*time.Minute)
	return l
}

// localLimiter is the default Limiter: in this process only. Deployments
// with several instances should share one (redisstore.Limiter).
type localLimiter struct{ t *ratelimit.Table }

func (l localLimiter) Allow(ctx context.Context, key string, lim Limit) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	ok, retry := l.t.Allow(key, lim.Burst, lim.Period)
	return ok, retry, nil
}

func (l localLimiter) Refund(ctx context.Context, key string, lim Limit) error {
	l.t.Refund(key, lim.Burst, lim.Period)
	return nil
}

func (l localLimiter) Reset(ctx context.Context, key string) error {
	l.t.Reset(key)
	return ctx.Err()
}

// limitKeyIP returns the part of a limiter key naming a client address:
// the address itself for IPv4, its /64 for IPv6, "" for an empty string
// (no per-IP limit applies), and "invalid" for anything else, so that
// unparsable addresses share one bucket rather than escape the limit.
func limitKeyIP(ip string) string {
	ip = strings.TrimSpace(ip)
	if ip == "" {
		return ""
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "invalid"
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// limitAccount returns the key part for an account identifier: the
// normalised email, or a bounded lower-case form of invalid input so that
// garbage cannot sidestep the limit or bloat keys.
func limitAccount(email string) string {
	if e, err := NormalizeEmail(email); err == nil {
		return e
	}
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) > MaxEmailBytes {
		e = e[:MaxEmailBytes]
	}
	return strings.ToValidUTF8(e, "")
}

// allow checks one limit; a refusal is a *RateLimitError.
func (a *Authenticator) allow(ctx context.Context, key string, l Limit) error {
	if !l.enabled() {
		return nil
	}
	ok, retry, err := a.cfg.Limiter.Allow(ctx, key, l)
	if err != nil {
		// The limiter may have counted the attempt before it failed (a
		// reply lost to a deadline on a slow link): the attempt was not
		// judged, so give it back. Had it not counted, the refund gives
		// back an earlier attempt of the key, never more than it used.
		a.refund(ctx, key, l, err)
		return err
	}
	if !ok {
		return &RateLimitError{RetryAfter: max(retry, time.Second)}
	}
	return nil
}

// refundTimeout bounds a refund, which runs even when the request's
// context is done (a cancelled attempt is one to give back).
const refundTimeout = 2 * time.Second

// refund gives back the attempt counted against key when err says the
// attempt was not judged: it failed because a store was unavailable, the
// request was cancelled or timed out, or another internal error. A refund
// that fails is logged; the attempt then stays counted.
func (a *Authenticator) refund(ctx context.Context, key string, l Limit, err error) {
	if err == nil || judged(err) || !l.enabled() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refundTimeout)
	defer cancel()
	if rerr := a.cfg.Limiter.Refund(ctx, key, l); rerr != nil {
		a.cfg.Logger.WarnContext(ctx, "auth: rate limit refund failed", "error", rerr)
	}
}

// judged reports whether err is a verdict on the attempt itself (wrong
// credentials, an inactive account, a taken address, a refusal by a
// limit) rather than a failure to reach one.
func judged(err error) bool {
	for _, j := range []error{
		ErrInvalidCredentials, ErrUserInactive, ErrEmailNotVerified, ErrEmailTaken, ErrInvalidEmail,
		ErrInvalidInput, ErrUserNotFound, ErrTenantNotFound, ErrInvalidToken, ErrRateLimited, ErrPasswordPolicy,
	} {
		if errors.Is(err, j) {
			return true
		}
	}
	return false
}

// allowIP checks a per-client limit when the client's address is known.
func (a *Authenticator) allowIP(ctx context.Context, action, ip string, l Limit) error {
	k := limitKeyIP(ip)
	if k == "" {
		return nil
	}
	return a.allow(ctx, action+":ip:"+k, l)
}

// Unlock clears the login attempt counter of an email address, lifting a
// lockout before it expires. It is not tenant-scoped: an administrator's
// handler first reads the user with User(ctx, tenantID, id), as the
// middleware's unlock endpoint does, and unlocks that user's address.
func (a *Authenticator) Unlock(ctx context.Context, email string) (err error) {
	ctx, end := a.span(ctx, "auth.Unlock")
	defer end(&err)
	if err := a.cfg.Limiter.Reset(ctx, "login:acct:"+limitAccount(email)); err != nil {
		return err
	}
	ev := Event{Type: EventUnlocked}
	if e, err := NormalizeEmail(email); err == nil {
		if u, err := a.cfg.Users.UserByEmail(ctx, e); err == nil {
			ev.UserID, ev.TenantID = u.ID, u.TenantID
		}
	}
	a.emit(ctx, ev)
	return nil
}
