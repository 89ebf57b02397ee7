// Package totp is a second factor for package auth: time-based one-time
// passwords (RFC 6238, as every standard authenticator app computes them)
// and single-use recovery codes.
//
// A *TOTP goes into auth.Config.SecondFactors; auth.New attaches it to its
// Authenticator. Users enrol with Enroll (a secret, an otpauth:// URI and a
// QR code to scan) and Confirm (the first code proves the app holds the
// secret; the recovery codes are shown once). From then on Login answers
// with an *auth.MFARequiredError and LoginMFA takes a TOTP code or a
// recovery code. A user the MFA policy requires to have a second factor
// but who has none enrols from the ticket: EnrollTicket, then ConfirmLogin
// finishes the login.
//
// # Codes
//
// A TOTP code is accepted within Config.Skew time steps either side of
// now, and at most once: the store records the last step used, and a code
// of that step or an earlier one is refused (RFC 6238 §5.2), also when two
// requests present the same code at once. Codes are computed with
// github.com/pquerna/otp and compared in constant time.
//
// Recovery codes are 80 random bits, shown as "xxxx-xxxx-xxxx-xxxx"
// (lower-case base32; case, dashes and spaces are ignored when typed), and
// stored only as SHA-256(userID + code). Each works once.
//
// # Secrets at rest and key rotation
//
// Secrets are sealed with AES-256-GCM under Config.Keys[0], with a random
// nonce and the user's ID and the key ID as additional data, so a sealed
// secret copied to another user's row does not open. Every key of
// Config.Keys opens the secrets it sealed. To rotate, put the new key
// first and keep the old ones after it: each secret sealed under an older
// key is re-sealed under Keys[0] the next time its user signs in with a
// TOTP code, in the same atomic store operation that records the code's
// step. Once no stored secret names an old key (the stores keep the key ID
// in a column of its own: count them), drop it from Config.Keys. A secret
// whose key was dropped cannot be opened: VerifyCode returns ErrSealed and
// the user needs an administrator's reset (auth.ResetSecondFactors).
package totp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/internal/errs"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// PendingTTL is how long an enrolment may wait for its first code; an
// older pending secret is refused (ErrNoPendingEnrollment), so an abandoned
// enrolment cannot be confirmed by guessing later.
const PendingTTL = 15 * time.Minute

// Name is the factor's name in auth (SecondFactor.Name, Proof.Factor).
const Name = "totp"

// Errors of the flows besides the store sentinels.
var (
	// ErrNotEnrolled: the user has no confirmed TOTP secret. It wraps
	// auth.ErrFactorNotEnrolled.
	ErrNotEnrolled = errs.Kind(auth.ErrFactorNotEnrolled, "totp: not enrolled")
	// ErrNoPendingEnrollment: Confirm was called without Enroll before it
	// (or the pending secret was removed). It wraps
	// auth.ErrFactorNotEnrolled.
	ErrNoPendingEnrollment = errs.Kind(auth.ErrFactorNotEnrolled, "totp: no pending enrolment")
	// ErrEnrollNotAllowed: the MFA ticket does not allow enrolling a factor
	// (the user already has one, which the login must use, or the policy
	// does not require one). It wraps auth.ErrMFARequired.
	ErrEnrollNotAllowed = errs.Kind(auth.ErrMFARequired, "totp: the ticket does not allow enrolment")
)

// Config configures a TOTP factor.
type Config struct {
	// Store keeps the sealed secrets. Required.
	Store Store
	// Recovery keeps the recovery codes. Default: Store, if it is also a
	// RecoveryStore (memstore and bunstore are both).
	Recovery RecoveryStore
	// Keys seal the secrets: Keys[0] seals new ones, every key opens those
	// it sealed (see the package documentation on rotation). Required.
	Keys []Key
	// Issuer names the service in authenticator apps ("Example Corp").
	// Required; it cannot contain ':'.
	Issuer string
	// Period is a code's time step, in whole seconds from 1s to 5 minutes.
	// Default: 30s (what authenticator apps assume).
	Period time.Duration
	// Digits is a code's length, 6 to 8. Default: 6.
	Digits otp.Digits
	// Algorithm is the HMAC hash: SHA1 (the default, and the only one many
	// apps support), SHA256 or SHA512.
	Algorithm otp.Algorithm
	// Skew is how many steps before and after now a code is accepted, at
	// most 3. Default (and zero): 1.
	Skew uint
	// RecoveryCodes is how many recovery codes a user gets, 1 to 50.
	// Default: 10.
	RecoveryCodes int
	// RecentAuth is how recently the user must have authenticated for
	// Disable and RegenerateRecoveryCodes (auth.RequireRecentAuth).
	// Default: 10 minutes.
	RecentAuth time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// TOTP is the factor. It implements auth.CodeFactor and auth.Attacher; it
// is safe for concurrent use.
type TOTP struct {
	cfg  Config
	rec  RecoveryStore
	keys *keyring
	a    atomic.Pointer[auth.Authenticator]
}

var (
	_ auth.CodeFactor = (*TOTP)(nil)
	_ auth.Attacher   = (*TOTP)(nil)
)

// New checks cfg, fills in its defaults and returns the factor.
func New(cfg Config) (*TOTP, error) {
	if cfg.Store == nil {
		return nil, errors.New("totp: Config.Store is required")
	}
	rec := cfg.Recovery
	if rec == nil {
		r, ok := cfg.Store.(RecoveryStore)
		if !ok {
			return nil, errors.New("totp: Config.Recovery is required (Config.Store is not a RecoveryStore)")
		}
		rec = r
	}
	kr, err := newKeyring(cfg.Keys)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.TrimSpace(cfg.Issuer) == "":
		return nil, errors.New("totp: Config.Issuer is required")
	case strings.ContainsAny(cfg.Issuer, ":\x00") || len(cfg.Issuer) > 100:
		return nil, errors.New("totp: Config.Issuer must be at most 100 bytes, without ':'")
	}
	if cfg.Period == 0 {
		cfg.Period = 30 * time.Second
	}
	if cfg.Period < time.Second || cfg.Period > 5*time.Minute || cfg.Period%time.Second != 0 {
		return nil, errors.New("totp: Config.Period must be whole seconds from 1s to 5m")
	}
	if cfg.Digits == 0 {
		cfg.Digits = otp.DigitsSix
	}
	if cfg.Digits < 6 || cfg.Digits > 8 {
		return nil, errors.New("totp: Config.Digits must be 6, 7 or 8")
	}
	switch cfg.Algorithm {
	case otp.AlgorithmSHA1, otp.AlgorithmSHA256, otp.AlgorithmSHA512:
	default:
		return nil, errors.New("totp: Config.Algorithm must be SHA1, SHA256 or SHA512")
	}
	if cfg.Skew == 0 {
		cfg.Skew = 1
	}
	if cfg.Skew > 3 {
		return nil, errors.New("totp: Config.Skew must be at most 3 steps")
	}
	if cfg.RecoveryCodes == 0 {
		cfg.RecoveryCodes = 10
	}
	if cfg.RecoveryCodes < 1 || cfg.RecoveryCodes > 50 {
		return nil, errors.New("totp: Config.RecoveryCodes must be 1 to 50")
	}
	if cfg.RecentAuth == 0 {
		cfg.RecentAuth = 10 * time.Minute
	}
	if cfg.RecentAuth < 0 {
		return nil, errors.New("totp: Config.RecentAuth must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Keys = nil // the keyring holds them
	return &TOTP{cfg: cfg, rec: rec, keys: kr}, nil
}

// Name implements auth.SecondFactor: "totp".
func (t *TOTP) Name() string { return Name }

// Attach implements auth.Attacher. A TOTP serves one Authenticator:
// attaching it to a second one fails.
func (t *TOTP) Attach(a *auth.Authenticator) error {
	if a == nil {
		return errors.New("totp: Attach(nil)")
	}
	if t.a.CompareAndSwap(nil, a) || t.a.Load() == a {
		return nil
	}
	return errors.New("totp: already attached to another Authenticator")
}

func (t *TOTP) authenticator() (*auth.Authenticator, error) {
	a := t.a.Load()
	if a == nil {
		return nil, fmt.Errorf("%w: the TOTP factor is not in the Config.SecondFactors of an Authenticator", auth.ErrNotConfigured)
	}
	return a, nil
}

// Enrolled implements auth.SecondFactor: whether the user has a confirmed
// secret.
func (t *TOTP) Enrolled(ctx context.Context, userID string) (bool, error) {
	s, err := t.cfg.Store.TOTPSecret(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.Confirmed, nil
}

// Reset implements auth.SecondFactor: it removes the user's secret,
// pending or confirmed, and recovery codes.
func (t *TOTP) Reset(ctx context.Context, userID string) error {
	if err := t.cfg.Store.DeleteTOTPSecret(ctx, userID); err != nil {
		return err
	}
	return t.rec.DeleteRecoveryCodes(ctx, userID)
}

// step returns the time step of tm.
func (t *TOTP) step(tm time.Time) int64 { return tm.Unix() / int64(t.cfg.Period/time.Second) }

// codeAt computes the code of secret for step with pquerna/otp.
func (t *TOTP) codeAt(secret []byte, step int64) (string, error) {
	return hotp.GenerateCodeCustom(b32.EncodeToString(secret), uint64(step), hotp.ValidateOpts{
		Digits: t.cfg.Digits, Algorithm: t.cfg.Algorithm,
	})
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// matchStep returns the step within the window around now whose code is
// code, comparing every step's code in constant time; the latest one if
// several match. ok is false if none does.
func (t *TOTP) matchStep(secret []byte, code string, now time.Time) (step int64, ok bool, err error) {
	c := t.step(now)
	skew := int64(t.cfg.Skew)
	for s := c - skew; s <= c+skew; s++ {
		if s < 0 {
			continue
		}
		want, err := t.codeAt(secret, s)
		if err != nil {
			return 0, false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step, ok = s, true
		}
	}
	return step, ok, nil
}

// parseTOTPCode returns code without spaces if it is digits of the
// configured length.
func (t *TOTP) parseTOTPCode(code string) (string, bool) {
	if len(code) > 64 {
		return "", false
	}
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != int(t.cfg.Digits) {
		return "", false
	}
	for _, c := range []byte(code) {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return code, true
}

// VerifyCode implements auth.CodeFactor: it accepts a TOTP code of the
// user's confirmed secret that was not used before (nor a later one), or
// one of the user's recovery codes, which it uses up. A wrong, reused or
// malformed code, or a user without a confirmed secret, is an error
// wrapping auth.ErrInvalidCode; a store failure is returned as it is, and
// a secret that cannot be opened is ErrSealed.
func (t *TOTP) VerifyCode(ctx context.Context, u *auth.User, code string) (auth.Proof, error) {
	if u == nil || !auth.ValidID(u.ID) {
		return auth.Proof{}, auth.ErrInvalidCode
	}
	sec, err := t.cfg.Store.TOTPSecret(ctx, u.ID)
	if errors.Is(err, ErrNotFound) {
		return auth.Proof{}, auth.ErrInvalidCode
	}
	if err != nil {
		return auth.Proof{}, err
	}
	if !sec.Confirmed {
		return auth.Proof{}, auth.ErrInvalidCode
	}
	if c, ok := t.parseTOTPCode(code); ok {
		return t.verifyTOTP(ctx, sec, c)
	}
	if c, ok := normalizeRecoveryCode(code); ok {
		err := t.rec.UseRecoveryCode(ctx, u.ID, recoveryHash(u.ID, c))
		if errors.Is(err, ErrNotFound) {
			return auth.Proof{}, auth.ErrInvalidCode
		}
		if err != nil {
			return auth.Proof{}, err
		}
		return auth.Proof{UserID: u.ID, Methods: []auth.Method{auth.MethodOTP}, Factor: auth.FactorRecoveryCode}, nil
	}
	return auth.Proof{}, auth.ErrInvalidCode
}

func (t *TOTP) verifyTOTP(ctx context.Context, sec *Secret, code string) (auth.Proof, error) {
	secret, err := t.keys.open(sec.UserID, sec.KeyID, sec.Sealed)
	if err != nil {
		return auth.Proof{}, err
	}
	defer clear(secret)
	step, ok, err := t.matchStep(secret, code, t.cfg.Now())
	if err != nil {
		return auth.Proof{}, err
	}
	if !ok || step <= sec.LastStep {
		return auth.Proof{}, auth.ErrInvalidCode
	}
	use := StepUse{UserID: sec.UserID, Sealed: sec.Sealed, Step: step}
	if sec.KeyID != t.keys.current {
		if use.KeyID, use.Resealed, err = t.keys.seal(sec.UserID, secret); err != nil {
			return auth.Proof{}, err
		}
	}
	err = t.cfg.Store.UseTOTPStep(ctx, use)
	if errors.Is(err, ErrStepUsed) {
		return auth.Proof{}, auth.ErrInvalidCode // another request used this step (or a later one) first
	}
	if err != nil {
		return auth.Proof{}, err
	}
	return auth.Proof{UserID: sec.UserID, Methods: []auth.Method{auth.MethodOTP}, Factor: Name}, nil
}

// Enrollment is what a user needs to add the secret to an authenticator
// app. Show it once, over TLS, and do not log or store it: the Store holds
// the secret, sealed.
type Enrollment struct {
	// Secret is the secret in base32 without padding, for typing it in.
	Secret string
	// URI is the otpauth://totp/Issuer:email?... key URI.
	URI string
	// QRPNG is the URI as a 256x256 PNG QR code.
	QRPNG []byte
}

// Enroll starts an enrolment for u: a new secret, stored pending until
// Confirm, replacing an earlier pending one. It refuses with
// ErrAlreadyEnrolled if u has a confirmed secret.
func (t *TOTP) Enroll(ctx context.Context, u *auth.User) (*Enrollment, error) {
	if _, err := t.authenticator(); err != nil {
		return nil, err
	}
	if u == nil || !auth.ValidID(u.ID) || u.Email == "" {
		return nil, fmt.Errorf("%w: Enroll needs a stored user", auth.ErrInvalidInput)
	}
	if ok, err := t.Enrolled(ctx, u.ID); err != nil {
		return nil, err
	} else if ok {
		return nil, ErrAlreadyEnrolled
	}
	size := uint(20)
	switch t.cfg.Algorithm {
	case otp.AlgorithmSHA256:
		size = 32
	case otp.AlgorithmSHA512:
		size = 64
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: t.cfg.Issuer, AccountName: u.Email, Period: uint(t.cfg.Period / time.Second),
		SecretSize: size, Digits: t.cfg.Digits, Algorithm: t.cfg.Algorithm, Rand: rand.Reader,
	})
	if err != nil {
		return nil, fmt.Errorf("totp: generating a secret: %w", err)
	}
	secret, err := b32.DecodeString(key.Secret())
	if err != nil {
		return nil, errors.New("totp: generated secret is not base32")
	}
	defer clear(secret)
	keyID, sealed, err := t.keys.seal(u.ID, secret)
	if err != nil {
		return nil, err
	}
	now := t.cfg.Now().UTC()
	if err := t.cfg.Store.PutPendingTOTPSecret(ctx, &Secret{UserID: u.ID, KeyID: keyID, Sealed: sealed, CreatedAt: now}); err != nil {
		return nil, err
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return nil, fmt.Errorf("totp: drawing the QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encoding the QR code: %w", err)
	}
	return &Enrollment{Secret: key.Secret(), URI: key.URL(), QRPNG: buf.Bytes()}, nil
}

// Confirmation is the result of a confirmed enrolment.
type Confirmation struct {
	// Proof is what the first code proved (for auth.StepUp or a login).
	Proof auth.Proof
	// RecoveryCodes are shown to the user once; only their hashes are
	// stored.
	RecoveryCodes []string
}

// Confirm finishes u's enrolment with the first code of the pending
// secret (at most PendingTTL old). It counts no attempts and ends no
// session: for a signed-in user use ConfirmCaller, and at login
// ConfirmLogin, which do both. On success the secret is confirmed (that code's step is recorded, so it
// cannot be used again), a new set of recovery codes replaces any old one,
// and auth.EventMFAEnrolled is recorded. A wrong code is auth.ErrInvalidCode
// (the secret stays pending); no pending secret is ErrNoPendingEnrollment;
// a confirmed one, ErrAlreadyEnrolled. If storing the recovery codes fails
// after the secret was confirmed, the error is returned and the user is
// enrolled without codes: RegenerateRecoveryCodes gives them a set.
func (t *TOTP) Confirm(ctx context.Context, u *auth.User, code string) (*Confirmation, error) {
	a, err := t.authenticator()
	if err != nil {
		return nil, err
	}
	if u == nil || !auth.ValidID(u.ID) {
		return nil, fmt.Errorf("%w: Confirm needs a stored user", auth.ErrInvalidInput)
	}
	sec, err := t.cfg.Store.TOTPSecret(ctx, u.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNoPendingEnrollment
	}
	if err != nil {
		return nil, err
	}
	if sec.Confirmed {
		return nil, ErrAlreadyEnrolled
	}
	if t.cfg.Now().Sub(sec.CreatedAt) > PendingTTL {
		return nil, ErrNoPendingEnrollment // abandoned: enrol anew
	}
	c, ok := t.parseTOTPCode(code)
	if !ok {
		return nil, auth.ErrInvalidCode
	}
	secret, err := t.keys.open(u.ID, sec.KeyID, sec.Sealed)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	now := t.cfg.Now().UTC()
	step, ok, err := t.matchStep(secret, c, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, auth.ErrInvalidCode
	}
	err = t.cfg.Store.ConfirmTOTPSecret(ctx, u.ID, sec.Sealed, step, now)
	if errors.Is(err, ErrNotFound) {
		return nil, auth.ErrInvalidCode // a concurrent Confirm or Enroll came first
	}
	if err != nil {
		return nil, err
	}
	codes, err := t.newRecoveryCodes(ctx, u.ID, now)
	if err != nil {
		return nil, err
	}
	a.Emit(ctx, auth.Event{Type: auth.EventMFAEnrolled, UserID: u.ID, TenantID: u.TenantID, Reason: Name})
	return &Confirmation{
		Proof:         auth.Proof{UserID: u.ID, Methods: []auth.Method{auth.MethodOTP}, Factor: Name},
		RecoveryCodes: codes,
	}, nil
}

// EnrollTicket starts an enrolment from the ticket of an
// *auth.MFARequiredError whose Enroll is set (the policy requires a second
// factor and the user has none); ConfirmLogin then finishes the login.
// Any other ticket is refused with ErrEnrollNotAllowed; an unknown, used or
// expired one is auth.ErrInvalidToken.
func (t *TOTP) EnrollTicket(ctx context.Context, ticket string) (*Enrollment, *auth.User, error) {
	a, err := t.authenticator()
	if err != nil {
		return nil, nil, err
	}
	mt, err := a.MFATicket(ctx, ticket)
	if err != nil {
		return nil, nil, err
	}
	if !mt.Enroll {
		return nil, nil, ErrEnrollNotAllowed
	}
	e, err := t.Enroll(ctx, mt.User)
	if err != nil {
		return nil, nil, err
	}
	return e, mt.User, nil
}

// ConfirmLogin confirms the enrolment begun by EnrollTicket with its first
// code and finishes the login of the ticket (auth.Authenticator.EnrollMFA):
// it returns the session's token pair, whose amr has "otp" and "mfa", the
// user, and the recovery codes to show once. The ticket's limits apply; a
// wrong code is auth.ErrInvalidCode.
func (t *TOTP) ConfirmLogin(ctx context.Context, ticket, code string, client auth.ClientInfo) (*auth.TokenPair, *auth.User, *Confirmation, error) {
	a, err := t.authenticator()
	if err != nil {
		return nil, nil, nil, err
	}
	var conf *Confirmation
	pair, u, err := a.EnrollMFA(ctx, ticket, client, func(ctx context.Context, u *auth.User) (auth.Proof, error) {
		c, err := t.Confirm(ctx, u, code)
		if err != nil {
			return auth.Proof{}, err
		}
		conf = c
		return c.Proof, nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	// Sessions opened with the password alone before the policy applied
	// end with the enrolment.
	if err := a.RevokeOtherSessions(ctx, u.ID, pair.SessionID); err != nil {
		return pair, u, conf, err
	}
	return pair, u, conf, nil
}

// EnrollCaller is Enroll for the user of c, who must have authenticated
// within Config.RecentAuth (else the *auth.InsufficientAuthError of
// auth.RequireRecentAuth): a stolen access token alone cannot put the
// thief's authenticator on the account.
func (t *TOTP) EnrollCaller(ctx context.Context, c *auth.Claims) (*Enrollment, error) {
	a, err := t.fresh(ctx, c)
	if err != nil {
		return nil, err
	}
	u, err := a.CurrentUser(ctx, c)
	if err != nil {
		return nil, err
	}
	return t.Enroll(ctx, u)
}

// ConfirmCaller is Confirm for the user of c, who must have authenticated
// recently (as for EnrollCaller), as a step-up (auth.Authenticator.StepUp):
// wrong codes count against Limits.MFAPerAccount like any second-factor
// attempt, and on success the caller's session is replaced by one whose
// amr has "otp" and "mfa", returned as a token pair. Every other session
// of the user ends, before the code is even checked: those were opened
// with the password alone, and must not outlive the factor that now
// protects the account.
func (t *TOTP) ConfirmCaller(ctx context.Context, c *auth.Claims, code string, client auth.ClientInfo) (*Confirmation, *auth.TokenPair, error) {
	a, err := t.fresh(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	// The other sessions end first: if that fails, nothing is enrolled,
	// and no password-only session outlives the factor. (A session opened
	// meanwhile is ended after the step-up.)
	if err := a.RevokeOtherSessions(ctx, c.UserID, c.SessionID); err != nil {
		return nil, nil, err
	}
	var conf *Confirmation
	pair, err := a.StepUp(ctx, c, client, func(ctx context.Context, u *auth.User) (auth.Proof, error) {
		cf, err := t.Confirm(ctx, u, code)
		if err != nil {
			return auth.Proof{}, err
		}
		conf = cf
		return cf.Proof, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := a.RevokeOtherSessions(ctx, c.UserID, pair.SessionID); err != nil {
		return conf, pair, err
	}
	return conf, pair, nil
}

// Disable removes the TOTP secret and recovery codes of the user of c,
// who must have authenticated within Config.RecentAuth (else the
// *auth.InsufficientAuthError of auth.RequireRecentAuth), and records
// auth.EventMFADisabled. A user without a confirmed secret is
// ErrNotEnrolled (a pending one is removed all the same).
func (t *TOTP) Disable(ctx context.Context, c *auth.Claims) error {
	a, err := t.fresh(ctx, c)
	if err != nil {
		return err
	}
	ok, err := t.Enrolled(ctx, c.UserID)
	if err != nil {
		return err
	}
	if err := t.Reset(ctx, c.UserID); err != nil {
		return err
	}
	if !ok {
		return ErrNotEnrolled
	}
	a.Emit(ctx, auth.Event{Type: auth.EventMFADisabled, UserID: c.UserID, TenantID: c.TenantID, SessionID: c.SessionID, Reason: Name})
	return nil
}

// RegenerateRecoveryCodes replaces the recovery codes of the user of c
// with a new set (the old codes stop working) and records
// auth.EventRecoveryCodesNew. The user must have authenticated within
// Config.RecentAuth and be enrolled (ErrNotEnrolled otherwise).
func (t *TOTP) RegenerateRecoveryCodes(ctx context.Context, c *auth.Claims) ([]string, error) {
	a, err := t.fresh(ctx, c)
	if err != nil {
		return nil, err
	}
	ok, err := t.Enrolled(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotEnrolled
	}
	codes, err := t.newRecoveryCodes(ctx, c.UserID, t.cfg.Now().UTC())
	if err != nil {
		return nil, err
	}
	a.Emit(ctx, auth.Event{Type: auth.EventRecoveryCodesNew, UserID: c.UserID, TenantID: c.TenantID, SessionID: c.SessionID, Reason: Name})
	return codes, nil
}

// fresh returns the Authenticator if the user of c authenticated within
// Config.RecentAuth and, when the user has a second factor, with it ("mfa"
// in amr): a session from before the enrolment, or a password step-up,
// cannot change the factors that protect the account. Otherwise it returns
// an *auth.InsufficientAuthError saying what a step-up must bring.
func (t *TOTP) fresh(ctx context.Context, c *auth.Claims) (*auth.Authenticator, error) {
	a, err := t.authenticator()
	if err != nil {
		return nil, err
	}
	if c == nil || !auth.ValidID(c.UserID) {
		return nil, fmt.Errorf("%w: no claims", auth.ErrInvalidInput)
	}
	recent := a.RequireRecentAuth(c, t.cfg.RecentAuth)
	factors, err := a.SecondFactors(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	if len(factors) > 0 && (recent != nil || a.RequireMFA(c) != nil) {
		e := &auth.InsufficientAuthError{ACR: string(auth.MethodMFA)} // the step-up must bring the factor
		if recent != nil {
			e.MaxAge = t.cfg.RecentAuth
		}
		return nil, e
	}
	if recent != nil {
		return nil, recent
	}
	return a, nil
}

// Status is a user's TOTP state, for account pages.
type Status struct {
	// Enrolled: a confirmed secret. Pending: an unconfirmed one.
	Enrolled, Pending bool
	ConfirmedAt       time.Time
	RecoveryCodesLeft int
}

// Status returns the user's TOTP state.
func (t *TOTP) Status(ctx context.Context, userID string) (Status, error) {
	var st Status
	sec, err := t.cfg.Store.TOTPSecret(ctx, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		return st, nil
	case err != nil:
		return st, err
	}
	st.Enrolled, st.Pending = sec.Confirmed, !sec.Confirmed
	if !sec.Confirmed {
		return st, nil
	}
	st.ConfirmedAt = sec.ConfirmedAt
	if st.RecoveryCodesLeft, err = t.rec.RecoveryCodesLeft(ctx, userID); err != nil {
		return Status{}, err
	}
	return st, nil
}

// Recovery codes.

const recoveryLen = 16 // base32 characters: 80 bits

var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecoveryCodes stores a new set for the user and returns it formatted.
func (t *TOTP) newRecoveryCodes(ctx context.Context, userID string, now time.Time) ([]string, error) {
	codes := make([]string, t.cfg.RecoveryCodes)
	hashes := make([][]byte, len(codes))
	seen := make(map[string]bool, len(codes))
	for i := range codes {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		c := recoveryEncoding.EncodeToString(b[:])
		if seen[c] { // 2^-80: only a broken generator gets here
			return nil, errors.New("totp: the random generator repeated itself")
		}
		seen[c] = true
		codes[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		hashes[i] = recoveryHash(userID, c)
	}
	if err := t.rec.ReplaceRecoveryCodes(ctx, userID, hashes, now); err != nil {
		return nil, err
	}
	return codes, nil
}

// recoveryHash is the stored form of a normalised code: SHA-256 over the
// user's ID (a fixed-length UUID) and the code.
func recoveryHash(userID, code string) []byte {
	h := sha256.Sum256([]byte(userID + code))
	return h[:]
}

// normalizeRecoveryCode returns the code in lower case without dashes and
// spaces if it can be a recovery code.
func normalizeRecoveryCode(code string) (string, bool) {
	if len(code) > 64 {
		return "", false
	}
	var b [recoveryLen]byte
	n := 0
	for _, c := range []byte(code) {
		switch {
		case c == '-' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '2' && c <= '7':
		default:
			return "", false
		}
		if n == recoveryLen {
			return "", false
		}
		b[n] = c
		n++
	}
	if n != recoveryLen {
		return "", false
	}
	return string(b[:]), true
}
