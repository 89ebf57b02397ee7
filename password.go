package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

// Argon2Params are the argon2id cost parameters (RFC 9106).
type Argon2Params struct {
	// Memory in KiB. Default 19456 (19 MiB), the OWASP Password Storage
	// Cheat Sheet minimum for argon2id with two iterations.
	Memory uint32
	// Iterations (t). Default 2.
	Iterations uint32
	// Parallelism (p). Default 1.
	Parallelism uint8
	// SaltLength in bytes. Default 16.
	SaltLength uint32
	// KeyLength in bytes. Default 32.
	KeyLength uint32
}

// DefaultArgon2Params returns the parameters used when HasherConfig.Argon2
// is zero: m=19456 KiB, t=2, p=1, 16-byte salt, 32-byte key.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Bounds applied to parameters read from stored hashes, so that a corrupt or
// hostile row cannot make one verification allocate gigabytes.
const (
	maxArgon2Memory     = 1 << 20 // KiB, 1 GiB
	maxArgon2Iterations = 64
	maxArgon2KeyLength  = 128
	maxArgon2SaltLength = 64
	bcryptMaxBytes      = 72
)

// HasherConfig configures a Hasher. The zero value is the secure default.
type HasherConfig struct {
	// Argon2 are the parameters for new hashes. Zero: DefaultArgon2Params.
	// A stored hash with other parameters still verifies and is reported
	// as needing a rehash.
	Argon2 Argon2Params
	// MaxConcurrent bounds how many hash computations run at once, and so
	// the memory they use (Memory KiB each). Zero: runtime.GOMAXPROCS(0).
	MaxConcurrent int
	// QueueTimeout bounds how long a call waits for a hashing slot before
	// failing with ErrBusy. Zero: 5 seconds.
	QueueTimeout time.Duration
}

// Hasher hashes and verifies passwords: argon2id in PHC string format for new
// hashes; argon2id and bcrypt ($2a$, $2b$, $2y$) for verification. Passwords
// are NFKC-normalised before argon2id (NIST SP 800-63B §3.1.1.2); bcrypt
// hashes, imported from older systems, are verified against the password
// bytes as given. A Hasher is safe for concurrent use.
type Hasher struct {
	params       Argon2Params
	phcPrefix    string // "$argon2id$v=19$m=...,t=...,p=...$", identifies current params
	sem          chan struct{}
	queueTimeout time.Duration

	// computed counts argon2id computations, so tests can check that two
	// paths do the same work.
	computed atomic.Uint64

	// dummy has the current parameters, a random salt and a random key: no
	// password matches it, and checking one costs exactly a real verification.
	dummy string
}

// NewHasher returns a Hasher for cfg. It returns an error if the parameters
// are below the OWASP minimum (argon2id m >= 7168 KiB with t >= 5,
// m >= 19456 KiB with t >= 2, or stronger) or out of range.
func NewHasher(cfg HasherConfig) (*Hasher, error) {
	p := cfg.Argon2
	if p == (Argon2Params{}) {
		p = DefaultArgon2Params()
	}
	switch {
	case p.Iterations == 0 || p.Parallelism == 0:
		return nil, errors.New("auth: HasherConfig.Argon2.Iterations and .Parallelism must be at least 1")
	case uint64(p.Memory)*uint64(p.Iterations) < 19456*2 && !(p.Memory >= 7168 && p.Iterations >= 5):
		return nil, errors.New("auth: HasherConfig.Argon2.Memory and .Iterations are below the OWASP minimum (19456 KiB with 2 iterations, or 7168 KiB with 5)")
	case p.Memory > maxArgon2Memory || p.Iterations > maxArgon2Iterations:
		return nil, errors.New("auth: HasherConfig.Argon2.Memory (at most 1 GiB) or .Iterations (at most 64) is out of range")
	case p.SaltLength < 16 || p.SaltLength > maxArgon2SaltLength:
		return nil, errors.New("auth: HasherConfig.Argon2.SaltLength must be 16 to 64 bytes")
	case p.KeyLength < 16 || p.KeyLength > maxArgon2KeyLength:
		return nil, errors.New("auth: HasherConfig.Argon2.KeyLength must be 16 to 128 bytes")
	}
	n := cfg.MaxConcurrent
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	qt := cfg.QueueTimeout
	if qt <= 0 {
		qt = 5 * time.Second
	}
	h := &Hasher{
		params:       p,
		phcPrefix:    fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, p.Memory, p.Iterations, p.Parallelism),
		sem:          make(chan struct{}, n),
		queueTimeout: qt,
	}
	salt, key := make([]byte, p.SaltLength), make([]byte, p.KeyLength)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("auth: reading random bytes: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("auth: reading random bytes: %w", err)
	}
	h.dummy = h.encode(salt, key)
	return h, nil
}

// Params returns the argon2id parameters used for new hashes.
func (h *Hasher) Params() Argon2Params { return h.params }

// acquire takes a hashing slot, waiting at most the queue timeout.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(h.queueTimeout)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrBusy
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the argon2id PHC string of the NFKC form of password. It does
// not apply the password policy; call PasswordPolicy.Check first. It fails
// with ErrPasswordTooLong above MaxPasswordBytes, ErrBusy when no hashing
// slot frees up within the queue timeout, or the context's error.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading random salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(norm.NFKC.String(password)), salt, h.params.Iterations, h.params.Memory, h.params.Parallelism, h.params.KeyLength)
	h.computed.Add(1)
	h.release()
	return h.encode(salt, key), nil
}

func (h *Hasher) encode(salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return h.phcPrefix + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
}

// Verify reports whether password matches the stored hash encoded, and
// whether encoded should be replaced by a fresh Hash of the password (it is
// bcrypt, or argon2id with parameters other than the current ones). It never
// reports a match for a bcrypt hash and a password longer than 72 bytes, so
// bcrypt's truncation cannot admit a longer wrong password. A malformed or
// unsupported hash is an error, not a mismatch.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	if len(password) > MaxPasswordBytes {
		// Do the work anyway so the answer costs the same.
		_, _ = h.verifyArgon2(ctx, "", h.dummy)
		return false, false, nil
	}
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		ok, err := h.verifyArgon2(ctx, password, encoded)
		if err != nil || !ok {
			return false, false, err
		}
		return true, !strings.HasPrefix(encoded, h.phcPrefix) || !h.lengthsCurrent(encoded), nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		if len(password) > bcryptMaxBytes {
			_, _ = h.verifyArgon2(ctx, "", h.dummy)
			return false, false, nil
		}
		if err := h.acquire(ctx); err != nil {
			return false, false, err
		}
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
		h.release()
		switch {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		default:
			return false, false, errMalformedHash
		}
	default:
		return false, false, errMalformedHash
	}
}

// verifyDummy spends the same work as verifying a password against a real
// hash, and always reports a mismatch. Login calls it for unknown emails so
// response time does not reveal which addresses are registered.
func (h *Hasher) verifyDummy(ctx context.Context, password string) error {
	if len(password) > MaxPasswordBytes {
		password = "" // as Verify does: the work must not depend on the input
	}
	_, err := h.verifyArgon2(ctx, password, h.dummy)
	return err
}

var errMalformedHash = errors.New("auth: stored password hash is malformed or unsupported")

// lengthsCurrent reports whether the salt and key lengths of a hash with
// current cost parameters match the configured ones.
func (h *Hasher) lengthsCurrent(encoded string) bool {
	ph, err := parsePHC(encoded)
	return err == nil && uint32(len(ph.salt)) == h.params.SaltLength && uint32(len(ph.key)) == h.params.KeyLength
}

func (h *Hasher) verifyArgon2(ctx context.Context, password, encoded string) (bool, error) {
	ph, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(norm.NFKC.String(password)), ph.salt, ph.t, ph.m, ph.p, uint32(len(ph.key)))
	h.computed.Add(1)
	h.release()
	return subtle.ConstantTimeCompare(key, ph.key) == 1, nil
}

type phc struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

// parsePHC parses "$argon2id$v=19$m=M,t=T,p=P$salt$key" strictly.
func parsePHC(s string) (phc, error) {
	var out phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return out, errMalformedHash
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return out, errMalformedHash
	}
	var vals [3]uint64
	for i, name := range [3]string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		if !ok {
			return out, errMalformedHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return out, errMalformedHash
		}
		vals[i] = n
	}
	if vals[0] < 8 || vals[0] > maxArgon2Memory || vals[1] < 1 || vals[1] > maxArgon2Iterations || vals[2] < 1 || vals[2] > 255 {
		return out, errMalformedHash
	}
	out.m, out.t, out.p = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	var err error
	if out.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(out.salt) < 8 || len(out.salt) > maxArgon2SaltLength {
		return out, errMalformedHash
	}
	if out.key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(out.key) < 16 || len(out.key) > maxArgon2KeyLength {
		return out, errMalformedHash
	}
	return out, nil
}
