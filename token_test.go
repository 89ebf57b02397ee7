package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func testRules() *tokenRules {
	return &tokenRules{issuer: "https://issuer.example", audience: "api", skew: 30 * time.Second, maxBytes: DefaultMaxTokenBytes}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// validClaims returns claims that pass every check at testNow.
func validClaims() map[string]any {
	return map[string]any{
		"iss": "https://issuer.example", "aud": "api", "sub": "0190f1e2-0000-7000-8000-000000000001",
		"exp": testNow.Add(10 * time.Minute).Unix(), "nbf": testNow.Unix(), "iat": testNow.Unix(),
		"jti": "jti-1", "sid": "0190f1e2-0000-7000-8000-000000000002", "tid": DefaultTenantID, "role": "viewer",
	}
}

func validHeader(k *Key) map[string]any {
	return map[string]any{"alg": string(k.alg), "kid": k.id, "typ": "at+jwt"}
}

// forge builds a compact JWS from raw header and claims JSON, signed by k
// (or with sig if k is nil).
func forge(t testing.TB, k *Key, header, claims []byte) string {
	t.Helper()
	input := b64(header) + "." + b64(claims)
	sig, err := signRaw(k, []byte(input))
	require.NoError(t, err)
	return input + "." + b64(sig)
}

func signRaw(k *Key, input []byte) ([]byte, error) {
	switch s := k.signer.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(s, input), nil
	case []byte:
		m := hmac.New(sha256.New, s)
		m.Write(input)
		return m.Sum(nil), nil
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(input)
		r, ss, err := ecdsa.Sign(rand.Reader, s, h[:])
		if err != nil {
			return nil, err
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		ss.FillBytes(out[32:])
		return out, nil
	}
	return nil, errors.New("unsupported key in test")
}

func mutate(m map[string]any, f func(map[string]any)) map[string]any {
	c := map[string]any{}
	for k, v := range m {
		c[k] = v
	}
	f(c)
	return c
}

// TestAccessTokenRejections has one row per check of parseAccessToken. Each
// forged token is correctly signed and valid in every other respect, so a
// row fails (the token is accepted, or rejected for another reason) if its
// check is removed.
func TestAccessTokenRejections(t *testing.T) {
	ed, err := GenerateKey(EdDSA)
	require.NoError(t, err)
	es, err := GenerateKey(ES256)
	require.NoError(t, err)
	ks, err := NewKeySet(ed, es)
	require.NoError(t, err)
	rules := testRules()
	hdr := func(f func(map[string]any)) []byte { return mustJSON(t, mutate(validHeader(ed), f)) }
	cl := func(f func(map[string]any)) []byte { return mustJSON(t, mutate(validClaims(), f)) }
	none := func(map[string]any) {}
	valid := forge(t, ed, hdr(none), cl(none))
	parts := strings.Split(valid, ".")
	pubAsHMAC := &Key{signer: []byte(ed.public.(ed25519.PublicKey))}

	rows := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", errTokenEmpty},
		{"over the size cap", valid + strings.Repeat("A", DefaultMaxTokenBytes), errTokenSize},
		{"100000 dots", strings.Repeat(".", 100000), errTokenSize},
		{"two segments", parts[0] + "." + parts[1], errTokenSegments},
		{"four segments", valid + "." + parts[2], errTokenSegments},
		{"empty signature segment", parts[0] + "." + parts[1] + ".", errTokenSegments},
		{"JSON serialisation", string(mustJSON(t, map[string]any{"payload": parts[1], "protected": parts[0], "signature": parts[2]})), errTokenSegments},
		{"header not base64url", "!!!." + parts[1] + "." + parts[2], errTokenHeader},
		{"header not an object", b64([]byte(`["alg"]`)) + "." + parts[1] + "." + parts[2], errTokenHeader},
		{"header trailing data", forge(t, ed, append(hdr(none), []byte(` {}`)...), cl(none)), errTokenHeader},
		{"alg none", b64(hdr(func(m map[string]any) { m["alg"] = "none" })) + "." + parts[1] + ".", errTokenSegments},
		{"alg none with signature", b64(hdr(func(m map[string]any) { m["alg"] = "none" })) + "." + parts[1] + "." + parts[2], errTokenAlg},
		{"alg NONE", b64(hdr(func(m map[string]any) { m["alg"] = "NONE" })) + "." + parts[1] + "." + parts[2], errTokenAlg},
		{"alg nOnE", b64(hdr(func(m map[string]any) { m["alg"] = "nOnE" })) + "." + parts[1] + "." + parts[2], errTokenAlg},
		{"alg swapped to ES256 on an EdDSA kid", forge(t, ed, hdr(func(m map[string]any) { m["alg"] = "ES256" }), cl(none)), errTokenAlg},
		{"alg eddsa (case)", forge(t, ed, hdr(func(m map[string]any) { m["alg"] = "eddsa" }), cl(none)), errTokenAlg},
		{"HS256 signed with the public key", forge(t, pubAsHMAC, hdr(func(m map[string]any) { m["alg"] = "HS256" }), cl(none)), errTokenAlg},
		{"alg missing", forge(t, ed, hdr(func(m map[string]any) { delete(m, "alg") }), cl(none)), errTokenAlg},
		{"alg not a string", forge(t, ed, hdr(func(m map[string]any) { m["alg"] = 1 }), cl(none)), errTokenHeader},
		{"unknown kid", forge(t, ed, hdr(func(m map[string]any) { m["kid"] = "someone-else" }), cl(none)), errTokenKid},
		{"injected kid", forge(t, ed, hdr(func(m map[string]any) { m["kid"] = "../../dev/null' OR '1'='1" }), cl(none)), errTokenKid},
		{"kid missing", forge(t, ed, hdr(func(m map[string]any) { delete(m, "kid") }), cl(none)), errTokenKid},
		{"typ JWT", forge(t, ed, hdr(func(m map[string]any) { m["typ"] = "JWT" }), cl(none)), errTokenTyp},
		{"typ missing", forge(t, ed, hdr(func(m map[string]any) { delete(m, "typ") }), cl(none)), errTokenTyp},
		{"crit header", forge(t, ed, hdr(func(m map[string]any) { m["crit"] = []string{"exp"} }), cl(none)), errTokenHeaderExt},
		{"jwk header", forge(t, ed, hdr(func(m map[string]any) { m["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "AA"} }), cl(none)), errTokenHeaderExt},
		{"jku header", forge(t, ed, hdr(func(m map[string]any) { m["jku"] = "http://127.0.0.1:1/jwks.json" }), cl(none)), errTokenHeaderExt},
		{"x5u header", forge(t, ed, hdr(func(m map[string]any) { m["x5u"] = "http://127.0.0.1:1/cert.pem" }), cl(none)), errTokenHeaderExt},
		{"x5c header", forge(t, ed, hdr(func(m map[string]any) { m["x5c"] = []string{"MIIB"} }), cl(none)), errTokenHeaderExt},
		{"b64 header", forge(t, ed, hdr(func(m map[string]any) { m["b64"] = false }), cl(none)), errTokenHeaderExt},
		{"signature of another key", forge(t, es, hdr(none), cl(none)), errTokenSig},
		{"payload tampered", parts[0] + "." + b64(cl(func(m map[string]any) { m["role"] = "admin" })) + "." + parts[2], errTokenSig},
		{"signature truncated", valid[:len(valid)-4], errTokenSig},
		{"signature extended", valid + "AAAA", errTokenSig},
		{"signature not base64url", valid[:len(valid)-1] + "*", errTokenSig},
		{"signature too long to decode", parts[0] + "." + parts[1] + "." + strings.Repeat("A", 1000), errTokenSig},
		{"all-zero ES256 signature", b64(mustJSON(t, validHeader(es))) + "." + parts[1] + "." + b64(make([]byte, 64)), errTokenSig},
		{"claims not JSON", forge(t, ed, hdr(none), []byte("not json")), errTokenPayload},
		{"claims an array", forge(t, ed, hdr(none), []byte(`[]`)), errTokenPayload},
		{"exp missing", forge(t, ed, hdr(none), cl(func(m map[string]any) { delete(m, "exp") })), errTokenExp},
		{"exp zero", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["exp"] = 0 })), errTokenExp},
		{"exp negative", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["exp"] = -1 })), errTokenExp},
		{"exp a string", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["exp"] = "9999999999" })), errTokenPayload},
		{"exp null", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["exp"] = nil })), errTokenExp},
		{"expired", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["exp"] = testNow.Add(-31 * time.Second).Unix() })), ErrTokenExpired},
		{"nbf in the future", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["nbf"] = testNow.Add(31 * time.Second).Unix() })), errTokenNbf},
		{"iat in the future", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["iat"] = testNow.Add(31 * time.Second).Unix() })), errTokenIat},
		{"wrong iss", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["iss"] = "https://evil.example" })), errTokenIss},
		{"wrong aud", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["aud"] = "other-api" })), errTokenAud},
		{"aud missing", forge(t, ed, hdr(none), cl(func(m map[string]any) { delete(m, "aud") })), errTokenAud},
		{"sub missing", forge(t, ed, hdr(none), cl(func(m map[string]any) { delete(m, "sub") })), errTokenSubject},
		{"sid missing", forge(t, ed, hdr(none), cl(func(m map[string]any) { delete(m, "sid") })), errTokenSubject},
		{"tid missing", forge(t, ed, hdr(none), cl(func(m map[string]any) { delete(m, "tid") })), errTokenSubject},
		{"jti missing", forge(t, ed, hdr(none), cl(func(m map[string]any) { delete(m, "jti") })), errTokenSubject},
		{"role missing", forge(t, ed, hdr(none), cl(func(m map[string]any) { delete(m, "role") })), errTokenSubject},
		{"iat missing", forge(t, ed, hdr(none), cl(func(m map[string]any) { delete(m, "iat") })), errTokenSubject},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c, err := parseAccessToken(ks, rules, r.token, testNow)
			require.Nil(t, c)
			require.ErrorIs(t, err, r.want)
			require.ErrorIs(t, err, ErrInvalidToken)
			require.Equal(t, r.want.Error(), err.Error(), "rejected for this reason and no other")
		})
	}

	accepted := []struct {
		name  string
		token string
	}{
		{"valid", valid},
		{"header in another key order (strict decoder)", forge(t, ed, []byte(`{"typ":"at+jwt","kid":"`+ed.id+`","alg":"EdDSA"}`), cl(none))},
		{"typ application/at+jwt", forge(t, ed, hdr(func(m map[string]any) { m["typ"] = "application/at+jwt" }), cl(none))},
		{"ES256", forge(t, es, mustJSON(t, validHeader(es)), cl(none))},
		{"aud as an array", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["aud"] = []string{"x", "api"} }))},
		{"nbf within skew", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["nbf"] = testNow.Add(29 * time.Second).Unix() }))},
		{"expired within skew", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["exp"] = testNow.Add(-29 * time.Second).Unix() }))},
		{"fractional iat", forge(t, ed, hdr(none), cl(func(m map[string]any) { m["iat"] = float64(testNow.UnixMilli()-1) / 1000 }))},
	}
	for _, r := range accepted {
		t.Run("accepts "+r.name, func(t *testing.T) {
			c, err := parseAccessToken(ks, rules, r.token, testNow)
			require.NoError(t, err)
			require.Equal(t, "0190f1e2-0000-7000-8000-000000000001", c.UserID)
		})
	}
}

func TestMaliciousTokensAreCheap(t *testing.T) {
	k, err := GenerateKey(EdDSA)
	require.NoError(t, err)
	ks, err := NewKeySet(k)
	require.NoError(t, err)
	rules := testRules()
	dots := strings.Repeat(".", 100000)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = parseAccessToken(ks, rules, dots, testNow)
	})
	require.Zero(t, allocs, "an oversized token is refused before any work")
}

func TestIssueAndVerifyRoundTrip(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, ES256, RS256, HS256} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := GenerateKey(alg)
			require.NoError(t, err)
			ks, err := NewKeySet(k)
			require.NoError(t, err)
			in := &Claims{
				UserID: "u", TenantID: "t", SessionID: "s", TokenID: newTokenID(testNow.Add(123 * time.Millisecond)), Role: RoleEditor,
				Issuer: "https://issuer.example", Audience: []string{"api"},
				IssuedAt: testNow.Add(123 * time.Millisecond), NotBefore: testNow, ExpiresAt: testNow.Add(time.Minute),
			}
			tok, err := signAccessToken(k, in)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(tok, k.header+"."), "the header is the pre-computed one")
			out, err := parseAccessToken(ks, testRules(), tok, testNow.Add(time.Second))
			require.NoError(t, err)
			require.Equal(t, in, out, "the millisecond of issue comes back from the jti")
		})
	}
}

// TestInteropWithJWX checks that tokens issued here are standard: jwx's own
// jwt.Parse verifies them against the published JWKS, and a token signed by
// jwx with our header verifies here.
func TestInteropWithJWX(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, ES256, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := GenerateKey(alg)
			require.NoError(t, err)
			ks, err := NewKeySet(k)
			require.NoError(t, err)
			now := time.Now().Truncate(time.Millisecond)
			tok, err := signAccessToken(k, &Claims{
				UserID: "u", TenantID: "t", SessionID: "s", TokenID: "j", Role: RoleViewer,
				Issuer: "iss", Audience: []string{"aud"}, IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(time.Minute),
			})
			require.NoError(t, err)
			set, err := ks.JWKS()
			require.NoError(t, err)
			jset, err := jwk.Parse(set)
			require.NoError(t, err)
			parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(jset), jwt.WithIssuer("iss"), jwt.WithAudience("aud"), jwt.WithValidate(true))
			require.NoError(t, err)
			sub, _ := parsed.Subject()
			require.Equal(t, "u", sub)

			// And the other way round.
			jk, err := k.jwk(true)
			require.NoError(t, err)
			hdrs := jws.NewHeaders()
			require.NoError(t, hdrs.Set(jws.KeyIDKey, k.id))
			require.NoError(t, hdrs.Set(jws.TypeKey, "at+jwt"))
			payload := mustJSON(t, map[string]any{"iss": "iss", "aud": "aud", "sub": "u2", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": "j", "sid": "s", "tid": "t", "role": "viewer"})
			jalg, _ := jwa.LookupSignatureAlgorithm(string(alg))
			signed, err := jws.Sign(payload, jws.WithKey(jalg, jk, jws.WithProtectedHeaders(hdrs)))
			require.NoError(t, err)
			c, err := parseAccessToken(ks, &tokenRules{issuer: "iss", audience: "aud", skew: time.Second, maxBytes: DefaultMaxTokenBytes}, string(signed), now)
			require.NoError(t, err)
			require.Equal(t, "u2", c.UserID)
		})
	}
}

func TestKeyRotation(t *testing.T) {
	old, err := GenerateKey(EdDSA)
	require.NoError(t, err)
	next, err := GenerateKey(EdDSA)
	require.NoError(t, err)
	claims := &Claims{UserID: "u", TenantID: "t", SessionID: "s", TokenID: "j", Role: RoleViewer, Issuer: "https://issuer.example", Audience: []string{"api"}, IssuedAt: testNow, NotBefore: testNow, ExpiresAt: testNow.Add(time.Minute)}
	oldTok, err := signAccessToken(old, claims)
	require.NoError(t, err)

	rotated, err := NewKeySet(next, old)
	require.NoError(t, err)
	require.Equal(t, next, rotated.SigningKey())
	_, err = parseAccessToken(rotated, testRules(), oldTok, testNow)
	require.NoError(t, err, "tokens of the previous key verify during rotation")
	newTok, err := signAccessToken(rotated.SigningKey(), claims)
	require.NoError(t, err)
	_, err = parseAccessToken(rotated, testRules(), newTok, testNow)
	require.NoError(t, err)

	retired, err := NewKeySet(next)
	require.NoError(t, err)
	_, err = parseAccessToken(retired, testRules(), oldTok, testNow)
	require.ErrorIs(t, err, errTokenKid, "once the old key is removed its tokens fail")
	_, err = parseAccessToken(retired, testRules(), newTok, testNow)
	require.NoError(t, err)

	_, err = NewKeySet(next, next)
	require.Error(t, err, "duplicate kid")
	pub, err := NewKey("", next.public)
	require.NoError(t, err)
	_, err = NewKeySet(pub)
	require.Error(t, err, "a verify-only key cannot sign")
}

func TestHeaderCacheMatchesStrictDecoder(t *testing.T) {
	var keys []*Key
	for _, alg := range []Algorithm{EdDSA, ES256, RS256, HS256} {
		k, err := GenerateKey(alg)
		require.NoError(t, err)
		keys = append(keys, k)
	}
	ks, err := NewKeySet(keys[0], keys[1:]...)
	require.NoError(t, err)
	for hdr, k := range ks.byHeader {
		got, err := ks.decodeHeader(hdr)
		require.NoError(t, err)
		require.Same(t, k, got)
	}
}

func TestRefreshTokenFormat(t *testing.T) {
	tok, hash, err := newRefreshToken()
	require.NoError(t, err)
	require.Len(t, tok, refreshTokenLen)
	h, ok := hashRefreshToken(tok)
	require.True(t, ok)
	require.Equal(t, hash, h)
	sum := sha256.Sum256([]byte(tok))
	require.Equal(t, sum[:], hash, "only the SHA-256 of the token is stored")
	tok2, _, err := newRefreshToken()
	require.NoError(t, err)
	require.NotEqual(t, tok, tok2)
	for _, bad := range []string{"", tok[:42], tok + "A", strings.Repeat("*", 43), tok[:42] + "=", "eyJhbGciOiJFZERTQSJ9.e30.sig"} {
		_, ok := hashRefreshToken(bad)
		require.False(t, ok, bad)
	}
}

func TestKeySizeBounds(t *testing.T) {
	for _, bits := range []int{1024, 4608} {
		priv, err := rsa.GenerateKey(rand.Reader, bits)
		require.NoError(t, err)
		_, err = NewKey("", priv)
		require.Error(t, err, "%d-bit RSA", bits)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, err = NewKey("", ec384)
	require.Error(t, err, "only P-256")
	_, err = NewHMACKey("short", make([]byte, 31))
	require.Error(t, err)
	_, err = NewHMACKey("", make([]byte, 32))
	require.Error(t, err, "HS256 needs an explicit kid")
}

// TestIssuedAtIsWholeSeconds: iat is an integer NumericDate like exp and
// nbf; the millisecond of issue is read from a UUIDv7 jti only when that
// agrees with iat.
func TestIssuedAtIsWholeSeconds(t *testing.T) {
	k, err := GenerateKey(EdDSA)
	require.NoError(t, err)
	ks, err := NewKeySet(k)
	require.NoError(t, err)
	at := testNow.Add(987 * time.Millisecond)
	for _, tc := range []struct {
		name, jti string
		want      time.Time
	}{
		{"v7 jti", newTokenID(at), at},
		{"other jti", "j", testNow},
		{"v4 jti", "3b241101-e2bb-4255-8caf-4136c566a962", testNow},
		{"v7 jti of another second", newTokenID(at.Add(-time.Second)), testNow},
		{"v7 jti with upper case", strings.ToUpper(newTokenID(at)), testNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Claims{UserID: "u", TenantID: "t", SessionID: "s", TokenID: tc.jti, Role: RoleViewer, Issuer: "https://issuer.example",
				Audience: []string{"api"}, IssuedAt: at, NotBefore: at, ExpiresAt: at.Add(time.Minute)}
			tok, err := signAccessToken(k, c)
			require.NoError(t, err)
			payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			require.NoError(t, err)
			var raw map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(payload, &raw))
			for _, claim := range []string{"iat", "exp", "nbf"} {
				require.Regexp(t, `^[0-9]+$`, string(raw[claim]), "%s is an integer NumericDate", claim)
			}
			require.Equal(t, strconv.FormatInt(at.Unix(), 10), string(raw["iat"]))
			out, err := parseAccessToken(ks, testRules(), tok, testNow.Add(time.Second))
			require.NoError(t, err)
			require.Equal(t, tc.want, out.IssuedAt)
		})
	}
	id := newTokenID(at)
	u, err := uuid.Parse(id)
	require.NoError(t, err)
	require.Equal(t, uuid.Version(7), u.Version())
	require.Equal(t, uuid.RFC4122, u.Variant())
	sec, nsec := u.Time().UnixTime()
	require.Equal(t, at, time.Unix(sec, nsec).UTC())
}
