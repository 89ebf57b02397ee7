package middleware_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

var b64 = base64.RawURLEncoding

// forger signs tokens the way an attacker who knows the format would,
// with crypto/ed25519, crypto/ecdsa and crypto/hmac directly, holding the
// server's private keys where a row needs a signature that verifies.
type forger struct {
	t      *testing.T
	ed     ed25519.PrivateKey // the server's signing key (EdDSA)
	edKid  string
	es     *ecdsa.PrivateKey // a verify key of the server's key set (ES256)
	esKid  string
	header map[string]any     // the server's header for ed
	claims map[string]any     // the claims of a real access token
	keys   *auth.KeySet       // for the Authenticator
	pubPEM []byte             // the PKIX PEM of the EdDSA public key
	attack ed25519.PrivateKey // the attacker's own key
}

func newForger(t *testing.T) *forger {
	t.Helper()
	f := &forger{t: t}
	var err error
	_, f.ed, err = ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	f.es, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, f.attack, err = ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edKey, err := auth.NewKey("", f.ed)
	require.NoError(t, err)
	esKey, err := auth.NewKey("", f.es)
	require.NoError(t, err)
	f.edKid, f.esKid = edKey.ID(), esKey.ID()
	f.keys, err = auth.NewKeySet(edKey, esKey)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(f.ed.Public())
	require.NoError(t, err)
	f.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	f.header = map[string]any{"alg": "EdDSA", "kid": f.edKid, "typ": "at+jwt"}
	return f
}

// useClaims takes the claims of a server-issued access token as the base
// of the forged ones.
func (f *forger) useClaims(token string) {
	f.claims = decodeSegment(f.t, strings.Split(token, ".")[1])
}

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	raw, err := b64.DecodeString(seg)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep iat's milliseconds exactly
	var m map[string]any
	require.NoError(t, dec.Decode(&m))
	return m
}

func segment(t *testing.T, v any) string {
	t.Helper()
	j, err := json.Marshal(v)
	require.NoError(t, err)
	return b64.EncodeToString(j)
}

// with returns a copy of m with the changes; a nil value deletes the name.
func with(m map[string]any, changes map[string]any) map[string]any {
	out := maps.Clone(m)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// signer signs a JWS signing input.
type signer func(input string) []byte

func (f *forger) edSign(input string) []byte { return ed25519.Sign(f.ed, []byte(input)) }

func (f *forger) attackerSign(input string) []byte { return ed25519.Sign(f.attack, []byte(input)) }

// esSign returns the JWS form of an ES256 signature, r || s (RFC 7518 §3.4).
func (f *forger) esSign(input string) []byte {
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, f.es, digest[:])
	require.NoError(f.t, err)
	return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
}

func hs256(key []byte) signer {
	return func(input string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

// forge returns header.claims.signature, the signature made by sign (nil:
// an empty signature segment).
func (f *forger) forge(header, claims map[string]any, sign signer) string {
	input := segment(f.t, header) + "." + segment(f.t, claims)
	if sign == nil {
		return input + "."
	}
	return input + "." + b64.EncodeToString(sign(input))
}

// valid returns a token that differs from a server-issued one only in
// being forged here: the control that every row's change is measured
// against.
func (f *forger) valid() string { return f.forge(f.header, f.claims, f.edSign) }

// counter is a web server that counts the requests it gets: a key URL an
// attacker planted in a token header (jku, x5u), which must never be
// fetched.
type counter struct {
	*httptest.Server
	hits atomic.Int64
}

func newCounter(t *testing.T, body []byte) *counter {
	c := &counter{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.hits.Add(1)
		_, _ = w.Write(body)
	}))
	t.Cleanup(c.Close)
	return c
}

// attack is one row of TestTokenAttacks: a request that must be refused
// with exactly this status, problem code and challenge.
type attack struct {
	name      string
	token     string
	query     bool // send the token as ?access_token= instead of in the header
	refresh   bool // post the token to the refresh endpoint as a refresh token
	status    int
	code      string
	challenge string
}

// TestTokenAttacks sends each attack on access tokens through the HTTP
// layer to a route behind Authenticate (and, for one row, to the refresh
// endpoint) and checks the exact refusal. Every forged token is valid in
// every respect except the one under test (same claims as a real token,
// signed with the server's own key unless the row is about the
// signature), so a row only passes because that one defence works;
// control tokens forged the same way are accepted by the same route.
// RFC 8725 (JWT BCP) §2 and §3, RFC 7515 §4.1, RFC 9068, OWASP ASVS 5.0
// V9.1, V9.2.
func TestTokenAttacks(t *testing.T) {
	f := newForger(t)
	e := newEnvWith(t, envConfig{cfg: auth.Config{Keys: f.keys}})
	u, pair := e.user(auth.RoleViewer, "")
	f.useClaims(pair.AccessToken)
	now := e.clock.Now()

	whoamiAs := func(token string) *httptest.ResponseRecorder { return e.call("GET", "/test/whoami", token, nil) }
	accepted := func(token, role string) {
		t.Helper()
		w := whoamiOf(t, whoamiAs(token))
		require.Equal(t, u.ID, w.User)
		require.Equal(t, role, w.Role)
	}

	// Controls: the server's token, and tokens forged with the server's
	// EdDSA and ES256 keys, pass.
	accepted(pair.AccessToken, "viewer")
	control := f.valid()
	accepted(control, "viewer")
	esHeader := with(f.header, map[string]any{"alg": "ES256", "kid": f.esKid})
	accepted(f.forge(esHeader, f.claims, f.esSign), "viewer")
	// Also forged with role admin and signed: the signature is all that
	// stands between the tampered row below and an administrator.
	accepted(f.forge(f.header, with(f.claims, map[string]any{"role": "admin"}), f.edSign), "admin")

	// Key-fetching URLs an attacker plants in headers, serving their key.
	attackerKey, err := auth.NewKey("attacker", f.attack)
	require.NoError(t, err)
	attackerJWK, err := attackerKey.MarshalJWK(false)
	require.NoError(t, err)
	var jwkMap map[string]any
	require.NoError(t, json.Unmarshal(attackerJWK, &jwkMap))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, f.attack.Public(), f.attack)
	require.NoError(t, err)
	jku := newCounter(t, []byte(`{"keys":[`+string(attackerJWK)+`]}`))
	x5u := newCounter(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}))
	attackerHeader := func(extra map[string]any) map[string]any {
		return with(with(f.header, map[string]any{"kid": "attacker"}), extra)
	}

	// The malleated-signature row needs a session of its own: revoking the
	// base session would make every other row pass for the wrong reason.
	mPair, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	mClaims := decodeSegment(t, strings.Split(mPair.AccessToken, ".")[1])
	esToken := f.forge(esHeader, mClaims, f.esSign)
	malleated := malleate(t, f, esToken)
	accepted(esToken, "viewer")
	accepted(malleated, "viewer") // s -> n-s is a valid signature too: only revocation stops it
	require.Equal(t, 204, e.call("POST", prefix+"/logout", mPair.AccessToken, nil).Code)

	// An access token and a refresh token of a separate session for the
	// refresh row, whose control is a real refresh.
	rPair, _, err := e.a.Login(context.Background(), auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)

	parts := strings.Split(control, ".")
	// reSig re-encodes control's signature after change, so that the
	// base64 stays valid and only the signature check can refuse it.
	reSig := func(change func([]byte) []byte) string {
		sig, err := b64.DecodeString(parts[2])
		require.NoError(t, err)
		return parts[0] + "." + parts[1] + "." + b64.EncodeToString(change(sig))
	}
	tampered := decodeSegment(t, parts[1])
	tampered["role"] = "admin"
	future := now.Add(5 * time.Minute).Unix() // beyond the 30 s skew
	oversize := f.forge(f.header, with(f.claims, map[string]any{"pad": strings.Repeat("x", auth.DefaultMaxTokenBytes)}), f.edSign)
	require.Greater(t, len(oversize), auth.DefaultMaxTokenBytes)

	const invalid = `Bearer error="invalid_token"`
	rows := []attack{
		{name: "tampered payload (role admin), original signature", token: parts[0] + "." + segment(t, tampered) + "." + parts[2]},
		{name: "signature truncated by a byte", token: reSig(func(sig []byte) []byte { return sig[:len(sig)-1] })},
		{name: "signature extended by a byte", token: reSig(func(sig []byte) []byte { return append(sig, 0) })},
		{name: "four segments", token: control + ".e30"},
		{name: "five segments (JWE shape)", token: control + ".e30.e30"},
		{name: "HS256 keyed with the public key's raw bytes", token: f.forge(with(f.header, map[string]any{"alg": "HS256"}), f.claims, hs256(f.ed.Public().(ed25519.PublicKey)))},
		{name: "HS256 keyed with the public key's PEM", token: f.forge(with(f.header, map[string]any{"alg": "HS256"}), f.claims, hs256(f.pubPEM))},
		{name: "ES256 header on the EdDSA kid, EdDSA signature", token: f.forge(with(f.header, map[string]any{"alg": "ES256"}), f.claims, f.edSign)},
		{name: "RS256 header on the EdDSA kid, EdDSA signature", token: f.forge(with(f.header, map[string]any{"alg": "RS256"}), f.claims, f.edSign)},
		{name: "EdDSA header on the ES256 kid, ES256 signature", token: f.forge(with(esHeader, map[string]any{"alg": "EdDSA"}), f.claims, f.esSign)},
		{name: "all-zero ES256 signature", token: f.forge(esHeader, f.claims, func(string) []byte { return make([]byte, 64) })},
		{name: "malleated ECDSA signature (s -> n-s) of a revoked token", token: malleated},
		{name: "unknown kid", token: f.forge(with(f.header, map[string]any{"kid": "unknown-kid"}), f.claims, f.edSign)},
		{name: "kid path traversal", token: f.forge(with(f.header, map[string]any{"kid": "../../../../../../dev/null"}), f.claims, f.edSign)},
		{name: "kid SQL injection", token: f.forge(with(f.header, map[string]any{"kid": "x' UNION SELECT '" + f.edKid + "' --"}), f.claims, f.edSign)},
		{name: "kid with a NUL suffix", token: f.forge(with(f.header, map[string]any{"kid": f.edKid + "\x00"}), f.claims, f.edSign)},
		{name: "jwk header (attacker's key), server signature", token: f.forge(with(f.header, map[string]any{"jwk": jwkMap}), f.claims, f.edSign)},
		{name: "jwk header, signed with the embedded key", token: f.forge(attackerHeader(map[string]any{"jwk": jwkMap}), f.claims, f.attackerSign)},
		{name: "jku header, server signature", token: f.forge(with(f.header, map[string]any{"jku": jku.URL + "/jwks.json"}), f.claims, f.edSign)},
		{name: "jku header, signed with the served key", token: f.forge(attackerHeader(map[string]any{"jku": jku.URL + "/jwks.json"}), f.claims, f.attackerSign)},
		{name: "x5u header, server signature", token: f.forge(with(f.header, map[string]any{"x5u": x5u.URL + "/cert.pem"}), f.claims, f.edSign)},
		{name: "x5u header, signed with the certified key", token: f.forge(attackerHeader(map[string]any{"x5u": x5u.URL + "/cert.pem"}), f.claims, f.attackerSign)},
		{name: "x5c header, server signature", token: f.forge(with(f.header, map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(certDER)}}), f.claims, f.edSign)},
		{name: "x5c header, signed with the certified key", token: f.forge(attackerHeader(map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(certDER)}}), f.claims, f.attackerSign)},
		{name: "crit with an unknown extension", token: f.forge(with(f.header, map[string]any{"crit": []string{"urn:example:ext"}, "urn:example:ext": true}), f.claims, f.edSign)},
		{name: "typ JWT", token: f.forge(with(f.header, map[string]any{"typ": "JWT"}), f.claims, f.edSign)},
		{name: "typ missing", token: f.forge(with(f.header, map[string]any{"typ": nil}), f.claims, f.edSign)},
		{name: "exp missing", token: f.forge(f.header, with(f.claims, map[string]any{"exp": nil}), f.edSign)},
		{name: "exp 0", token: f.forge(f.header, with(f.claims, map[string]any{"exp": 0}), f.edSign)},
		{name: "exp a string", token: f.forge(f.header, with(f.claims, map[string]any{"exp": f.claims["exp"].(json.Number).String()}), f.edSign)},
		{name: "exp passed, beyond the skew", token: f.forge(f.header, with(f.claims, map[string]any{"exp": now.Add(-time.Minute).Unix()}), f.edSign),
			code: "token_expired"},
		{name: "nbf in the future, beyond the skew", token: f.forge(f.header, with(f.claims, map[string]any{"nbf": future}), f.edSign)},
		{name: "iat in the future, beyond the skew", token: f.forge(f.header, with(f.claims, map[string]any{"iat": future}), f.edSign)},
		{name: "wrong aud", token: f.forge(f.header, with(f.claims, map[string]any{"aud": "another-service"}), f.edSign)},
		{name: "wrong aud in a list", token: f.forge(f.header, with(f.claims, map[string]any{"aud": []string{"another-service"}}), f.edSign)},
		{name: "wrong iss", token: f.forge(f.header, with(f.claims, map[string]any{"iss": "https://evil.example"}), f.edSign)},
		{name: "refresh token as access token", token: pair.RefreshToken},
		{name: "access token posted as refresh token", token: rPair.AccessToken, refresh: true},
		{name: "100,000-dot token", token: strings.Repeat(".", 100_000)},
		{name: "signed token over the size cap", token: oversize},
		{name: "token in the query string", token: control, query: true,
			status: 400, code: "invalid_request", challenge: `Bearer error="invalid_request"`},
	}
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		h := with(f.header, map[string]any{"alg": alg})
		rows = append(rows,
			attack{name: "alg " + alg + " without signature", token: f.forge(h, f.claims, nil)},
			attack{name: "alg " + alg + " with the server's signature", token: f.forge(h, f.claims, f.edSign)})
	}

	for _, a := range rows {
		t.Run(a.name, func(t *testing.T) {
			if a.status == 0 {
				a.status = http.StatusUnauthorized
			}
			if a.code == "" {
				a.code = "invalid_token"
			}
			if a.challenge == "" {
				a.challenge = invalid
			}
			var rec *httptest.ResponseRecorder
			switch {
			case a.refresh:
				rec = e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": a.token})
			case a.query:
				rec = e.call("GET", "/test/whoami?access_token="+a.token, "", nil)
			default:
				rec = whoamiAs(a.token)
			}
			problem(t, rec, a.status, a.code)
			require.Equal(t, a.challenge, rec.Header().Get("WWW-Authenticate"))
			if len(a.token) > 16 {
				require.NotContains(t, rec.Body.String(), a.token, "the token is never echoed")
			}
		})
	}

	require.Zero(t, jku.hits.Load(), "a jku URL was fetched")
	require.Zero(t, x5u.hits.Load(), "an x5u URL was fetched")
	// The controls still pass after every row: no row succeeded by
	// revoking or locking something.
	accepted(control, "viewer")
	accepted(pair.AccessToken, "viewer")
	var rb tokenBody
	decodeJSON(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": rPair.RefreshToken}), 200, &rb)
	require.NotEmpty(t, rb.AccessToken, "the refresh row's control")
	require.NotContains(t, e.logs.String(), control, "tokens are never logged")
}

// malleate returns token with its ES256 signature (r, s) replaced by
// (r, n-s), which verifies just as well (ECDSA signatures are malleable);
// it checks that it does.
func malleate(t *testing.T, f *forger, token string) string {
	t.Helper()
	i := strings.LastIndexByte(token, '.')
	sig, err := b64.DecodeString(token[i+1:])
	require.NoError(t, err)
	require.Len(t, sig, 64)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	ns := new(big.Int).Sub(elliptic.P256().Params().N, s)
	digest := sha256.Sum256([]byte(token[:i]))
	require.True(t, ecdsa.Verify(&f.es.PublicKey, digest[:], r, ns), "n-s must verify, or the row proves nothing")
	out := token[:i] + "." + b64.EncodeToString(append(r.FillBytes(make([]byte, 32)), ns.FillBytes(make([]byte, 32))...))
	require.NotEqual(t, token, out)
	return out
}
