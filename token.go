package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// accessTokenType is the JWT "typ" of access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// DefaultMaxTokenBytes is the default cap on an access token's length,
// checked before any decoding.
const DefaultMaxTokenBytes = 8 << 10

// Claims are the verified contents of an access token.
type Claims struct {
	// UserID is "sub": the user's ID.
	UserID string
	// TenantID is "tid": the tenant the user belongs to.
	TenantID string
	// SessionID is "sid": the session (refresh-token family) that issued the token.
	SessionID string
	// TokenID is "jti": unique per token; revocable on its own.
	TokenID string
	// Role is "role": the user's role when the token was issued.
	Role Role
	// Issuer is "iss".
	Issuer string
	// Audience is "aud".
	Audience []string
	// IssuedAt is when the token was issued, with millisecond precision:
	// "iat" (whole seconds) refined by the millisecond a token ID made by
	// this library carries (a UUIDv7; see newTokenID).
	IssuedAt time.Time
	// NotBefore is "nbf".
	NotBefore time.Time
	// ExpiresAt is "exp".
	ExpiresAt time.Time
	// AMR is "amr" (RFC 8176): the methods the session's login proved,
	// "mfa" among them when more than one factor was used.
	AMR []Method
	// AuthTime is "auth_time": when the user last actively authenticated
	// (login or step-up), with second precision. Refreshes keep it.
	AuthTime time.Time
}

// HasMethod reports whether the token's login proved m.
func (c *Claims) HasMethod(m Method) bool { return slices.Contains(c.AMR, m) }

// wireClaims is the JSON form of Claims. Numeric dates are pointers so that
// a missing claim is told apart from zero, and float64 so that a string is a
// type error rather than a number (RFC 7519 §2 NumericDate).
type wireClaims struct {
	Iss  string   `json:"iss"`
	Sub  string   `json:"sub"`
	Aud  audience `json:"aud"`
	Exp  *float64 `json:"exp"`
	Nbf  *float64 `json:"nbf"`
	Iat  *float64 `json:"iat"`
	Jti  string   `json:"jti"`
	Sid  string   `json:"sid"`
	Tid  string   `json:"tid"`
	Role string   `json:"role"`
	AMR  []string `json:"amr"`
	Auth *float64 `json:"auth_time"`
}

// audience decodes "aud" as a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// tokenRules are the verification parameters fixed by Config.
type tokenRules struct {
	issuer   string
	audience string
	skew     time.Duration
	maxBytes int
}

// Fixed rejection reasons: no allocation and no attacker data in messages.
var (
	errTokenEmpty     = invalidToken("empty")
	errTokenSize      = invalidToken("too large")
	errTokenSegments  = invalidToken("not a compact JWS with three segments")
	errTokenHeader    = invalidToken("malformed protected header")
	errTokenHeaderExt = invalidToken("protected header has parameters other than alg, kid and typ")
	errTokenAlg       = invalidToken("alg does not match the key")
	errTokenKid       = invalidToken("unknown kid")
	errTokenTyp       = invalidToken("typ is not at+jwt")
	errTokenSig       = invalidToken("bad signature")
	errTokenPayload   = invalidToken("malformed claims")
	errTokenExp       = invalidToken("exp missing, zero or not a number")
	errTokenNbf       = invalidToken("not yet valid")
	errTokenIat       = invalidToken("issued in the future")
	errTokenIss       = invalidToken("wrong issuer")
	errTokenAud       = invalidToken("wrong audience")
	errTokenSubject   = invalidToken("sub, sid, tid, jti or role missing")
	errTokenAMR       = invalidToken("malformed amr or auth_time")
)

// wireClaimsOut is the output form: integer exp, nbf and iat (RFC 7519
// NumericDate, as most verifiers expect them), and a single audience
// written as a string (RFC 9068 §2.2 allows both forms). The millisecond
// of issue, which a user's revocation cutoff compares against, travels in
// the jti (newTokenID).
type wireClaimsOut struct {
	Iss  string   `json:"iss"`
	Sub  string   `json:"sub"`
	Aud  any      `json:"aud"`
	Exp  int64    `json:"exp"`
	Nbf  int64    `json:"nbf"`
	Iat  int64    `json:"iat"`
	Jti  string   `json:"jti"`
	Sid  string   `json:"sid"`
	Tid  string   `json:"tid"`
	Role string   `json:"role"`
	AMR  []Method `json:"amr,omitempty"`
	Auth int64    `json:"auth_time,omitempty"`
}

// signAccessToken serialises c as a compact JWS signed with k.
func signAccessToken(k *Key, c *Claims) (string, error) {
	var aud any = c.Audience
	if len(c.Audience) == 1 {
		aud = c.Audience[0]
	}
	payload, err := json.Marshal(wireClaimsOut{
		Iss: c.Issuer, Sub: c.UserID, Aud: aud, Exp: c.ExpiresAt.Unix(), Nbf: c.NotBefore.Unix(),
		Iat: c.IssuedAt.Unix(), Jti: c.TokenID, Sid: c.SessionID, Tid: c.TenantID, Role: string(c.Role),
		AMR: c.AMR, Auth: unixOrZero(c.AuthTime),
	})
	if err != nil {
		return "", err
	}
	return signPayload(k, payload)
}

func signPayload(k *Key, payload []byte) (string, error) {
	b64 := base64.RawURLEncoding
	buf := make([]byte, 0, len(k.header)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(512))
	buf = append(buf, k.header...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig, err := jwsbb.Sign(k.signer, string(k.alg), buf, rand.Reader)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// parseAccessToken verifies token against ks and r at time now and returns
// its claims. It checks, in order: size, shape, protected header (alg, kid,
// typ; no other parameter), signature, then exp, nbf, iat, iss, aud and the
// presence of sub, sid, tid, jti and role. It never fetches anything.
func parseAccessToken(ks *KeySet, r *tokenRules, token string, now time.Time) (*Claims, error) {
	if token == "" {
		return nil, errTokenEmpty
	}
	if len(token) > r.maxBytes {
		return nil, errTokenSize
	}
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 <= 0 || dot2 == dot1 || strings.IndexByte(token[dot1+1:dot2], '.') >= 0 || dot2 == len(token)-1 {
		return nil, errTokenSegments
	}
	key, err := ks.headerKey(token[:dot1])
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding.Strict()
	var sigBuf [512]byte
	if b64.DecodedLen(len(token)-dot2-1) > len(sigBuf) {
		return nil, errTokenSig
	}
	n, err := b64.Decode(sigBuf[:], []byte(token[dot2+1:]))
	if err != nil {
		return nil, errTokenSig
	}
	signingInput := []byte(token[:dot2])
	if err := jwsbb.Verify(key.public, string(key.alg), signingInput, sigBuf[:n]); err != nil {
		return nil, errTokenSig
	}
	payload := make([]byte, b64.DecodedLen(dot2-dot1-1))
	n, err = b64.Decode(payload, signingInput[dot1+1:])
	if err != nil {
		return nil, errTokenPayload
	}
	var w wireClaims
	if err := json.Unmarshal(payload[:n], &w); err != nil {
		return nil, errTokenPayload
	}
	return w.validate(r, now)
}

func (w *wireClaims) validate(r *tokenRules, now time.Time) (*Claims, error) {
	if w.Exp == nil || *w.Exp <= 0 {
		return nil, errTokenExp
	}
	exp := numericDate(*w.Exp)
	if !now.Before(exp.Add(r.skew)) {
		return nil, ErrTokenExpired
	}
	var nbf, iat time.Time
	if w.Nbf != nil {
		if nbf = numericDate(*w.Nbf); nbf.After(now.Add(r.skew)) {
			return nil, errTokenNbf
		}
	}
	if w.Iat != nil {
		if iat = numericDate(*w.Iat); iat.After(now.Add(r.skew)) {
			return nil, errTokenIat
		}
		iat = issuedAt(iat, w.Jti)
	}
	if w.Iss != r.issuer {
		return nil, errTokenIss
	}
	if !containsString(w.Aud, r.audience) {
		return nil, errTokenAud
	}
	if w.Sub == "" || w.Sid == "" || w.Tid == "" || w.Jti == "" || w.Role == "" || w.Iat == nil {
		return nil, errTokenSubject
	}
	c := &Claims{
		UserID: w.Sub, TenantID: w.Tid, SessionID: w.Sid, TokenID: w.Jti, Role: Role(w.Role),
		Issuer: w.Iss, Audience: w.Aud, IssuedAt: iat, NotBefore: nbf, ExpiresAt: exp,
	}
	if len(w.AMR) > 0 {
		if len(w.AMR) > maxAMR {
			return nil, errTokenAMR
		}
		c.AMR = make([]Method, len(w.AMR))
		for i, m := range w.AMR {
			if !validMethod(Method(m)) {
				return nil, errTokenAMR
			}
			c.AMR[i] = Method(m)
		}
	}
	if w.Auth != nil {
		if *w.Auth <= 0 {
			return nil, errTokenAMR
		}
		if c.AuthTime = numericDate(*w.Auth).Truncate(time.Second); c.AuthTime.After(now.Add(r.skew)) {
			return nil, errTokenAMR
		}
	}
	return c, nil
}

// maxAMR bounds the methods a token may carry.
const maxAMR = 8

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// numericDate converts seconds since the epoch, possibly fractional, to a
// time with millisecond precision. Out-of-range values saturate.
func numericDate(f float64) time.Time {
	const maxSec = 1 << 40
	if f > maxSec || math.IsNaN(f) {
		f = maxSec
	}
	return time.UnixMilli(int64(math.Round(f * 1000))).UTC()
}

// headerKey returns the key a protected header names, after checking that the
// header holds exactly alg, kid and typ, with alg equal to the key's pinned
// algorithm and typ at+jwt. Headers this package wrote are recognised by
// their exact bytes; any other header goes through the strict decoder.
func (s *KeySet) headerKey(seg string) (*Key, error) {
	if k, ok := s.byHeader[seg]; ok {
		return k, nil
	}
	return s.decodeHeader(seg)
}

func (s *KeySet) decodeHeader(seg string) (*Key, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, errTokenHeader
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil || dec.More() || fields == nil {
		return nil, errTokenHeader
	}
	if _, err := dec.Token(); err == nil {
		return nil, errTokenHeader // trailing data
	}
	var alg, kid, typ string
	for name, v := range fields {
		var dst *string
		switch name {
		case "alg":
			dst = &alg
		case "kid":
			dst = &kid
		case "typ":
			dst = &typ
		default:
			// crit, jwk, jku, x5u, x5c, b64, ... are refused outright: keys
			// come only from our own key set (RFC 8725 §3.10).
			return nil, errTokenHeaderExt
		}
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, dst) != nil {
			return nil, errTokenHeader
		}
	}
	k, ok := s.byID[kid]
	if !ok {
		return nil, errTokenKid
	}
	if alg != string(k.alg) {
		return nil, errTokenAlg
	}
	if t := strings.ToLower(typ); t != accessTokenType && t != "application/"+accessTokenType {
		return nil, errTokenTyp
	}
	return k, nil
}

// Refresh tokens are 32 random bytes, base64url without padding (43 characters).
const refreshTokenLen = 43

// newRefreshToken returns a fresh refresh token and the SHA-256 hash that is
// the only form ever stored.
func newRefreshToken() (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(tok))
	return tok, h[:], nil
}

// hashRefreshToken returns the stored form of a presented refresh token, or
// false if it cannot be one of ours.
func hashRefreshToken(tok string) ([]byte, bool) {
	if len(tok) != refreshTokenLen {
		return nil, false
	}
	var b [32]byte
	if n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(tok)); err != nil || n != 32 {
		return nil, false
	}
	h := sha256.Sum256([]byte(tok))
	return h[:], true
}

// newTokenID returns a token ID ("jti"): a UUIDv7 (RFC 9562 §5.7) whose
// timestamp is the millisecond of issue by the Authenticator's clock, the
// rest random. The millisecond orders the token against a user's
// revocation cutoff, so "iat" can be a whole second like exp and nbf.
func newTokenID(at time.Time) string {
	var b uuid.UUID
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24)
	ms := uint64(at.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	return b.String()
}

// issuedAt returns the millisecond of issue that jti carries when it is a
// UUIDv7 within the second iat names, and iat otherwise (a token ID of
// another form, or one that disagrees with iat).
func issuedAt(iat time.Time, jti string) time.Time {
	if len(jti) != 36 || jti[8] != '-' || jti[13] != '-' || jti[14] != '7' {
		return iat
	}
	var ms int64
	for i := 0; i < 13; i++ {
		if i == 8 {
			continue
		}
		c := jti[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return iat
		}
		ms = ms<<4 | int64(v)
	}
	t := time.UnixMilli(ms).UTC()
	if t.Unix() != iat.Unix() {
		return iat
	}
	return t
}
