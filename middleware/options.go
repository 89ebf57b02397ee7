package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
)

// Defaults of the options.
const (
	// DefaultPrefix is the path under which Mount registers the endpoints.
	DefaultPrefix = "/api/v1/auth"
	// DefaultJWKSPath is where Mount serves the JSON Web Key Set: the
	// well-known location of RFC 8615, outside the prefix.
	DefaultJWKSPath = "/.well-known/jwks.json"
	// DefaultBodyLimit is the largest request body the handlers read.
	DefaultBodyLimit = 16 << 10
	// DefaultAccessCookie is the name of the access-token cookie. The
	// "__Host-" prefix makes browsers insist on Secure, Path=/ and no
	// Domain, so a sibling subdomain cannot plant or overwrite it
	// (RFC 6265bis §4.1.3.2).
	DefaultAccessCookie = "__Host-access_token"
	// DefaultRefreshCookie is the name of the refresh-token cookie. It has
	// a narrow Path (the prefix), so that it travels only to the library's
	// endpoints, and so takes the "__Secure-" prefix instead of "__Host-". A host that
	// shares a registrable domain with subdomains it does not control
	// should know that such a subdomain can plant a cookie of this name
	// (Domain=parent): a browser without a session would then refresh into
	// the planter's account, and one with a session gets 400 until the
	// planted cookie expires. Serve cookie mode from a domain without
	// untrusted siblings, or give Cookies.RefreshName a "__Host-" name,
	// which is set with Path=/ and so sent with every request.
	DefaultRefreshCookie = "__Secure-refresh_token"
)

// Option configures a Handler; see New. New returns an error for an
// invalid option (a malformed prefix, a cookie name the browser would
// refuse, an unknown role).
type Option func(*config)

// Cookies configures cookie mode (see WithCookies). The zero value is the
// secure default.
type Cookies struct {
	// SameSite is http.SameSiteStrictMode or http.SameSiteLaxMode; New
	// refuses any other value. Zero: Strict. Lax lets the cookies accompany
	// top-level navigations from other sites (links into the app); the
	// cross-origin check below still guards unsafe methods.
	SameSite http.SameSite
	// AccessName is the name of the access-token cookie, set with Path=/.
	// Zero: DefaultAccessCookie.
	AccessName string
	// RefreshName is the name of the refresh-token cookie, set with the
	// prefix as its Path, so browsers send it to the library's endpoints
	// (refresh, and logout after the access cookie expired) and nowhere else;
	// a "__Host-" name is set with Path=/ instead (the prefix requires it),
	// trading that narrowness for immunity to planting by sibling
	// subdomains (see DefaultRefreshCookie). Zero: DefaultRefreshCookie.
	RefreshName string
	// CrossOrigin is the cross-site request forgery check applied to
	// unsafe requests in cookie mode. Zero: http.NewCrossOriginProtection(),
	// which admits same-origin requests and requests without browser
	// headers (non-browser clients) only. Use AddTrustedOrigin on one of
	// your own to admit other origins.
	CrossOrigin *http.CrossOriginProtection
}

type config struct {
	prefix     string
	jwksPath   string
	extensions []Extension
	bodyLimit  int64
	cookies    *cookieConfig
	noRegister bool
	adminRole  auth.Role
	ips        IPResolver
	log        *slog.Logger
	jwksMaxAge time.Duration
}

type cookieConfig struct {
	sameSite    http.SameSite
	accessName  string
	refreshName string
	refreshPath string
	// legacyRefreshPath is where earlier versions put the refresh cookie.
	legacyRefreshPath string
	csrf              *http.CrossOriginProtection
}

// WithPrefix sets the path under which Mount registers the endpoints. It
// must start with "/" and not end with one. Default: DefaultPrefix.
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithJWKSPath sets where Mount serves the JSON Web Key Set; "" serves it
// nowhere. Default: DefaultJWKSPath.
func WithJWKSPath(path string) Option { return func(c *config) { c.jwksPath = path } }

// WithBodyLimit sets the largest request body, in bytes, the handlers
// read; larger bodies get 413. It must be positive. Default:
// DefaultBodyLimit (16 KiB).
func WithBodyLimit(n int64) Option { return func(c *config) { c.bodyLimit = n } }

// WithCookies turns on cookie mode: login and refresh set the access and
// refresh tokens as HttpOnly, Secure, SameSite cookies instead of
// returning them in the body, the middleware accepts the access cookie as
// well as the Authorization header (one or the other, never both), and
// logout clears them. Every unsafe request that a cookie authenticates,
// and every login and refresh, must then pass the cross-origin check of
// ck.CrossOrigin (OWASP ASVS 5.0 V3.5), or gets 403.
func WithCookies(ck Cookies) Option {
	return func(c *config) {
		c.cookies = &cookieConfig{sameSite: ck.SameSite, accessName: ck.AccessName, refreshName: ck.RefreshName, csrf: ck.CrossOrigin}
	}
}

// WithoutRegistration leaves the register endpoint out of Mount, for
// applications whose administrators create the accounts.
func WithoutRegistration() Option { return func(c *config) { c.noRegister = true } }

// WithAdminRole sets the role the user-administration endpoints require.
// It must be one of the Authenticator's roles. Default: auth.RoleAdmin.
func WithAdminRole(role auth.Role) Option { return func(c *config) { c.adminRole = role } }

// WithIPResolver sets how the handlers find the client's address, which
// they pass to the Authenticator for sessions and per-client rate limits.
// Default: the zero IPResolver, which trusts no proxy and uses the
// connection's address.
func WithIPResolver(r IPResolver) Option { return func(c *config) { c.ips = r } }

// WithLogger sets the logger: internal errors at Error, unavailable
// stores at Warn, refused requests at Debug. Nothing secret is logged: no
// token, password, query string or request body. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithJWKSMaxAge sets the Cache-Control max-age of the key set. Keep it
// well below Config.AccessTTL minus the time a new signing key is
// published before use. Zero or negative: no-cache (revalidate with the
// ETag every time). Default: 5 minutes.
func WithJWKSMaxAge(d time.Duration) Option { return func(c *config) { c.jwksMaxAge = d } }

// newConfig applies opts over the defaults and validates the result.
func newConfig(opts []Option) (*config, error) {
	c := &config{
		prefix:     DefaultPrefix,
		jwksPath:   DefaultJWKSPath,
		bodyLimit:  DefaultBodyLimit,
		adminRole:  auth.RoleAdmin,
		jwksMaxAge: 5 * time.Minute,
	}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	switch {
	case !validPath(c.prefix):
		return nil, fmt.Errorf("middleware: prefix %q must be a clean path that starts with / and does not end with /", c.prefix)
	case c.jwksPath != "" && !validPath(c.jwksPath):
		return nil, fmt.Errorf("middleware: JWKS path %q must be a clean path that starts with / and does not end with /", c.jwksPath)
	case c.bodyLimit <= 0:
		return nil, errors.New("middleware: body limit must be positive")
	}
	for _, p := range c.ips.TrustedProxies {
		if !p.IsValid() {
			return nil, errors.New("middleware: invalid trusted proxy prefix")
		}
	}
	if cc := c.cookies; cc != nil {
		switch cc.sameSite {
		case 0, http.SameSiteStrictMode:
			cc.sameSite = http.SameSiteStrictMode
		case http.SameSiteLaxMode:
		default:
			return nil, errors.New("middleware: Cookies.SameSite must be Strict or Lax")
		}
		if cc.accessName == "" {
			cc.accessName = DefaultAccessCookie
		}
		if cc.refreshName == "" {
			cc.refreshName = DefaultRefreshCookie
		}
		if !validCookieName(cc.accessName) || !validCookieName(cc.refreshName) || cc.accessName == cc.refreshName {
			return nil, errors.New("middleware: cookie names must be distinct, non-empty HTTP tokens")
		}
		// The refresh cookie goes to the prefix: to refresh, and to logout,
		// which must end the session when the access cookie has expired.
		// Versions before kept it at the refresh endpoint's path; that
		// cookie is deleted wherever a new one is set, so a browser never
		// sends two.
		cc.refreshPath, cc.legacyRefreshPath = c.prefix, c.prefix+"/refresh"
		if hasPrefixFold(cc.refreshName, "__Host-") {
			cc.refreshPath, cc.legacyRefreshPath = "/", ""
		}
		if cc.csrf == nil {
			cc.csrf = http.NewCrossOriginProtection()
		}
	}
	return c, nil
}

// validPath reports whether p can be the literal path of a route: it
// starts with "/", does not end with one, is clean (http.ServeMux refuses
// a pattern that no cleaned request path can match) and has no wildcard,
// query or fragment characters.
func validPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasSuffix(p, "/") && path.Clean(p) == p && !strings.ContainsAny(p, " \t{}?#")
}

// validCookieName reports whether name is an RFC 9110 token, as RFC 6265
// requires of cookie names.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
