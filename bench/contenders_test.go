package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/middleware"
)

// The contenders, each as a function ("verify the token, check the
// deny-list", returning an error) and, where it has one, as net/http
// middleware wrapping the same final handler.

// final is the protected handler: it only answers 204, so a benchmark
// measures the middleware.
var final = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

// ed25519Verify is the floor: the raw signature check of the token, no
// decoding of header or claims. It returns false for a bad signature.
func ed25519Verify(pub ed25519.PublicKey, tok string) func() bool {
	i := strings.LastIndexByte(tok, '.')
	msg := []byte(tok[:i])
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	return func() bool { return ed25519.Verify(pub, msg, sig) }
}

// jwxParse is github.com/lestrrat-go/jwx/v3 jwt.Parse with the key pinned
// to EdDSA and iss, aud, exp, nbf and iat validated (30 s skew, as ours).
// It has no deny-list.
type jwxParse struct{ opts []jwxjwt.ParseOption }

func newJWXParse(f *fixture) *jwxParse {
	return &jwxParse{opts: []jwxjwt.ParseOption{
		jwxjwt.WithKey(jwa.EdDSA(), f.pub), jwxjwt.WithIssuer(issuer), jwxjwt.WithAudience(audience),
		jwxjwt.WithRequiredClaim("exp"), jwxjwt.WithAcceptableSkew(30 * time.Second),
	}}
}

func (j *jwxParse) parse(tok string) error {
	_, err := jwxjwt.ParseString(tok, j.opts...)
	return err
}

// jwtClaims are our token's claims for github.com/golang-jwt/jwt/v5.
type jwtClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	TenantID  string `json:"tid"`
	Role      string `json:"role"`
}

// handWritten is the middleware people write with golang-jwt and go-redis:
// parse and validate the token (EdDSA pinned, kid checked, iss, aud, exp
// required, 30 s leeway), then one Redis GET of the token ID per request.
// It does not check typ, the session or a per-user cutoff: ours does all
// three in its one look-up.
type handWritten struct {
	f       *fixture
	parser  *jwt.Parser
	keyFunc jwt.Keyfunc
}

var errUnknownKey = errors.New("bench: unknown kid")

func newHandWritten(f *fixture) *handWritten {
	return &handWritten{
		f: f,
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
			jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second)),
		keyFunc: func(t *jwt.Token) (any, error) {
			if kid, _ := t.Header["kid"].(string); kid != keyID {
				return nil, errUnknownKey
			}
			return f.pub, nil
		},
	}
}

// parse is golang-jwt alone: verification and claims, no deny-list.
func (h *handWritten) parse(tok string) (*jwtClaims, error) {
	var c jwtClaims
	if _, err := h.parser.ParseWithClaims(tok, &c, h.keyFunc); err != nil {
		return nil, err
	}
	return &c, nil
}

// authenticate is parse plus the Redis GET.
func (h *handWritten) authenticate(ctx context.Context, tok string) (*jwtClaims, error) {
	c, err := h.parse(tok)
	if err != nil {
		return nil, err
	}
	if err := h.f.checkDenyList(ctx, c.ID); err != nil {
		return nil, err
	}
	return c, nil
}

type claimsKey struct{}

func (h *handWritten) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		c, err := h.authenticate(r.Context(), tok)
		switch {
		case errors.Is(err, errRevoked), errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenSignatureInvalid),
			errors.Is(err, jwt.ErrTokenInvalidClaims), errors.Is(err, jwt.ErrTokenUnverifiable):
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// oursHandler is this library's middleware around final.
func oursHandler(a *auth.Authenticator) http.Handler {
	h, err := middleware.New(a)
	if err != nil {
		panic(err) // the default options are valid
	}
	return h.Authenticate(final)
}

// pkgzHandler is go-pkgz/auth's Auth middleware around final.
func (f *fixture) pkgzHandler() http.Handler {
	m := f.pkgz.Middleware()
	return m.Auth(final)
}

// bearerRequest is the prebuilt request of the middleware benchmarks.
func bearerRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// pkgzRequest carries the token where go-pkgz/auth reads it by default.
func pkgzRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
	r.Header.Set("X-JWT", tok)
	return r
}

// serve runs h on r with a fresh recorder and returns the status.
func serve(h http.Handler, r *http.Request) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Code
}
