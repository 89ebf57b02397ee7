package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/maestro-ml/auth"
)

// Extension is a credential package's HTTP side (factor/totp, ...): the
// endpoints it adds under the Handler's prefix. The middleware never
// imports such a package; the host passes its values to WithExtensions.
type Extension interface {
	// Routes returns the extension's endpoints. It is called once, by New,
	// with the Handler being built, whose helpers (DecodeJSON, WriteJSON,
	// WriteTokens, Client, CheckCrossOrigin) the handlers may use.
	Routes(h *Handler) []Route
}

// Access says who may call an extension's endpoint, and so which checks
// the Handler runs before it.
type Access int

const (
	// Public endpoints are open to anyone (the client is in the context).
	// An endpoint that starts a login must call CheckCrossOrigin itself.
	Public Access = iota
	// Authenticated endpoints are behind Authenticate: ClaimsFrom works.
	Authenticated
	// Sensitive endpoints are Authenticated and, for the users that
	// auth.Config.MFA covers, need a multi-factor token (RequireMFAByPolicy).
	Sensitive
	// Admin endpoints need the admin role (WithAdminRole) and, under an
	// MFA policy, a multi-factor token.
	Admin
)

// Route is one endpoint of an Extension.
type Route struct {
	// Method is the HTTP method; Path is below the prefix ("/factors/totp")
	// and may hold ServeMux wildcards.
	Method, Path string
	Access       Access
	// Handle serves the request; a non-nil error is answered by WriteError
	// (so errors of package auth, and those wrapping them, map to their
	// problems). It must not have written anything when it returns one.
	Handle func(w http.ResponseWriter, r *http.Request) error
	// Statuses are the statuses Handle itself answers, besides those of
	// its errors and of Access: the success statuses, and one for each
	// kind of error it returns. Endpoints lists them, for the host's
	// OpenAPI document and its contract tests.
	Statuses []int
	// Body says Handle reads a JSON request body (DecodeJSON): 400, 413
	// and 415 are added to Statuses.
	Body bool
}

// WithExtensions adds the endpoints of credential packages. An endpoint
// whose method and path is already taken is an error from New.
func WithExtensions(e ...Extension) Option {
	return func(c *config) { c.extensions = append(c.extensions, e...) }
}

// extensionRoutes returns the routes of the configured extensions.
func (h *Handler) extensionRoutes() ([]route, error) {
	var rs []route
	for _, e := range h.c.extensions {
		if e == nil {
			return nil, fmt.Errorf("middleware: WithExtensions: nil Extension")
		}
		for _, er := range e.Routes(h) {
			if er.Handle == nil || er.Method == "" || !strings.HasPrefix(er.Path, "/") {
				return nil, fmt.Errorf("middleware: extension route %s %q: a method, a path starting with / and a handler are required", er.Method, er.Path)
			}
			var hd http.Handler
			var errs []error
			switch er.Access {
			case Public:
				hd = h.public(er.Handle)
			case Authenticated:
				hd, errs = h.authenticated(er.Handle), authnErrors
			case Sensitive:
				hd, errs = h.sensitive(er.Handle), sensitiveErrors
			case Admin:
				hd, errs = h.admin(er.Handle), adminErrors
			default:
				return nil, fmt.Errorf("middleware: extension route %s %s: unknown Access %d", er.Method, er.Path, er.Access)
			}
			if er.Body {
				errs = append(slices.Clone(errs), bodyErrors...)
			}
			rs = append(rs, route{method: er.Method, path: h.c.prefix + er.Path, handler: hd, statuses: statuses(er.Statuses, errs)})
		}
	}
	return rs, nil
}

// Endpoint describes one endpoint a Handler serves.
type Endpoint struct {
	Method, Path string
	// Statuses are every status the endpoint can answer, sorted.
	Statuses []int
}

// Endpoints lists what Mount registers, extensions included, in order.
func (h *Handler) Endpoints() []Endpoint {
	out := make([]Endpoint, len(h.routes))
	for i, rt := range h.routes {
		out[i] = Endpoint{Method: rt.method, Path: rt.path, Statuses: slices.Clone(rt.statuses)}
	}
	return out
}

// DecodeJSON reads r's body as the endpoints do (application/json, the
// body limit, strict decoding: unknown, duplicate or null fields and
// trailing data are refused) into v, a pointer to a struct whose json tags
// name the accepted fields; required names the fields that must be
// present. The error, if any, is for WriteError (400, 413, 415).
func (h *Handler) DecodeJSON(w http.ResponseWriter, r *http.Request, v any, required ...string) error {
	body, err := readBody(w, r, h.c.bodyLimit)
	if err != nil {
		return err
	}
	return decodeObject(body, v, required...)
}

// WriteJSON writes v as a JSON response with status, with the headers of
// every endpoint's answer (no-store, nosniff).
func (h *Handler) WriteJSON(w http.ResponseWriter, status int, v any) error {
	return writeJSON(w, status, v)
}

// WriteTokens answers a finished login or step-up as the login endpoint
// does: the token response, with the tokens in cookies in cookie mode.
func (h *Handler) WriteTokens(w http.ResponseWriter, pair *auth.TokenPair, u *auth.User) error {
	return h.writeTokens(w, pair, u)
}

// WriteTokensWith is WriteTokens with extra members in the JSON object
// (a credential package's one-time data, such as recovery codes); a member
// the token response already has is not overwritten.
func (h *Handler) WriteTokensWith(w http.ResponseWriter, pair *auth.TokenPair, u *auth.User, extra map[string]any) error {
	return h.writeTokensWith(w, pair, u, extra)
}

// ReauthError turns a wrong password or code from an authenticated caller
// into the 403 the endpoints answer for it (invalid_credentials,
// invalid_code): the access token is valid, and a 401 would tell the
// client to drop it (RFC 6750 §3). Other errors pass through.
func ReauthError(err error) error {
	if errors.Is(err, auth.ErrInvalidCode) {
		return errWrongCode
	}
	return reauthError(err)
}

// Client returns r's client as the Handler sees it: the address the
// IPResolver finds, and the User-Agent.
func (h *Handler) Client(r *http.Request) auth.ClientInfo { return h.client(r) }

// CheckCrossOrigin refuses, in cookie mode, a request that fails the
// cross-origin check (an error for WriteError: 403 cross_origin); a public
// endpoint that sets cookies (a login step) must call it.
func (h *Handler) CheckCrossOrigin(r *http.Request) error { return h.checkCrossOrigin(r) }
