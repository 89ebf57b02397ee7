package totp_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"image/png"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/pquerna/otp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rfcTOTP is an implementation of RFC 6238 independent of the package and
// of pquerna/otp: HOTP (RFC 4226 §5.3, dynamic truncation) of the count of
// periods since the Unix epoch. It stands for "any standard authenticator".
func rfcTOTP(secret []byte, at time.Time, period time.Duration, digits int, h func() hash.Hash) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/int64(period/time.Second)))
	mac := hmac.New(h, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := uint32(sum[off]&0x7f)<<24 | uint32(sum[off+1])<<16 | uint32(sum[off+2])<<8 | uint32(sum[off+3])
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

const password = "correct horse battery staple"

// t0 is the tests' start time: 1s into a 30s step.
var t0 = time.Date(2026, 12, 5, 12, 0, 1, 0, time.UTC)

type recorder struct {
	mu     sync.Mutex
	events []auth.Event
}

func (r *recorder) Record(_ context.Context, e auth.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// of returns the recorded events of type et for the user.
func (r *recorder) of(et auth.EventType, userID string) []auth.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []auth.Event
	for _, e := range r.events {
		if e.Type == et && e.UserID == userID {
			out = append(out, e)
		}
	}
	return out
}

type env struct {
	st     *memstore.Store
	f      *totp.TOTP
	a      *auth.Authenticator
	clock  *authtest.Clock
	events *recorder
	cfg    totp.Config
}

func newKey(id string) totp.Key {
	k := totp.Key{ID: id, Secret: make([]byte, 32)}
	_, _ = rand.Read(k.Secret)
	return k
}

var k1, k2 = newKey("k1"), newKey("k2")

// setup builds a factor over a memstore, attached to an Authenticator
// whose MFA policy is acfg's.
func setup(t testing.TB, cfg totp.Config, acfg auth.Config) *env {
	t.Helper()
	st := memstore.New(memstore.WithSweepInterval(0))
	t.Cleanup(func() { _ = st.Close() })
	clock := authtest.NewClock(t0)
	if cfg.Store == nil {
		cfg.Store = st
	}
	if cfg.Keys == nil {
		cfg.Keys = []totp.Key{k1}
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Example"
	}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	f, err := totp.New(cfg)
	require.NoError(t, err)
	rec := &recorder{}
	acfg.SecondFactors = []auth.SecondFactor{f}
	acfg.ActionTokens = st
	acfg.Events = rec
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st, ActionTokens: st}, clock, acfg)
	return &env{st: st, f: f, a: a, clock: clock, events: rec, cfg: cfg}
}

func (e *env) user(t *testing.T) *auth.User {
	t.Helper()
	u, err := e.a.Register(context.Background(), auth.RegisterRequest{Email: "u-" + uuid.NewString()[:8] + "@example.com", Password: password})
	require.NoError(t, err)
	return u
}

// code is what an authenticator holding secret shows at the clock's time
// plus d.
func (e *env) code(secret []byte, d time.Duration) string {
	return rfcTOTP(secret, e.clock.Now().Add(d), 30*time.Second, 6, sha1.New)
}

// enrolled enrols and confirms u, returning the secret and the recovery
// codes, and moves the clock three steps on (so that codes up to two steps
// back are not replays of the confirming one).
func (e *env) enrolled(t testing.TB, u *auth.User) ([]byte, []string) {
	t.Helper()
	ctx := context.Background()
	en, err := e.f.Enroll(ctx, u)
	require.NoError(t, err)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	require.NoError(t, err)
	conf, err := e.f.Confirm(ctx, u, e.code(secret, 0))
	require.NoError(t, err)
	e.clock.Advance(90 * time.Second)
	return secret, conf.RecoveryCodes
}

// storeSecret stores secret, sealed by f, as u's confirmed secret.
func storeSecret(t *testing.T, st *memstore.Store, f *totp.TOTP, userID string, secret []byte) {
	t.Helper()
	ctx := context.Background()
	keyID, sealed, err := f.Seal(userID, secret)
	require.NoError(t, err)
	require.NoError(t, st.DeleteTOTPSecret(ctx, userID))
	require.NoError(t, st.PutPendingTOTPSecret(ctx, &totp.Secret{UserID: userID, KeyID: keyID, Sealed: sealed, CreatedAt: time.Now()}))
	require.NoError(t, st.ConfirmTOTPSecret(ctx, userID, sealed, 0, time.Now()))
}

func requireInvalid(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, auth.ErrInvalidCode, msgAndArgs...)
	require.ErrorIs(t, err, auth.ErrInvalidCredentials, msgAndArgs...)
}

func TestRFC6238Vectors(t *testing.T) {
	// RFC 6238 Appendix B: 8 digits, 30 s, the seed repeated to the
	// hash's length.
	seeds := map[otp.Algorithm][]byte{
		otp.AlgorithmSHA1:   []byte("12345678901234567890"),
		otp.AlgorithmSHA256: []byte("12345678901234567890123456789012"),
		otp.AlgorithmSHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	hashes := map[otp.Algorithm]func() hash.Hash{otp.AlgorithmSHA1: sha1.New, otp.AlgorithmSHA256: sha256.New, otp.AlgorithmSHA512: sha512.New}
	vectors := []struct {
		unix  int64
		codes map[otp.Algorithm]string
	}{
		{59, map[otp.Algorithm]string{otp.AlgorithmSHA1: "94287082", otp.AlgorithmSHA256: "46119246", otp.AlgorithmSHA512: "90693936"}},
		{1111111109, map[otp.Algorithm]string{otp.AlgorithmSHA1: "07081804", otp.AlgorithmSHA256: "68084774", otp.AlgorithmSHA512: "25091201"}},
		{1111111111, map[otp.Algorithm]string{otp.AlgorithmSHA1: "14050471", otp.AlgorithmSHA256: "67062674", otp.AlgorithmSHA512: "99943326"}},
		{1234567890, map[otp.Algorithm]string{otp.AlgorithmSHA1: "89005924", otp.AlgorithmSHA256: "91819424", otp.AlgorithmSHA512: "93441116"}},
		{2000000000, map[otp.Algorithm]string{otp.AlgorithmSHA1: "69279037", otp.AlgorithmSHA256: "90698825", otp.AlgorithmSHA512: "38618901"}},
		{20000000000, map[otp.Algorithm]string{otp.AlgorithmSHA1: "65353130", otp.AlgorithmSHA256: "77737706", otp.AlgorithmSHA512: "47863826"}},
	}
	ctx := context.Background()
	for alg, seed := range seeds {
		t.Run(alg.String(), func(t *testing.T) {
			// authtest.Clock counts nanoseconds in an int64, which ends in
			// 2262: the factor gets a clock of its own.
			var mu sync.Mutex
			var now time.Time
			setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
			e := setup(t, totp.Config{Digits: otp.DigitsEight, Algorithm: alg, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}, auth.Config{})
			for _, v := range vectors {
				at := time.Unix(v.unix, 0).UTC()
				want := v.codes[alg]
				require.Equal(t, want, rfcTOTP(seed, at, 30*time.Second, 8, hashes[alg]), "the independent implementation at %d", v.unix)
				got, err := e.f.CodeAt(seed, v.unix/30)
				require.NoError(t, err)
				require.Equal(t, want, got, "the package's code at %d", v.unix)

				// And through VerifyCode, with the seed stored sealed.
				u := e.user(t)
				storeSecret(t, e.st, e.f, u.ID, seed)
				setNow(at)
				p, err := e.f.VerifyCode(ctx, u, want)
				require.NoError(t, err, "VerifyCode at %d", v.unix)
				require.Equal(t, auth.Proof{UserID: u.ID, Methods: []auth.Method{auth.MethodOTP}, Factor: "totp"}, p)
				_, err = e.f.VerifyCode(ctx, u, want)
				requireInvalid(t, err, "replayed at %d", v.unix)
				setNow(at.Add(90 * time.Second))
				_, err = e.f.VerifyCode(ctx, u, rfcTOTP(seed, at.Add(90*time.Second), 30*time.Second, 8, hashes[alg]))
				require.NoError(t, err)
			}
		})
	}
}

func TestStandardAuthenticator(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		cfg    totp.Config
		h      func() hash.Hash
		digits int
		period time.Duration
	}{
		{"default", totp.Config{}, sha1.New, 6, 30 * time.Second},
		{"sha256-8-60s", totp.Config{Algorithm: otp.AlgorithmSHA256, Digits: otp.DigitsEight, Period: time.Minute}, sha256.New, 8, time.Minute},
		{"sha512", totp.Config{Algorithm: otp.AlgorithmSHA512}, sha512.New, 6, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, tc.cfg, auth.Config{})
			u := e.user(t)
			en, err := e.f.Enroll(ctx, u)
			require.NoError(t, err)

			// The key URI says everything an app needs, and agrees with Secret.
			uri, err := url.Parse(en.URI)
			require.NoError(t, err)
			require.Equal(t, "otpauth", uri.Scheme)
			require.Equal(t, "totp", uri.Host)
			require.Equal(t, "/Example:"+u.Email, uri.Path)
			q := uri.Query()
			require.Equal(t, en.Secret, q.Get("secret"))
			require.Equal(t, "Example", q.Get("issuer"))
			require.Equal(t, fmt.Sprint(tc.digits), q.Get("digits"))
			require.Equal(t, fmt.Sprint(int(tc.period/time.Second)), q.Get("period"))
			img, err := png.Decode(bytes.NewReader(en.QRPNG))
			require.NoError(t, err)
			require.Equal(t, 256, img.Bounds().Dx())
			require.Equal(t, 256, img.Bounds().Dy())

			secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
			require.NoError(t, err)
			_, err = e.f.VerifyCode(ctx, u, rfcTOTP(secret, e.clock.Now(), tc.period, tc.digits, tc.h))
			requireInvalid(t, err, "a pending secret logs nobody in")
			conf, err := e.f.Confirm(ctx, u, rfcTOTP(secret, e.clock.Now(), tc.period, tc.digits, tc.h))
			require.NoError(t, err)
			require.Equal(t, auth.Proof{UserID: u.ID, Methods: []auth.Method{auth.MethodOTP}, Factor: "totp"}, conf.Proof)
			for range 3 {
				e.clock.Advance(tc.period)
				code := rfcTOTP(secret, e.clock.Now(), tc.period, tc.digits, tc.h)
				p, err := e.f.VerifyCode(ctx, u, code[:3]+" "+code[3:]) // spaces are ignored
				require.NoError(t, err)
				require.Equal(t, "totp", p.Factor)
			}
		})
	}
}

func TestAlgorithmInURI(t *testing.T) {
	ctx := context.Background()
	for alg, name := range map[otp.Algorithm]string{otp.AlgorithmSHA1: "SHA1", otp.AlgorithmSHA256: "SHA256", otp.AlgorithmSHA512: "SHA512"} {
		e := setup(t, totp.Config{Algorithm: alg}, auth.Config{})
		en, err := e.f.Enroll(ctx, e.user(t))
		require.NoError(t, err)
		uri, err := url.Parse(en.URI)
		require.NoError(t, err)
		require.Equal(t, name, uri.Query().Get("algorithm"))
	}
}

func TestSkewAndReplay(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)
	secret, _ := e.enrolled(t, u)
	step := 30 * time.Second

	_, err := e.f.VerifyCode(ctx, u, e.code(secret, -2*step))
	requireInvalid(t, err, "two steps back")
	_, err = e.f.VerifyCode(ctx, u, e.code(secret, 2*step))
	requireInvalid(t, err, "two steps ahead")
	_, err = e.f.VerifyCode(ctx, u, e.code(secret, -step))
	require.NoError(t, err, "one step back")
	_, err = e.f.VerifyCode(ctx, u, e.code(secret, -step))
	requireInvalid(t, err, "the same code again")
	_, err = e.f.VerifyCode(ctx, u, e.code(secret, step))
	require.NoError(t, err, "one step ahead")
	_, err = e.f.VerifyCode(ctx, u, e.code(secret, 0))
	requireInvalid(t, err, "an earlier step's code after a later one was used")
	e.clock.Advance(step)
	_, err = e.f.VerifyCode(ctx, u, e.code(secret, 0))
	requireInvalid(t, err, "the step already used, now current")
	e.clock.Advance(step)
	_, err = e.f.VerifyCode(ctx, u, e.code(secret, 0))
	require.NoError(t, err)

	// The confirming code cannot be replayed either.
	u2 := e.user(t)
	en, err := e.f.Enroll(ctx, u2)
	require.NoError(t, err)
	s2, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	require.NoError(t, err)
	first := e.code(s2, 0)
	_, err = e.f.Confirm(ctx, u2, first)
	require.NoError(t, err)
	_, err = e.f.VerifyCode(ctx, u2, first)
	requireInvalid(t, err, "the confirming code")
}

func TestMalformedCodes(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)
	secret, _ := e.enrolled(t, u)
	good := e.code(secret, 0)
	for _, c := range []string{"", " ", "12345", "1234567", good + "0", "abcdef", good[:5] + "x", "١٢٣٤٥٦", strings.Repeat("1", 100),
		good[:3] + "-" + good[3:], "+" + good[1:], good + "\x00"} {
		_, err := e.f.VerifyCode(ctx, u, c)
		requireInvalid(t, err, "%q", c)
	}
	_, err := e.f.VerifyCode(ctx, u, good)
	require.NoError(t, err, "none of the above used the step")
	_, err = e.f.VerifyCode(ctx, nil, good)
	requireInvalid(t, err)
	_, err = e.f.VerifyCode(ctx, e.user(t), good)
	requireInvalid(t, err, "a user without TOTP")
	ok, err := e.f.Enrolled(ctx, uuid.NewString())
	require.NoError(t, err)
	require.False(t, ok)
}

func TestConcurrentVerifyOneWinner(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)
	secret, codes := e.enrolled(t, u)
	for _, code := range []string{e.code(secret, 0), codes[0]} {
		const n = 16
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = e.f.VerifyCode(ctx, u, code)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
				continue
			}
			requireInvalid(t, err)
		}
		require.Equal(t, 1, wins, "code %q", code)
	}
}

var recoveryFormat = regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)
	_, codes := e.enrolled(t, u)
	require.Len(t, codes, 10)
	seen := map[string]bool{}
	for _, c := range codes {
		require.Regexp(t, recoveryFormat, c)
		require.False(t, seen[c])
		seen[c] = true
	}
	st, err := e.f.Status(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, totp.Status{Enrolled: true, ConfirmedAt: t0.Truncate(time.Millisecond), RecoveryCodesLeft: 10}, st)

	p, err := e.f.VerifyCode(ctx, u, codes[0])
	require.NoError(t, err)
	require.Equal(t, auth.Proof{UserID: u.ID, Methods: []auth.Method{auth.MethodOTP}, Factor: auth.FactorRecoveryCode}, p)
	_, err = e.f.VerifyCode(ctx, u, codes[0])
	requireInvalid(t, err, "single use")

	// Typed differently: upper case, no dashes, spaces.
	for i, typed := range []string{
		strings.ToUpper(codes[1]),
		strings.ReplaceAll(codes[2], "-", ""),
		" " + strings.ReplaceAll(codes[3], "-", " ") + " ",
		strings.ToUpper(codes[4][:9]) + "--" + codes[4][9:],
	} {
		_, err := e.f.VerifyCode(ctx, u, typed)
		require.NoError(t, err, "%d: %q", i, typed)
	}
	for _, bad := range []string{codes[5][:18], codes[5] + "a", strings.Replace(codes[5], "-", "_", 1), "0" + codes[5][1:], "1" + codes[5][1:]} {
		_, err := e.f.VerifyCode(ctx, u, bad)
		requireInvalid(t, err, "%q", bad)
	}
	st, err = e.f.Status(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, 5, st.RecoveryCodesLeft)

	// Another user's code does not work.
	other := e.user(t)
	_, otherCodes := e.enrolled(t, other)
	_, err = e.f.VerifyCode(ctx, u, otherCodes[0])
	requireInvalid(t, err)

	// Regenerating replaces the whole set.
	claims := &auth.Claims{UserID: u.ID, TenantID: u.TenantID, SessionID: uuid.NewString(), AuthTime: e.clock.Now(),
		AMR: []auth.Method{auth.MethodPassword, auth.MethodOTP, auth.MethodMFA}}
	fresh, err := e.f.RegenerateRecoveryCodes(ctx, claims)
	require.NoError(t, err)
	require.Len(t, fresh, 10)
	for _, c := range codes[5:] {
		_, err := e.f.VerifyCode(ctx, u, c)
		requireInvalid(t, err, "the old set stopped working")
	}
	_, err = e.f.VerifyCode(ctx, u, fresh[9])
	require.NoError(t, err)
	st, err = e.f.Status(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, 9, st.RecoveryCodesLeft)
	require.Len(t, e.events.of(auth.EventRecoveryCodesNew, u.ID), 1)
	require.Equal(t, claims.SessionID, e.events.of(auth.EventRecoveryCodesNew, u.ID)[0].SessionID)

	// A recovery code needs a confirmed TOTP: after Disable, nothing works.
	require.NoError(t, e.f.Disable(ctx, claims))
	_, err = e.f.VerifyCode(ctx, u, fresh[0])
	requireInvalid(t, err)
}

func TestRecoveryCodeCount(t *testing.T) {
	e := setup(t, totp.Config{RecoveryCodes: 3}, auth.Config{})
	_, codes := e.enrolled(t, e.user(t))
	require.Len(t, codes, 3)
}

func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{Keys: []totp.Key{k1}}, auth.Config{})
	u := e.user(t)
	secret, _ := e.enrolled(t, u)
	stored, err := e.st.TOTPSecret(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, "k1", stored.KeyID)

	with := func(keys ...totp.Key) *totp.TOTP {
		f, err := totp.New(totp.Config{Store: e.st, Keys: keys, Issuer: "Example", Now: e.clock.Now})
		require.NoError(t, err)
		return f
	}
	onlyK2 := with(k2)
	_, err = onlyK2.VerifyCode(ctx, u, e.code(secret, 0))
	require.ErrorIs(t, err, totp.ErrSealed, "k2 alone cannot open a secret sealed by k1")
	require.NotErrorIs(t, err, auth.ErrInvalidCredentials)
	require.NotContains(t, err.Error(), string(k1.Secret))

	rotated := with(k2, k1)
	_, err = rotated.VerifyCode(ctx, u, e.code(secret, 0))
	require.NoError(t, err, "the old key still opens")
	stored, err = e.st.TOTPSecret(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, "k2", stored.KeyID, "re-sealed under the new key on use")

	e.clock.Advance(30 * time.Second)
	_, err = onlyK2.VerifyCode(ctx, u, e.code(secret, 0))
	require.NoError(t, err, "the old key can go")
	e.clock.Advance(30 * time.Second)
	_, err = with(k1).VerifyCode(ctx, u, e.code(secret, 0))
	require.ErrorIs(t, err, totp.ErrSealed)

	// A failed code does not re-seal.
	u2 := e.user(t)
	s2, _ := e.enrolled(t, u2)
	wrong := "000000"
	for wrong == e.code(s2, -30*time.Second) || wrong == e.code(s2, 0) || wrong == e.code(s2, 30*time.Second) {
		wrong = fmt.Sprintf("%06d", (int(wrong[5]-'0')+1)%10)
	}
	_, err = rotated.VerifyCode(ctx, u2, wrong)
	requireInvalid(t, err)
	stored, err = e.st.TOTPSecret(ctx, u2.ID)
	require.NoError(t, err)
	require.Equal(t, "k1", stored.KeyID)
	_, err = rotated.VerifyCode(ctx, u2, e.code(s2, 0))
	require.NoError(t, err)
}

func TestSealedSecretBinding(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	a, b := e.user(t), e.user(t)
	secret, _ := e.enrolled(t, a)
	sa, err := e.st.TOTPSecret(ctx, a.ID)
	require.NoError(t, err)

	put := func(userID, keyID string, sealed []byte) {
		require.NoError(t, e.st.DeleteTOTPSecret(ctx, userID))
		require.NoError(t, e.st.PutPendingTOTPSecret(ctx, &totp.Secret{UserID: userID, KeyID: keyID, Sealed: sealed, CreatedAt: time.Now()}))
		require.NoError(t, e.st.ConfirmTOTPSecret(ctx, userID, sealed, 0, time.Now()))
	}
	// a's blob copied to b's row.
	put(b.ID, sa.KeyID, sa.Sealed)
	_, err = e.f.VerifyCode(ctx, b, e.code(secret, 0))
	require.ErrorIs(t, err, totp.ErrSealed)

	// Every single-bit flip of a's blob is refused.
	for i := range sa.Sealed {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sa.Sealed)
			bad[i] ^= bit
			put(b.ID, sa.KeyID, bad)
			_, err = e.f.VerifyCode(ctx, b, e.code(secret, 0))
			require.ErrorIs(t, err, totp.ErrSealed, "byte %d", i)
		}
	}
	for _, bad := range [][]byte{{}, {1}, sa.Sealed[:10], append(bytes.Clone(sa.Sealed), 0)} {
		if len(bad) == 0 {
			continue // stores refuse an empty blob
		}
		put(b.ID, sa.KeyID, bad)
		_, err = e.f.VerifyCode(ctx, b, e.code(secret, 0))
		require.ErrorIs(t, err, totp.ErrSealed)
	}
	// A key ID column that disagrees with the blob.
	put(b.ID, "k2", sa.Sealed)
	_, err = e.f.VerifyCode(ctx, b, e.code(secret, 0))
	require.ErrorIs(t, err, totp.ErrSealed)

	// a is untouched.
	_, err = e.f.VerifyCode(ctx, a, e.code(secret, 0))
	require.NoError(t, err)
}

func TestEnrollment(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)

	_, err := e.f.Confirm(ctx, u, "123456")
	require.ErrorIs(t, err, totp.ErrNoPendingEnrollment)

	first, err := e.f.Enroll(ctx, u)
	require.NoError(t, err)
	st, err := e.f.Status(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, totp.Status{Pending: true}, st)
	ok, err := e.f.Enrolled(ctx, u.ID)
	require.NoError(t, err)
	require.False(t, ok, "pending is not enrolled")

	second, err := e.f.Enroll(ctx, u)
	require.NoError(t, err)
	require.NotEqual(t, first.Secret, second.Secret)
	s1, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(first.Secret)
	s2, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(second.Secret)
	require.Len(t, s2, 20)
	_, err = e.f.Confirm(ctx, u, e.code(s1, 0))
	requireInvalid(t, err, "the replaced pending secret")
	_, err = e.f.Confirm(ctx, u, e.code(s2, 2*30*time.Second))
	requireInvalid(t, err, "outside the window")
	conf, err := e.f.Confirm(ctx, u, e.code(s2, 0))
	require.NoError(t, err)
	require.Len(t, conf.RecoveryCodes, 10)
	ev := e.events.of(auth.EventMFAEnrolled, u.ID)
	require.Len(t, ev, 1)
	require.Equal(t, "totp", ev[0].Reason)
	require.Equal(t, u.TenantID, ev[0].TenantID)

	_, err = e.f.Enroll(ctx, u)
	require.ErrorIs(t, err, totp.ErrAlreadyEnrolled)
	_, err = e.f.Confirm(ctx, u, e.code(s2, 30*time.Second))
	require.ErrorIs(t, err, totp.ErrAlreadyEnrolled)
	ok, err = e.f.Enrolled(ctx, u.ID)
	require.NoError(t, err)
	require.True(t, ok)

	// Concurrent confirmations with one code: one winner.
	v := e.user(t)
	en, err := e.f.Enroll(ctx, v)
	require.NoError(t, err)
	sv, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	code := e.code(sv, 0)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = e.f.Confirm(ctx, v, code) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		if !errors.Is(err, totp.ErrAlreadyEnrolled) {
			requireInvalid(t, err)
		}
	}
	require.Equal(t, 1, wins)
	require.Len(t, e.events.of(auth.EventMFAEnrolled, v.ID), 1)
}

func TestDisableAndFreshness(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)
	secret, codes := e.enrolled(t, u)

	stale := &auth.Claims{UserID: u.ID, TenantID: u.TenantID, AMR: []auth.Method{auth.MethodPassword, auth.MethodOTP, auth.MethodMFA},
		AuthTime: e.clock.Now().Add(-10*time.Minute - time.Second)}
	var ia *auth.InsufficientAuthError
	err := e.f.Disable(ctx, stale)
	require.ErrorAs(t, err, &ia)
	require.Equal(t, 10*time.Minute, ia.MaxAge)
	require.Equal(t, "mfa", ia.ACR)
	_, err = e.f.RegenerateRecoveryCodes(ctx, stale)
	require.ErrorAs(t, err, &ia)
	noTime := &auth.Claims{UserID: u.ID, TenantID: u.TenantID}
	require.ErrorAs(t, e.f.Disable(ctx, noTime), &ia, "no auth_time is never recent")
	ok, err := e.f.Enrolled(ctx, u.ID)
	require.NoError(t, err)
	require.True(t, ok, "refused: nothing removed")
	_, err = e.f.VerifyCode(ctx, u, codes[0])
	require.NoError(t, err, "refused: the codes still work")
	require.Empty(t, e.events.of(auth.EventRecoveryCodesNew, u.ID))

	// Recent, but with the password alone: an enrolled user's factors
	// change only with the factor.
	recentPwd := &auth.Claims{UserID: u.ID, TenantID: u.TenantID, SessionID: uuid.NewString(), AuthTime: e.clock.Now(), AMR: []auth.Method{auth.MethodPassword}}
	require.ErrorAs(t, e.f.Disable(ctx, recentPwd), &ia)
	require.Equal(t, "mfa", ia.ACR)
	require.Zero(t, ia.MaxAge)

	fresh := &auth.Claims{UserID: u.ID, TenantID: u.TenantID, SessionID: uuid.NewString(), AuthTime: e.clock.Now().Add(-9 * time.Minute),
		AMR: []auth.Method{auth.MethodPassword, auth.MethodOTP, auth.MethodMFA}}
	require.NoError(t, e.f.Disable(ctx, fresh))
	ok, err = e.f.Enrolled(ctx, u.ID)
	require.NoError(t, err)
	require.False(t, ok)
	st, err := e.f.Status(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, totp.Status{}, st)
	n, err := e.st.RecoveryCodesLeft(ctx, u.ID)
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = e.f.VerifyCode(ctx, u, e.code(secret, 0))
	requireInvalid(t, err)
	ev := e.events.of(auth.EventMFADisabled, u.ID)
	require.Len(t, ev, 1)
	require.Equal(t, fresh.SessionID, ev[0].SessionID)
	require.Equal(t, "totp", ev[0].Reason)

	require.ErrorIs(t, e.f.Disable(ctx, fresh), totp.ErrNotEnrolled)
	_, err = e.f.RegenerateRecoveryCodes(ctx, fresh)
	require.ErrorIs(t, err, totp.ErrNotEnrolled)
	require.Len(t, e.events.of(auth.EventMFADisabled, u.ID), 1)

	// A configured RecentAuth.
	e2 := setup(t, totp.Config{RecentAuth: time.Minute}, auth.Config{})
	u2 := e2.user(t)
	e2.enrolled(t, u2)
	c := &auth.Claims{UserID: u2.ID, TenantID: u2.TenantID, AuthTime: e2.clock.Now().Add(-2 * time.Minute)}
	require.ErrorAs(t, e2.f.Disable(ctx, c), &ia)
	require.Equal(t, time.Minute, ia.MaxAge)
	require.ErrorIs(t, e2.f.Disable(ctx, nil), auth.ErrInvalidInput)
}

func TestResetByAdministrator(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)
	e.enrolled(t, u)
	require.NoError(t, e.a.ResetSecondFactors(ctx, u.TenantID, u.ID))
	st, err := e.f.Status(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, totp.Status{}, st)
	n, err := e.st.RecoveryCodesLeft(ctx, u.ID)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestLoginFlows(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{MFA: auth.MFAPolicy{All: true}})
	u := e.user(t)
	client := auth.ClientInfo{IP: "192.0.2.1", UserAgent: "test"}

	login := func() *auth.MFARequiredError {
		t.Helper()
		_, _, err := e.a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password, Client: client})
		var mfa *auth.MFARequiredError
		require.ErrorAs(t, err, &mfa)
		return mfa
	}
	mfa := login()
	require.True(t, mfa.Enroll, "the policy requires a factor the user has not got")

	en, eu, err := e.f.EnrollTicket(ctx, mfa.Ticket)
	require.NoError(t, err)
	require.Equal(t, u.ID, eu.ID)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	require.NoError(t, err)

	_, _, _, err = e.f.ConfirmLogin(ctx, mfa.Ticket, "000000"+"0", client)
	requireInvalid(t, err)
	pair, lu, conf, err := e.f.ConfirmLogin(ctx, mfa.Ticket, e.code(secret, 0), client)
	require.NoError(t, err)
	require.Equal(t, u.ID, lu.ID)
	require.Len(t, conf.RecoveryCodes, 10)
	claims, err := e.a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	require.True(t, claims.HasMethod(auth.MethodOTP), "%v", claims.AMR)
	require.True(t, claims.HasMethod(auth.MethodMFA), "%v", claims.AMR)
	require.True(t, claims.HasMethod(auth.MethodPassword), "%v", claims.AMR)
	require.Len(t, e.events.of(auth.EventMFAEnrolled, u.ID), 1)
	require.NotEmpty(t, e.events.of(auth.EventMFASucceeded, u.ID))

	_, _, _, err = e.f.ConfirmLogin(ctx, mfa.Ticket, e.code(secret, 30*time.Second), client)
	require.Error(t, err, "the ticket is used")
	_, _, err = e.f.EnrollTicket(ctx, mfa.Ticket)
	require.ErrorIs(t, err, auth.ErrInvalidToken)

	// The next login asks for the code.
	e.clock.Advance(30 * time.Second)
	mfa = login()
	require.False(t, mfa.Enroll)
	require.Equal(t, []string{"totp"}, mfa.Factors)
	_, _, err = e.f.EnrollTicket(ctx, mfa.Ticket)
	require.ErrorIs(t, err, totp.ErrEnrollNotAllowed)
	_, _, _, err = e.f.ConfirmLogin(ctx, mfa.Ticket, e.code(secret, 0), client)
	require.ErrorIs(t, err, auth.ErrMFARequired, "enrolment through a ticket of an enrolled user")
	pair, _, err = e.a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: e.code(secret, 0), Client: client})
	require.NoError(t, err)
	claims, err = e.a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	require.True(t, claims.HasMethod(auth.MethodMFA))

	// Replay through LoginMFA.
	mfa = login()
	_, _, err = e.a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: e.code(secret, 0), Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidCode)

	// A recovery code.
	pair, _, err = e.a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Factor: "totp", Code: strings.ToUpper(conf.RecoveryCodes[0]), Client: client})
	require.NoError(t, err)
	require.NotEmpty(t, e.events.of(auth.EventRecoveryCodeUsed, u.ID))
	claims, err = e.a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err)
	require.True(t, claims.HasMethod(auth.MethodMFA))

	// Step-up with a code refreshes auth_time, which Disable needs.
	e.clock.Advance(20 * time.Minute)
	rt, err := e.a.Refresh(ctx, auth.RefreshRequest{RefreshToken: pair.RefreshToken, Client: client})
	require.NoError(t, err)
	claims, err = e.a.Authenticate(ctx, rt.AccessToken)
	require.NoError(t, err)
	var ia *auth.InsufficientAuthError
	require.ErrorAs(t, e.f.Disable(ctx, claims), &ia)
	up, err := e.a.StepUpCode(ctx, claims, "totp", e.code(secret, 0), client)
	require.NoError(t, err)
	claims, err = e.a.Authenticate(ctx, up.AccessToken)
	require.NoError(t, err)
	require.NoError(t, e.f.Disable(ctx, claims))
	require.Len(t, e.events.of(auth.EventMFADisabled, u.ID), 1)

	// Without a factor the policy sends the user back to enrolment.
	mfa = login()
	require.True(t, mfa.Enroll)
}

func TestAttachAndConfig(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.WithSweepInterval(0))
	t.Cleanup(func() { _ = st.Close() })
	f, err := totp.New(totp.Config{Store: st, Keys: []totp.Key{k1}, Issuer: "Example"})
	require.NoError(t, err)
	require.Equal(t, "totp", f.Name())
	u := &auth.User{ID: uuid.NewString(), Email: "x@example.com"}
	_, err = f.Enroll(ctx, u)
	require.ErrorIs(t, err, auth.ErrNotConfigured)
	_, err = f.Confirm(ctx, u, "123456")
	require.ErrorIs(t, err, auth.ErrNotConfigured)
	require.ErrorIs(t, f.Disable(ctx, &auth.Claims{UserID: u.ID}), auth.ErrNotConfigured)
	_, _, err = f.EnrollTicket(ctx, "x")
	require.ErrorIs(t, err, auth.ErrNotConfigured)
	_, _, _, err = f.ConfirmLogin(ctx, "x", "123456", auth.ClientInfo{})
	require.ErrorIs(t, err, auth.ErrNotConfigured)

	stores := authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st, ActionTokens: st}
	a1 := authtest.NewAuthenticator(t, stores, nil, auth.Config{SecondFactors: []auth.SecondFactor{f}, ActionTokens: st})
	require.NoError(t, f.Attach(a1), "attaching to the same one again")
	_, err = auth.New(auth.Config{Keys: mustKeys(t), Users: st, Tenants: st, Sessions: st, Revocations: st, ActionTokens: st,
		SecondFactors: []auth.SecondFactor{f}})
	require.ErrorContains(t, err, "already attached")
	require.Error(t, f.Attach(nil))

	base := totp.Config{Store: st, Keys: []totp.Key{k1}, Issuer: "Example"}
	for name, tc := range map[string]struct {
		mod  func(*totp.Config)
		want string
	}{
		"no store":       {func(c *totp.Config) { c.Store = nil }, "Config.Store"},
		"no keys":        {func(c *totp.Config) { c.Keys = nil }, "Config.Keys"},
		"short key":      {func(c *totp.Config) { c.Keys = []totp.Key{{ID: "a", Secret: make([]byte, 16)}} }, "32 bytes"},
		"empty key ID":   {func(c *totp.Config) { c.Keys = []totp.Key{{Secret: make([]byte, 32)}} }, "Keys[0].ID"},
		"spaced key ID":  {func(c *totp.Config) { c.Keys = []totp.Key{{ID: "a b", Secret: make([]byte, 32)}} }, "Keys[0].ID"},
		"duplicate ID":   {func(c *totp.Config) { c.Keys = []totp.Key{k1, {ID: "k1", Secret: make([]byte, 32)}} }, "duplicate key ID"},
		"no issuer":      {func(c *totp.Config) { c.Issuer = " " }, "Config.Issuer"},
		"colon issuer":   {func(c *totp.Config) { c.Issuer = "a:b" }, "Config.Issuer"},
		"odd period":     {func(c *totp.Config) { c.Period = 1500 * time.Millisecond }, "Config.Period"},
		"long period":    {func(c *totp.Config) { c.Period = time.Hour }, "Config.Period"},
		"5 digits":       {func(c *totp.Config) { c.Digits = 5 }, "Config.Digits"},
		"9 digits":       {func(c *totp.Config) { c.Digits = 9 }, "Config.Digits"},
		"md5":            {func(c *totp.Config) { c.Algorithm = otp.AlgorithmMD5 }, "Config.Algorithm"},
		"skew":           {func(c *totp.Config) { c.Skew = 4 }, "Config.Skew"},
		"codes":          {func(c *totp.Config) { c.RecoveryCodes = 51 }, "Config.RecoveryCodes"},
		"negative codes": {func(c *totp.Config) { c.RecoveryCodes = -1 }, "Config.RecoveryCodes"},
		"recent auth":    {func(c *totp.Config) { c.RecentAuth = -time.Second }, "Config.RecentAuth"},
		"no recovery":    {func(c *totp.Config) { c.Store = secretsOnly{st} }, "Config.Recovery"},
	} {
		cfg := base
		cfg.Keys = []totp.Key{k1}
		tc.mod(&cfg)
		_, err := totp.New(cfg)
		require.ErrorContains(t, err, tc.want, name)
		require.NotContains(t, err.Error(), string(k1.Secret), name)
	}
	cfg := base
	cfg.Store, cfg.Recovery = secretsOnly{st}, st
	_, err = totp.New(cfg)
	require.NoError(t, err, "separate stores")
}

func mustKeys(t *testing.T) *auth.KeySet {
	k, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	ks, err := auth.NewKeySet(k)
	require.NoError(t, err)
	return ks
}

// secretsOnly is a totp.Store that is not a RecoveryStore.
type secretsOnly struct{ totp.Store }

// failing is a Store whose backend is down.
type failing struct{ totp.Store }

var errDown = fmt.Errorf("store down: %w", auth.ErrUnavailable)

func (failing) TOTPSecret(context.Context, string) (*totp.Secret, error) { return nil, errDown }

// failingUse fails only UseTOTPStep and UseRecoveryCode.
type failingUse struct{ *memstore.Store }

func (failingUse) UseTOTPStep(context.Context, totp.StepUse) error       { return errDown }
func (failingUse) UseRecoveryCode(context.Context, string, []byte) error { return errDown }

func TestStoreFailuresAreNotInvalidCodes(t *testing.T) {
	ctx := context.Background()
	e := setup(t, totp.Config{}, auth.Config{})
	u := e.user(t)
	secret, codes := e.enrolled(t, u)
	for name, f := range map[string]*totp.TOTP{
		"read": mustNew(t, totp.Config{Store: failing{e.st}, Recovery: e.st, Keys: []totp.Key{k1}, Issuer: "X", Now: e.clock.Now}),
		"use":  mustNew(t, totp.Config{Store: failingUse{e.st}, Keys: []totp.Key{k1}, Issuer: "X", Now: e.clock.Now}),
	} {
		for _, code := range []string{e.code(secret, 0), codes[0]} {
			_, err := f.VerifyCode(ctx, u, code)
			require.ErrorIs(t, err, auth.ErrUnavailable, name)
			require.NotErrorIs(t, err, auth.ErrInvalidCredentials, name)
		}
		_, err := f.Enrolled(ctx, u.ID)
		if name == "read" {
			require.ErrorIs(t, err, auth.ErrUnavailable)
		}
	}
	_, err := e.f.VerifyCode(ctx, u, e.code(secret, 0))
	require.NoError(t, err, "the failures used nothing")
	_, err = e.f.VerifyCode(ctx, u, codes[0])
	require.NoError(t, err)
}

func mustNew(t *testing.T, cfg totp.Config) *totp.TOTP {
	t.Helper()
	f, err := totp.New(cfg)
	require.NoError(t, err)
	return f
}

func TestNormalizeRecoveryCode(t *testing.T) {
	for in, want := range map[string]string{
		"abcd-efgh-ijkl-mn23":   "abcdefghijklmn23",
		"ABCD EFGH IJKL MN23":   "abcdefghijklmn23",
		"abcdefghijklmn23":      "abcdefghijklmn23",
		" -abcd--efgh-ijklmn23": "abcdefghijklmn23",
	} {
		got, ok := totp.NormalizeRecoveryCode(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "abcd-efgh-ijkl-mn2", "abcd-efgh-ijkl-mn234", "abcd-efgh-ijkl-mn01", "abcd_efgh_ijkl_mn23",
		"abcd\tefgh-ijkl-mn23", "äbcd-efgh-ijkl-mn2", strings.Repeat("a", 65), strings.Repeat("-", 60) + "abcd"} {
		_, ok := totp.NormalizeRecoveryCode(in)
		assert.False(t, ok, "%q", in)
	}
}
