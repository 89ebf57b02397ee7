package auth

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/stretchr/testify/require"
)

// FuzzParseAccessToken feeds arbitrary strings to the token parser. Besides
// never panicking, anything it accepts must carry a signature that jwx's
// own verifier accepts with the same key and algorithm, and claims that
// pass our rules: a differential check against an independent JWS
// implementation. The seeds run in every go test.
func FuzzParseAccessToken(f *testing.F) {
	ed, err := GenerateKey(EdDSA)
	require.NoError(f, err)
	hs, err := NewHMACKey("hs", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(f, err)
	ks, err := NewKeySet(ed, hs)
	require.NoError(f, err)
	rules := testRules()
	none := func(map[string]any) {}
	valid := forge(f, ed, mustJSON(f, validHeader(ed)), mustJSON(f, validClaims()))
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid,
		forge(f, hs, mustJSON(f, validHeader(hs)), mustJSON(f, validClaims())),
		forge(f, ed, mustJSON(f, mutate(validHeader(ed), func(m map[string]any) { m["crit"] = []string{"x"} })), mustJSON(f, validClaims())),
		forge(f, ed, mustJSON(f, validHeader(ed)), mustJSON(f, mutate(validClaims(), func(m map[string]any) { m["exp"] = "1" }))),
		forge(f, ed, mustJSON(f, validHeader(ed)), mustJSON(f, mutate(validClaims(), none))),
		b64([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		parts[0] + "." + parts[1],
		valid + ".",
		"",
		".",
		"..",
		strings.Repeat("A", 100) + "." + strings.Repeat("B", 100) + "." + strings.Repeat("C", 100),
		"eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := parseAccessToken(ks, rules, token, testNow)
		if err != nil {
			require.Nil(t, c)
			require.ErrorIs(t, err, ErrInvalidToken)
			return
		}
		require.NotEmpty(t, c.UserID)
		require.NotEmpty(t, c.TokenID)
		require.True(t, testNow.Before(c.ExpiresAt.Add(rules.skew)))
		k, err := ks.headerKey(token[:strings.IndexByte(token, '.')])
		require.NoError(t, err)
		alg, ok := jwa.LookupSignatureAlgorithm(string(k.alg))
		require.True(t, ok)
		_, err = jws.Verify([]byte(token), jws.WithKey(alg, k.public))
		require.NoError(t, err, "jwx must agree the signature is valid")
	})
}

// FuzzPasswordPolicy checks that the policy never panics, and that an
// accepted password is valid UTF-8 within the byte cap.
func FuzzPasswordPolicy(f *testing.F) {
	for _, s := range []string{"", "password", "correct horse battery staple", "\xff\xfe", "ｐａｓｓｗｏｒｄ", strings.Repeat("é", 300), "kate@example.com"} {
		f.Add(s, "kate@example.com")
	}
	f.Fuzz(func(t *testing.T, pw, email string) {
		err := PasswordPolicy{}.Check(pw, email)
		if err == nil {
			require.LessOrEqual(t, len(pw), MaxPasswordBytes)
		} else {
			require.ErrorIs(t, err, ErrPasswordPolicy)
		}
	})
}

// FuzzNormalizeEmail checks that normalisation is idempotent and that its
// output is bounded.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Kate@X.com", "a@b.c", "Kate <kate@x.com>", "\"a b\"@x.com", "ｋａｔｅ@example.com", "a@b@c.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeEmail(in)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidEmail)
			return
		}
		require.LessOrEqual(t, len(out), MaxEmailBytes)
		again, err := NormalizeEmail(out)
		require.NoError(t, err)
		require.Equal(t, out, again)
	})
}

// FuzzParseTicket feeds arbitrary strings to the MFA ticket parser: it
// never panics, and what it accepts is short, names valid methods, and
// hashes to the SHA-256 of exactly the presented bytes (so the methods in
// the prefix cannot be altered without changing the stored hash). Tickets
// it made itself always parse back to their methods.
func FuzzParseTicket(f *testing.F) {
	for _, s := range []string{"pwd.", "pwd." + strings.Repeat("A", 43), "pwd-fed." + strings.Repeat("b", 43), ".x", "", "PWD." + strings.Repeat("A", 43), strings.Repeat("a", 200)} {
		f.Add(s)
	}
	good, _, err := newTicket([]Method{MethodPassword})
	require.NoError(f, err)
	f.Add(good)
	f.Fuzz(func(t *testing.T, s string) {
		methods, hash, ok := parseTicket(s)
		if !ok {
			return
		}
		require.LessOrEqual(t, len(s), MaxMFATicketBytes)
		require.NotEmpty(t, methods)
		for _, m := range methods {
			require.True(t, validMethod(m), "method %q", m)
		}
		want := sha256.Sum256([]byte(s))
		require.Equal(t, want[:], hash)
		if len(methods) == 1 {
			made, madeHash, err := newTicket(methods)
			require.NoError(t, err)
			back, backHash, ok := parseTicket(made)
			require.True(t, ok)
			require.Equal(t, methods, back)
			require.Equal(t, madeHash, backHash)
		}
	})
}
