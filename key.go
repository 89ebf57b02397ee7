package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Algorithm is a JWS signature algorithm (RFC 7518, RFC 8037).
type Algorithm string

// Supported algorithms. A key is pinned to exactly one of them; the alg in
// a token header must equal its key's algorithm (RFC 8725 §3.1).
const (
	EdDSA Algorithm = "EdDSA" // Ed25519; the default
	ES256 Algorithm = "ES256" // ECDSA P-256 with SHA-256
	RS256 Algorithm = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 bits or more
	HS256 Algorithm = "HS256" // HMAC SHA-256, secrets of 32 bytes or more
)

const (
	minRSABits     = 2048
	maxRSABits     = 4096 // signatures fit the verifier's fixed buffer
	minHMACKeySize = 32
)

// Key is a signing or verification key pinned to one algorithm and named by
// a key ID (kid). A Key is immutable and safe for concurrent use.
type Key struct {
	id     string
	alg    Algorithm
	signer any // ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey, []byte; nil if verify-only
	public any // ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey, []byte (HMAC)
	header string
}

// ID returns the key ID.
func (k *Key) ID() string { return k.id }

// Algorithm returns the algorithm the key is pinned to.
func (k *Key) Algorithm() Algorithm { return k.alg }

// CanSign reports whether the key holds private (or secret) material.
func (k *Key) CanSign() bool { return k.signer != nil }

// GenerateKey returns a new random key for alg (EdDSA, ES256 or RS256 with
// 3072 bits; HS256 with 32 random bytes). Its ID is the RFC 7638 thumbprint
// of the public key, or a random value for HS256.
func GenerateKey(alg Algorithm) (*Key, error) {
	var priv any
	var err error
	switch alg {
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case HS256:
		secret := make([]byte, minHMACKeySize)
		if _, err = rand.Read(secret); err != nil {
			break
		}
		id := make([]byte, 12)
		if _, err = rand.Read(id); err != nil {
			break
		}
		return NewHMACKey(base64.RawURLEncoding.EncodeToString(id), secret)
	default:
		return nil, fmt.Errorf("auth: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: generating %s key: %w", alg, err)
	}
	return NewKey("", priv)
}

// NewHMACKey returns an HS256 key. The secret must be at least 32 bytes of
// random data (RFC 7518 §3.2) and the id must be non-empty: a thumbprint of
// a secret would leak a hash of it. HS256 keys are never published in JWKS.
func NewHMACKey(id string, secret []byte) (*Key, error) {
	if len(secret) < minHMACKeySize {
		return nil, fmt.Errorf("auth: HS256 secret must be at least %d bytes", minHMACKeySize)
	}
	if id == "" {
		return nil, errors.New("auth: HS256 key needs an explicit key ID")
	}
	s := slices.Clone(secret)
	return finishKey(&Key{id: id, alg: HS256, signer: s, public: s})
}

// NewKey wraps a crypto key: ed25519.PrivateKey or PublicKey (EdDSA),
// *ecdsa.PrivateKey or *PublicKey on P-256 (ES256), *rsa.PrivateKey or
// *PublicKey of at least 2048 bits (RS256). Public keys make verify-only
// keys. An empty id becomes the RFC 7638 thumbprint.
func NewKey(id string, key any) (*Key, error) {
	k := &Key{id: id}
	switch v := key.(type) {
	case ed25519.PrivateKey:
		if len(v) != ed25519.PrivateKeySize {
			return nil, errors.New("auth: malformed Ed25519 private key")
		}
		k.alg, k.signer, k.public = EdDSA, v, v.Public()
	case ed25519.PublicKey:
		if len(v) != ed25519.PublicKeySize {
			return nil, errors.New("auth: malformed Ed25519 public key")
		}
		k.alg, k.public = EdDSA, v
	case *ecdsa.PrivateKey:
		k.alg, k.signer, k.public = ES256, v, &v.PublicKey
	case *ecdsa.PublicKey:
		k.alg, k.public = ES256, v
	case *rsa.PrivateKey:
		k.alg, k.signer, k.public = RS256, v, &v.PublicKey
	case *rsa.PublicKey:
		k.alg, k.public = RS256, v
	default:
		return nil, fmt.Errorf("auth: unsupported key type %T", key)
	}
	switch pub := k.public.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, errors.New("auth: ECDSA keys must be on P-256 (ES256)")
		}
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits || pub.N.BitLen() > maxRSABits {
			return nil, fmt.Errorf("auth: RSA keys must be %d to %d bits", minRSABits, maxRSABits)
		}
	}
	if k.id == "" {
		jk, err := jwk.Import(k.public)
		if err != nil {
			return nil, fmt.Errorf("auth: importing key: %w", err)
		}
		tp, err := jk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("auth: key thumbprint: %w", err)
		}
		k.id = base64.RawURLEncoding.EncodeToString(tp)
	}
	return finishKey(k)
}

func finishKey(k *Key) (*Key, error) {
	if len(k.id) > 128 || strings.ContainsFunc(k.id, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) {
		return nil, errors.New("auth: key ID must be at most 128 printable ASCII characters without quotes")
	}
	hdr, err := json.Marshal(struct {
		Alg Algorithm `json:"alg"`
		Kid string    `json:"kid"`
		Typ string    `json:"typ"`
	}{k.alg, k.id, accessTokenType})
	if err != nil {
		return nil, err
	}
	k.header = base64.RawURLEncoding.EncodeToString(hdr)
	return k, nil
}

// ParseKey reads a key from a JWK (JSON object) or a PEM block (PKCS#8,
// PKCS#1, SEC 1 or PKIX public key). A JWK's "kid" is kept; a JWK "alg" must
// match the key type; HS256 keys ("kty":"oct") need a "kid". A PEM key gets
// its thumbprint as ID.
func ParseKey(data []byte) (*Key, error) {
	data = []byte(strings.TrimSpace(string(data)))
	if strings.HasPrefix(string(data), "-----BEGIN") {
		jk, err := jwk.ParseKey(data, jwk.WithPEM(true))
		if err != nil {
			return nil, errors.New("auth: unreadable PEM key")
		}
		var raw any
		if err := jwk.Export(jk, &raw); err != nil {
			return nil, errors.New("auth: unsupported PEM key")
		}
		return NewKey("", raw)
	}
	jk, err := jwk.ParseKey(data)
	if err != nil {
		return nil, errors.New("auth: unreadable JWK")
	}
	kid, _ := jk.KeyID()
	var raw any
	if err := jwk.Export(jk, &raw); err != nil {
		return nil, errors.New("auth: unsupported JWK")
	}
	var k *Key
	if secret, ok := raw.([]byte); ok {
		k, err = NewHMACKey(kid, secret)
	} else {
		k, err = NewKey(kid, raw)
	}
	if err != nil {
		return nil, err
	}
	if alg, ok := jk.Algorithm(); ok && alg.String() != string(k.alg) {
		return nil, fmt.Errorf("auth: JWK alg %q does not match its key type (%s)", alg.String(), k.alg)
	}
	return k, nil
}

// MarshalJWK returns the key as a JWK with "kid" and "alg". With private
// set, the private or secret material is included: store that output like
// a password (file mode 0600, a secrets manager).
func (k *Key) MarshalJWK(private bool) ([]byte, error) {
	jk, err := k.jwk(private)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jk)
}

func (k *Key) jwk(private bool) (jwk.Key, error) {
	src := k.public
	if private {
		if k.signer == nil {
			return nil, errors.New("auth: key has no private part")
		}
		src = k.signer
	}
	jk, err := jwk.Import(src)
	if err != nil {
		return nil, fmt.Errorf("auth: exporting key: %w", err)
	}
	alg, ok := jwa.LookupSignatureAlgorithm(string(k.alg))
	if !ok {
		return nil, fmt.Errorf("auth: unsupported algorithm %q", k.alg)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: k.id, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := jk.Set(name, v); err != nil {
			return nil, fmt.Errorf("auth: exporting key: %w", err)
		}
	}
	return jk, nil
}

// KeySet is the set of keys an Authenticator signs and verifies with: one
// active signing key plus verify-only older (or upcoming) keys. Rotation is
// a new KeySet whose signing key is new and whose verify keys include the
// previous signing key until every token it signed has expired. A KeySet
// is immutable and safe for concurrent use.
type KeySet struct {
	signing *Key
	byID    map[string]*Key
	// byHeader maps the exact protected-header segment this package writes
	// for each key to that key: a pre-validated cache in front of the strict
	// header decoder.
	byHeader map[string]*Key
}

// NewKeySet returns a key set signing with signing and also verifying with
// verify. Key IDs must be unique; the signing key must hold private material.
func NewKeySet(signing *Key, verify ...*Key) (*KeySet, error) {
	if signing == nil || !signing.CanSign() {
		return nil, errors.New("auth: KeySet needs a signing key with private material")
	}
	ks := &KeySet{signing: signing, byID: map[string]*Key{}, byHeader: map[string]*Key{}}
	for _, k := range append([]*Key{signing}, verify...) {
		if k == nil {
			return nil, errors.New("auth: nil key in KeySet")
		}
		if _, dup := ks.byID[k.id]; dup {
			return nil, fmt.Errorf("auth: duplicate key ID %q in KeySet", k.id)
		}
		ks.byID[k.id] = k
		ks.byHeader[k.header] = k
	}
	return ks, nil
}

// SigningKey returns the active signing key.
func (s *KeySet) SigningKey() *Key { return s.signing }

// Keys returns every key, the signing key first.
func (s *KeySet) Keys() []*Key {
	out := []*Key{s.signing}
	for _, k := range s.byID {
		if k != s.signing {
			out = append(out, k)
		}
	}
	slices.SortFunc(out[1:], func(a, b *Key) int { return strings.Compare(a.id, b.id) })
	return out
}

// Key returns the key with the given ID.
func (s *KeySet) Key(id string) (*Key, bool) {
	k, ok := s.byID[id]
	return k, ok
}

// JWKS returns the JSON Web Key Set (RFC 7517 §5) of the public keys, for
// services that verify this issuer's tokens. HS256 keys are left out.
func (s *KeySet) JWKS() ([]byte, error) {
	set := jwk.NewSet()
	for _, k := range s.Keys() {
		if k.alg == HS256 {
			continue
		}
		jk, err := k.jwk(false)
		if err != nil {
			return nil, err
		}
		if err := set.AddKey(jk); err != nil {
			return nil, fmt.Errorf("auth: building JWKS: %w", err)
		}
	}
	return json.Marshal(set)
}
