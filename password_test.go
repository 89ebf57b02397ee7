package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func TestPasswordPolicy(t *testing.T) {
	rows := []struct {
		name   string
		policy PasswordPolicy
		pw     string
		email  string
		want   error
	}{
		{"accepts a passphrase", PasswordPolicy{}, "correct horse battery staple", "", nil},
		{"accepts exactly the minimum", PasswordPolicy{}, "x9$kQ2!m", "", nil},
		{"too short", PasswordPolicy{}, "x9$kQ2!", "", ErrPasswordTooShort},
		{"length counts characters, not bytes", PasswordPolicy{}, "ßüñçå€∂ø", "", nil},
		{"combining sequences count after NFKC", PasswordPolicy{}, strings.Repeat("e\u0301", 7), "", ErrPasswordTooShort},
		{"configurable minimum", PasswordPolicy{MinLength: 15}, "x9$kQ2!m-long", "", ErrPasswordTooShort},
		{"accepts 64 characters", PasswordPolicy{}, strings.Repeat("ab9$", 16), "", nil},
		{"one ligature is not a long password", PasswordPolicy{MinLength: 15}, "\ufdfa", "", ErrPasswordTooShort},
		{"64 typed ligatures are accepted", PasswordPolicy{}, strings.Repeat("\ufdfa", 64), "", nil},
		{"maximum cannot go below 64", PasswordPolicy{MaxLength: 10}, strings.Repeat("ab9$", 16), "", nil},
		{"above the maximum", PasswordPolicy{MaxLength: 64}, strings.Repeat("ab9$", 16) + "x", "", ErrPasswordTooLong},
		{"byte cap before anything else", PasswordPolicy{MaxLength: 100000}, strings.Repeat("a", MaxPasswordBytes+1), "", ErrPasswordTooLong},
		{"invalid UTF-8", PasswordPolicy{}, "abcdefgh\xff", "", ErrPasswordEncoding},
		{"control character", PasswordPolicy{}, "abcdefgh\x00ij", "", ErrPasswordEncoding},
		{"no composition rules: all lower case", PasswordPolicy{}, "purple elephants dance", "", nil},
		{"common password", PasswordPolicy{}, "qwerty123", "", ErrPasswordCommon},
		{"common password, other case", PasswordPolicy{}, "PassWord", "", ErrPasswordCommon},
		{"common password with decoration", PasswordPolicy{}, "Dragon2024!", "", ErrPasswordCommon},
		{"common password, full-width (NFKC)", PasswordPolicy{}, "ｐａｓｓｗｏｒｄ", "", ErrPasswordCommon},
		{"blocklist can be turned off", PasswordPolicy{AllowCommon: true}, "password", "", nil},
		{"the email itself", PasswordPolicy{}, "kate.smith@example.com", "kate.smith@example.com", ErrPasswordContext},
		{"the email's local part", PasswordPolicy{}, "Kate.Smith2024", "kate.smith@example.com", ErrPasswordContext},
		{"contains the email", PasswordPolicy{}, "my kate.smith@example.com!", "kate.smith@example.com", ErrPasswordContext},
		{"a configured word", PasswordPolicy{Words: []string{"Zanzibarflux"}}, "zanzibarflux99", "", ErrPasswordContext},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			err := r.policy.Check(r.pw, r.email)
			if r.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, r.want)
			require.ErrorIs(t, err, ErrPasswordPolicy)
			require.NotContains(t, err.Error(), r.pw, "the error never echoes the password")
		})
	}
	require.GreaterOrEqual(t, commonPasswords.Len(), 10000)
}

func newTestHasher(t testing.TB, cfg HasherConfig) *Hasher {
	t.Helper()
	h, err := NewHasher(cfg)
	require.NoError(t, err)
	return h
}

func TestHasherPHCRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, HasherConfig{})
	enc, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	require.Regexp(t, `^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, enc)
	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, rehash)
	ok, _, err = h.Verify(ctx, "correct horse battery stapler", enc)
	require.NoError(t, err)
	require.False(t, ok)

	enc2, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	require.NotEqual(t, enc, enc2, "salted")

	// NFKC: the composed and decomposed forms are one password.
	enc3, err := h.Hash(ctx, "caf\u00e9 au lait s'il vous plait")
	require.NoError(t, err)
	ok, _, err = h.Verify(ctx, "cafe\u0301 au lait s'il vous plait", enc3)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestHasherParameterUpgrade(t *testing.T) {
	ctx := context.Background()
	old := newTestHasher(t, HasherConfig{Argon2: Argon2Params{Memory: 7168, Iterations: 5, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	cur := newTestHasher(t, HasherConfig{})
	enc, err := old.Hash(ctx, "pw-for-upgrade")
	require.NoError(t, err)
	ok, rehash, err := cur.Verify(ctx, "pw-for-upgrade", enc)
	require.NoError(t, err)
	require.True(t, ok, "old parameters still verify")
	require.True(t, rehash, "and ask for a rehash")

	longKey := newTestHasher(t, HasherConfig{Argon2: Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 64}})
	enc, err = longKey.Hash(ctx, "pw-for-upgrade")
	require.NoError(t, err)
	ok, rehash, err = cur.Verify(ctx, "pw-for-upgrade", enc)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, rehash, "other key length")

}

func TestNewHasherNamesTheField(t *testing.T) {
	ok := DefaultArgon2Params()
	with := func(f func(*Argon2Params)) HasherConfig {
		p := ok
		f(&p)
		return HasherConfig{Argon2: p}
	}
	for _, tc := range []struct {
		name, field string
		cfg         HasherConfig
	}{
		{"below the OWASP minimum", "HasherConfig.Argon2.Memory", with(func(p *Argon2Params) { p.Memory, p.Iterations = 4096, 1 })},
		{"no iterations", "HasherConfig.Argon2.Iterations", with(func(p *Argon2Params) { p.Iterations = 0 })},
		{"no parallelism", ".Parallelism", with(func(p *Argon2Params) { p.Parallelism = 0 })},
		{"memory out of range", "HasherConfig.Argon2.Memory", with(func(p *Argon2Params) { p.Memory = 2 << 20 })},
		{"short salt", "HasherConfig.Argon2.SaltLength", with(func(p *Argon2Params) { p.SaltLength = 8 })},
		{"long key", "HasherConfig.Argon2.KeyLength", with(func(p *Argon2Params) { p.KeyLength = 256 })},
	} {
		_, err := NewHasher(tc.cfg)
		require.ErrorContains(t, err, tc.field, tc.name)
	}
	_, err := NewHasher(HasherConfig{Argon2: ok})
	require.NoError(t, err)
}

func TestHasherBcrypt(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, HasherConfig{})
	pw := "imported from the old system"
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	require.NoError(t, err)
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := prefix + string(b[4:])
		ok, rehash, err := h.Verify(ctx, pw, enc)
		require.NoError(t, err, prefix)
		require.True(t, ok, prefix)
		require.True(t, rehash, "bcrypt is always upgraded")
		ok, _, err = h.Verify(ctx, pw+"!", enc)
		require.NoError(t, err)
		require.False(t, ok)
	}

	// bcrypt ignores bytes after the 72nd; a longer password sharing the
	// first 72 bytes must not pass.
	p72 := strings.Repeat("x", 72)
	b, err = bcrypt.GenerateFromPassword([]byte(p72), bcrypt.MinCost)
	require.NoError(t, err)
	ok, _, err := h.Verify(ctx, p72, string(b))
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, bcrypt.CompareHashAndPassword(b, []byte(p72+"WRONG")), "x/crypto/bcrypt itself truncates")
	ok, _, err = h.Verify(ctx, p72+"WRONG", string(b))
	require.NoError(t, err)
	require.False(t, ok, "but our Verify refuses passwords over 72 bytes for bcrypt")
}

func TestHasherMalformed(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, HasherConfig{})
	for _, enc := range []string{
		"", "plaintext", "$1$md5$hash", "$2x$10$abc", "$2b$10$short",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$t=2,m=19456,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$!!!$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5",
	} {
		ok, _, err := h.Verify(ctx, "pw", enc)
		require.False(t, ok, enc)
		require.ErrorIs(t, err, errMalformedHash, enc)
	}
}

func TestHasherConcurrencyBound(t *testing.T) {
	h := newTestHasher(t, HasherConfig{MaxConcurrent: 1, QueueTimeout: 20 * time.Millisecond})
	h.sem <- struct{}{} // occupy the only slot
	start := time.Now()
	_, err := h.Hash(context.Background(), "pw")
	require.ErrorIs(t, err, ErrBusy)
	require.ErrorIs(t, err, ErrUnavailable)
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = h.Verify(ctx, "pw", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5")
	require.True(t, errors.Is(err, context.Canceled))
	<-h.sem
	_, err = h.Hash(context.Background(), "pw")
	require.NoError(t, err, "a freed slot is usable again")
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"Kate@X.com":               "kate@x.com",
		"  KATE@x.COM ":            "kate@x.com",
		"kate+tag@sub.example.org": "kate+tag@sub.example.org",
		"ｋａｔｅ@example.com":         "kate@example.com",
	} {
		got, err := NormalizeEmail(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{
		"", "kate", "@x.com", "kate@", "kate@x", "kate@@x.com", "Kate <kate@x.com>", "kate@x.com, bob@y.com",
		"kate@x..com", "kate@.x.com", "kate@x.com.", "ka te@x.com", "kate\n@x.com", "\"kate\"@x.com",
		strings.Repeat("a", 65) + "@x.com", "a@" + strings.Repeat("b", 250) + ".com", "kate@x.com\xff",
		"(comment)kate@x.com",
	} {
		_, err := NormalizeEmail(in)
		require.ErrorIs(t, err, ErrInvalidEmail, "%q", in)
	}
}
