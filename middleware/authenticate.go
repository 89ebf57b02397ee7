package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/maestro-ml/auth"
)

// Authenticate is middleware that admits only requests carrying a valid
// access token, and puts its claims in the request context (read them
// with ClaimsFrom, UserID or TenantID), together with the client
// (auth.NewClientContext: the address found by WithIPResolver's
// IPResolver and the User-Agent), so that the audit events of whatever
// the request does (logout, session revocation, administration) record
// who did it from where (OWASP ASVS 5.0 V16.2).
//
// The token is taken from the Authorization header, "Bearer <token>"
// (RFC 6750 §2.1; the scheme is case-insensitive) or, in cookie mode
// (WithCookies), from the access cookie; exactly one credential may be
// sent. Tokens in the query string (RFC 6750 §2.3) are refused, never
// ignored: URLs end up in logs, histories and Referer headers (RFC 6750
// §5.3, OWASP ASVS 5.0 V14.2).
//
// Responses, all RFC 9457 problems:
//   - 401 with WWW-Authenticate: Bearer (no error code) when no
//     credential is sent or the scheme is not Bearer (RFC 6750 §3.1);
//   - 401 with WWW-Authenticate: Bearer error="invalid_token" for a token
//     that is malformed, badly signed, expired or revoked;
//   - 400 with error="invalid_request" for a token in the query string,
//     more than one credential, or a malformed Authorization header: the
//     request, not the token, is wrong, and retrying with the same token
//     in the same way cannot succeed (RFC 6750 §3.1);
//   - 403 for an unsafe request authenticated by a cookie that fails the
//     cross-origin check;
//   - 503 with Retry-After when the revocation store cannot be read: the
//     middleware fails closed (unless auth.Config.FailOpen).
//
// Put CORS handling, if any, in front of it: preflight requests carry no
// credentials.
func (h *Handler) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := auth.NewClientContext(r.Context(), h.client(r))
		c, err := h.claims(ctx, r)
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(ctx, c)))
	})
}

// Optional is Authenticate for routes that also serve anonymous users: a
// request with no credential at all passes through without claims (but
// with the client in its context), while any credential that is sent must
// be valid, so a bad, expired or revoked token, a non-Bearer
// Authorization header or a token in the query string is refused exactly
// as by Authenticate.
func (h *Handler) Optional(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := auth.NewClientContext(r.Context(), h.client(r))
		c, err := h.claims(ctx, r)
		switch {
		case errors.Is(err, errNoCredentials):
			next.ServeHTTP(w, r.WithContext(ctx))
		case err != nil:
			h.WriteError(w, r, err)
		default:
			next.ServeHTTP(w, r.WithContext(auth.NewContext(ctx, c)))
		}
	})
}

// claims authenticates r under ctx; see Authenticate.
func (h *Handler) claims(ctx context.Context, r *http.Request) (*auth.Claims, error) {
	token, fromCookie, err := h.credential(r)
	if err != nil {
		return nil, err
	}
	if fromCookie {
		if err := h.c.cookies.csrf.Check(r); err != nil {
			return nil, errCrossOrigin
		}
	}
	return h.a.Authenticate(ctx, token)
}

// credential returns the one access token r carries and whether it came
// from the cookie.
func (h *Handler) credential(r *http.Request) (token string, fromCookie bool, err error) {
	if hasQueryToken(r) {
		return "", false, errQueryToken
	}
	cookie := ""
	if h.c.cookies != nil {
		cookie, err = oneCookie(r, h.c.cookies.accessName)
		if err != nil {
			return "", false, err
		}
	}
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) > 1, len(hs) == 1 && cookie != "":
		return "", false, errMultipleCredentials
	case len(hs) == 1:
		token, err = bearerToken(hs[0])
		return token, false, err
	case cookie != "":
		return cookie, true, nil
	}
	return "", false, errNoCredentials
}

// hasQueryToken reports whether the query string has an access_token
// parameter, however malformed the rest of it is.
func hasQueryToken(r *http.Request) bool {
	for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if name == "access_token" {
			return true
		}
	}
	return false
}

// oneCookie returns the value of the cookie name, "" if absent or empty,
// or errMultipleCredentials if the request carries it more than once
// (cookie tossing from a sibling domain would look like that).
func oneCookie(r *http.Request, name string) (string, error) {
	cs := r.CookiesNamed(name)
	switch {
	case len(cs) > 1:
		return "", errMultipleCredentials
	case len(cs) == 1:
		return cs[0].Value, nil
	}
	return "", nil
}

// bearerToken parses an Authorization header value: "Bearer", one or more
// spaces, a b64token (RFC 6750 §2.1). Another scheme is
// errUnsupportedScheme; anything else malformed is errMalformedAuthorization.
func bearerToken(h string) (string, error) {
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		if scheme == "" || !validCookieName(scheme) { // not even a token: garbage
			return "", errMalformedAuthorization
		}
		return "", errUnsupportedScheme
	}
	tok := strings.TrimLeft(rest, " ")
	if !isB64Token(tok) {
		return "", errMalformedAuthorization
	}
	return tok, nil
}

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// ClaimsFrom returns the claims that Handler.Authenticate or
// Handler.Optional put in the request's context, and false for an
// anonymous request.
func ClaimsFrom(r *http.Request) (*auth.Claims, bool) {
	return auth.ClaimsFromContext(r.Context())
}

// UserID returns the authenticated user's ID, or "" for an anonymous request.
func UserID(r *http.Request) string {
	if c, ok := ClaimsFrom(r); ok {
		return c.UserID
	}
	return ""
}

// TenantID returns the authenticated user's tenant, or "" for an anonymous
// request. Scope every query by it: a tenant is only ever what the token
// says, never what the request says.
func TenantID(r *http.Request) string {
	if c, ok := ClaimsFrom(r); ok {
		return c.TenantID
	}
	return ""
}

// SameTenant reports whether the request is authenticated and tenantID,
// typically the tenant of a resource the handler loaded, is the caller's
// tenant. When it is false, answer 404 as for a resource that does not
// exist (Handler.WriteError with auth.ErrUserNotFound, or http.NotFound),
// so that other tenants' IDs cannot be probed.
func SameTenant(r *http.Request, tenantID string) bool {
	t := TenantID(r)
	return t != "" && t == tenantID
}

// RequireRole returns middleware that admits only requests whose claims
// carry role or one ranked above it in the Authenticator's hierarchy
// (auth.Authenticator.RoleAtLeast; auth.Config.Roles, by default viewer <
// editor < admin). Put it after Authenticate. A request without claims
// gets 401; a role below role, 403 with code "insufficient_role". It
// panics if role is not one of the Authenticator's roles, as
// http.ServeMux panics on a malformed pattern: a misspelt role is a
// programming error, to be found when the routes are built, never at
// request time.
func (h *Handler) RequireRole(role auth.Role) func(http.Handler) http.Handler {
	if !slices.Contains(h.a.Roles(), role) {
		panic(fmt.Sprintf("middleware: RequireRole: %q is not one of the Authenticator's roles %v", role, h.a.Roles()))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, ok := ClaimsFrom(r)
			switch {
			case !ok:
				h.WriteError(w, r, errNoCredentials)
			case !h.a.RoleAtLeast(claims.Role, role):
				h.WriteError(w, r, errInsufficientRole)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// RequireTenant returns middleware for routes that carry a tenant ID in the
// path wildcard param (for example "/tenants/{tenant}/..." with param
// "tenant"; http.ServeMux and chi both fill Request.PathValue). It admits
// only requests whose claims name that tenant. A request without claims
// gets 401; one for another tenant gets 404, not 403, so that a caller
// cannot tell another tenant's existing IDs from unknown ones (OWASP ASVS
// 5.0 V8.2). Put it after Authenticate.
func (h *Handler) RequireTenant(param string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := ClaimsFrom(r); !ok {
				h.WriteError(w, r, errNoCredentials)
				return
			}
			if !SameTenant(r, r.PathValue(param)) {
				h.WriteError(w, r, errNotFound)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
