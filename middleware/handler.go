package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/maestro-ml/auth"
)

// Router is where Mount registers the endpoints: anything whose Handle
// accepts Go 1.22 patterns ("POST /path", "GET /users/{id}") and fills
// Request.PathValue, such as *http.ServeMux and chi.Router (chi v5.1 and
// later).
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// Handler puts one *auth.Authenticator on HTTP with one set of options:
// it serves the library's endpoints (Mount, ServeHTTP) and makes the
// middleware that guards the host's own routes (Authenticate, Optional,
// RequireRole, RequireTenant), so that the middleware reads the cookies
// the endpoints set, finds clients the same way and logs to the same
// logger. Build it once with New (the zero Handler is not usable); it is
// safe for concurrent use.
type Handler struct {
	a      *auth.Authenticator
	c      *config
	jwks   atomic.Pointer[jwksDoc]
	routes []route
	mux    *http.ServeMux
	// probe holds the endpoints' patterns alone, to find the methods a
	// path allows.
	probe *http.ServeMux
}

// New returns the Handler of a, configured by opts. It returns an error,
// and no Handler, if a is nil or an option is invalid: a prefix or JWKS
// path that is not a clean absolute path, a body limit that is not
// positive, an invalid trusted proxy, cookie names a browser would refuse
// or a SameSite mode other than Strict or Lax, an admin role
// (WithAdminRole, default auth.RoleAdmin) that is not one of a.Roles(), or
// a JWKS path that is also an endpoint's.
func New(a *auth.Authenticator, opts ...Option) (*Handler, error) {
	if a == nil {
		return nil, errors.New("middleware: nil *auth.Authenticator")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(a.Roles(), c.adminRole) {
		return nil, fmt.Errorf("middleware: admin role %q is not one of the Authenticator's roles %v; use WithAdminRole", c.adminRole, a.Roles())
	}
	h := &Handler{a: a, c: c, mux: http.NewServeMux(), probe: http.NewServeMux()}
	h.routes = h.newRoutes()
	ext, err := h.extensionRoutes()
	if err != nil {
		return nil, err
	}
	core := len(h.routes)
	h.routes = append(h.routes, ext...)
	seen := map[string]bool{}
	for i, rt := range h.routes {
		pattern := rt.pattern()
		if seen[pattern] && i >= core {
			return nil, fmt.Errorf("middleware: WithExtensions: %s is already an endpoint", pattern)
		}
		if seen[pattern] {
			return nil, fmt.Errorf("middleware: JWKS path %q is also an endpoint's path", c.jwksPath)
		}
		seen[pattern] = true
		h.mux.Handle(pattern, rt.handler)
		h.probe.Handle(pattern, http.NotFoundHandler())
	}
	for _, pattern := range h.fallbackPatterns() {
		h.mux.Handle(pattern, http.HandlerFunc(h.fallback))
	}
	return h, nil
}

// fallbackPatterns are the method-less patterns that catch what no
// endpoint serves: the prefix, everything below it, and the JWKS path.
func (h *Handler) fallbackPatterns() []string {
	p := []string{h.c.prefix, h.c.prefix + "/"}
	if h.c.jwksPath != "" {
		p = append(p, h.c.jwksPath)
	}
	return p
}

// fallback answers a request that no endpoint serves as ServeMux would
// (405 with Allow when the path is an endpoint's, 404 otherwise), but
// with a problem like every other error of the library (RFC 9457).
func (h *Handler) fallback(w http.ResponseWriter, r *http.Request) {
	if allow := h.allowed(r); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.WriteError(w, r, errMethodNotAllowed)
		return
	}
	h.WriteError(w, r, errNoEndpoint)
}

// allowed returns the methods that an endpoint serves at r's path.
func (h *Handler) allowed(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if _, pattern := h.probe.Handler(&http.Request{Method: m, Host: r.Host, URL: r.URL}); pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// Mount registers every endpoint on r, under the prefix (WithPrefix,
// default DefaultPrefix) except the key set, which is at DefaultJWKSPath
// (WithJWKSPath):
//
//	POST   {prefix}/register             registration (unless WithoutRegistration)
//	POST   {prefix}/login                login
//	POST   {prefix}/refresh              refresh-token rotation
//	POST   {prefix}/logout               end this session
//	POST   {prefix}/logout-all           end every session of the caller
//	GET    {prefix}/me                   the caller's account
//	POST   {prefix}/login/mfa            the second step of a login (401 mfa_required)
//	POST   {prefix}/step-up              re-authenticate: a new session, auth_time now
//	GET    {prefix}/factors              the caller's second factors
//	POST   {prefix}/verify-email         confirm an address with an e-mailed token
//	POST   {prefix}/verify-email/resend  send a new verification message
//	POST   {prefix}/password/forgot      send a password-reset message
//	POST   {prefix}/password/reset       set a password with an e-mailed token
//	POST   {prefix}/password/change      change the password (the current one required)
//	POST   {prefix}/email/change         move the account to another address
//	POST   {prefix}/email/confirm        confirm the move with an e-mailed token
//	GET    {prefix}/sessions             the caller's sessions
//	DELETE {prefix}/sessions             end every other session of the caller
//	DELETE {prefix}/sessions/{id}        end one session of the caller
//	GET    {prefix}/users                administration: list the tenant's users
//	POST   {prefix}/users                administration: create a user
//	GET    {prefix}/users/{id}           administration: one user
//	PATCH  {prefix}/users/{id}           administration: role, active, verified
//	POST   {prefix}/users/{id}/unlock    administration: lift a login lockout
//	DELETE {prefix}/users/{id}/factors   administration: remove a user's second factors
//	GET    {prefix}/audit-events         administration: the tenant's audit log
//	GET    /.well-known/jwks.json        the public keys (RFC 7517)
//
// On an *http.ServeMux, Mount also registers {prefix}, {prefix}/ and the
// JWKS path without a method, so that a path no endpoint has answers 404
// and a method the path does not serve answers 405 with Allow, both as
// RFC 9457 problems (codes not_found and method_not_allowed). With
// another router, route the same to the Handler (chi:
// r.Handle(prefix+"/*", h)), whose ServeHTTP answers the same way.
//
// Each endpoint authenticates and authorises its own requests.
// openapi.yaml at the root of the repository describes every endpoint,
// body and status. Mount panics only if r does, on a pattern that
// conflicts with one of the host's.
func (h *Handler) Mount(r Router) {
	for _, rt := range h.routes {
		r.Handle(rt.pattern(), rt.handler)
	}
	if mux, ok := r.(*http.ServeMux); ok {
		for _, pattern := range h.fallbackPatterns() {
			mux.Handle(pattern, http.HandlerFunc(h.fallback))
		}
	}
}

// ServeHTTP serves the request with the endpoint Mount registers for its
// method and path, or answers as an http.ServeMux does when there is none
// (404, or 405 with Allow). It lets a host mount an endpoint alone, for
// example behind middleware of its own, under the endpoint's pattern:
//
//	mux.Handle("POST /api/v1/auth/register", captcha(h))
//
// or every endpoint under one pattern of its router, such as chi's
// r.Handle("/api/v1/auth/*", h). An endpoint's path is always the one
// Mount gives it: the refresh cookie's Path and the Location of a created
// user depend on it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// route is one endpoint, with every status it can answer (for the
// OpenAPI consistency test).
type route struct {
	method, path string
	handler      http.Handler
	statuses     []int
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// Error groups: each error stands for its row of the error table. They
// give the statuses of the endpoints, extensions' included.
var (
	bodyErrors  = []error{errUnsupportedMediaType, errBodyTooLarge, errMalformedJSON}
	authnErrors = []error{errNoCredentials, errQueryToken, errCrossOrigin, auth.ErrInvalidToken, auth.ErrUnavailable}
	// sensitiveErrors are those of Authenticate and RequireMFAByPolicy.
	sensitiveErrors = append(slices.Clone(authnErrors), auth.ErrInsufficientAuth)
	adminErrors     = append(slices.Clone(sensitiveErrors), errInsufficientRole)
)

// newRoutes returns the endpoints Mount registers.
func (h *Handler) newRoutes() []route {
	var (
		newUserErrs = []error{auth.ErrInvalidEmail, auth.ErrPasswordPolicy, auth.ErrInvalidInput, auth.ErrTenantNotFound, auth.ErrEmailTaken}
		// Lifecycle flows: a feature the host may not have configured,
		// and a store that may be down.
		lifecycle = []error{auth.ErrNotConfigured, auth.ErrUnavailable}
		// Re-authentication with the current password (change password
		// or e-mail address).
		reauth = []error{errWrongPassword, auth.ErrUserInactive, auth.ErrUserNotFound, auth.ErrRateLimited}
	)
	p := h.c.prefix
	var rs []route
	add := func(method, path string, hd http.Handler, ok []int, errs ...[]error) {
		rs = append(rs, route{method: method, path: path, handler: hd, statuses: statuses(ok, slices.Concat(errs...))})
	}
	if !h.c.noRegister {
		add("POST", p+"/register", h.public(h.register), []int{201, 202}, bodyErrors, newUserErrs,
			[]error{auth.ErrRateLimited, auth.ErrUnavailable})
	}
	add("POST", p+"/login", h.public(h.login), []int{200}, bodyErrors, []error{errCrossOrigin,
		auth.ErrInvalidCredentials, auth.ErrMFARequired, auth.ErrUserInactive, auth.ErrEmailNotVerified, auth.ErrRateLimited, auth.ErrUnavailable})
	add("POST", p+"/login/mfa", h.public(h.loginMFA), []int{200}, bodyErrors, []error{errCrossOrigin,
		auth.ErrInvalidCode, auth.ErrInvalidToken, auth.ErrUserInactive, auth.ErrInvalidInput, auth.ErrRateLimited, auth.ErrUnavailable})
	add("POST", p+"/refresh", h.public(h.refresh), []int{200}, bodyErrors, []error{errCrossOrigin, errNoCredentials,
		errMultipleCredentials, auth.ErrInvalidToken, auth.ErrUserInactive, auth.ErrEmailNotVerified, auth.ErrConflict,
		auth.ErrRateLimited, auth.ErrUnavailable})
	add("POST", p+"/logout", h.public(h.logout), []int{204}, authnErrors)
	add("POST", p+"/logout-all", h.authenticated(h.logoutAll), []int{204}, authnErrors)
	add("GET", p+"/me", h.authenticated(h.me), []int{200}, authnErrors, []error{auth.ErrUserNotFound})
	add("POST", p+"/step-up", h.authenticated(h.stepUp), []int{200}, authnErrors, bodyErrors, []error{errWrongPassword, errWrongCode,
		errInvalidStepUp, auth.ErrUserInactive, auth.ErrUserNotFound, auth.ErrInvalidInput, auth.ErrRateLimited})
	add("GET", p+"/factors", h.authenticated(h.factors), []int{200}, authnErrors, []error{auth.ErrUserNotFound})
	add("POST", p+"/verify-email", h.public(h.verifyEmail), []int{200}, bodyErrors, lifecycle, []error{errInvalidActionToken})
	add("POST", p+"/verify-email/resend", h.authenticated(h.resendVerification), []int{202}, authnErrors, lifecycle,
		[]error{auth.ErrUserNotFound, auth.ErrRateLimited})
	add("POST", p+"/password/forgot", h.public(h.forgotPassword), []int{202}, bodyErrors, lifecycle, []error{auth.ErrRateLimited})
	add("POST", p+"/password/reset", h.public(h.resetPassword), []int{204}, bodyErrors, lifecycle,
		[]error{errInvalidActionToken, auth.ErrPasswordPolicy, auth.ErrUserInactive, auth.ErrBusy})
	add("POST", p+"/password/change", h.sensitive(h.changePassword), []int{204}, authnErrors, bodyErrors, reauth,
		[]error{auth.ErrPasswordPolicy, auth.ErrBusy})
	add("POST", p+"/email/change", h.sensitive(h.changeEmail), []int{202}, authnErrors, bodyErrors, reauth, lifecycle,
		[]error{auth.ErrInvalidEmail, auth.ErrEmailTaken})
	add("POST", p+"/email/confirm", h.public(h.confirmEmail), []int{200}, bodyErrors, lifecycle,
		[]error{errInvalidActionToken, auth.ErrEmailTaken})
	add("GET", p+"/sessions", h.authenticated(h.sessions), []int{200}, authnErrors)
	add("DELETE", p+"/sessions", h.authenticated(h.revokeOtherSessions), []int{204}, authnErrors)
	add("DELETE", p+"/sessions/{id}", h.authenticated(h.revokeSession), []int{204}, authnErrors, []error{auth.ErrSessionNotFound})
	add("GET", p+"/users", h.admin(h.listUsers), []int{200}, adminErrors, []error{errInvalidParameter})
	add("POST", p+"/users", h.admin(h.createUser), []int{201}, adminErrors, bodyErrors, newUserErrs,
		[]error{auth.ErrInvalidRole, errRoleAboveCaller})
	add("GET", p+"/users/{id}", h.admin(h.getUser), []int{200}, adminErrors, []error{auth.ErrUserNotFound})
	add("PATCH", p+"/users/{id}", h.admin(h.updateUser), []int{200}, adminErrors, bodyErrors,
		[]error{auth.ErrUserNotFound, auth.ErrInvalidRole, errRoleAboveCaller, errSelfModification})
	add("DELETE", p+"/users/{id}/factors", h.admin(h.resetFactors), []int{204}, adminErrors,
		[]error{auth.ErrUserNotFound, errRoleAboveCaller, errSelfModification, auth.ErrNotConfigured})
	add("POST", p+"/users/{id}/unlock", h.admin(h.unlockUser), []int{204}, adminErrors, []error{auth.ErrUserNotFound, errRoleAboveCaller})
	add("GET", p+"/audit-events", h.admin(h.auditEvents), []int{200}, adminErrors, []error{errInvalidParameter, auth.ErrNotConfigured})
	if h.c.jwksPath != "" {
		add("GET", h.c.jwksPath, h.public(h.jwksHandler), []int{200, 304})
	}
	return rs
}

// statuses returns the sorted set of ok, the statuses of errs and 500.
func statuses(ok []int, errs []error) []int {
	out := append(slices.Clone(ok), internalError.status)
	for _, err := range errs {
		out = append(out, lookup(err).status)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// handlerFunc is an endpoint. It either writes the whole response and
// returns nil, or writes nothing but headers and returns the error to
// answer with, which serve turns into a problem through the error table.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// serve adapts fn to http.Handler: the one place an endpoint's error
// becomes a response.
func (h *Handler) serve(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.WriteError(w, r, err)
		}
	})
}

// public serves fn, an endpoint open to anonymous callers, with the
// client in its request's context (auth.NewClientContext): the
// Authenticator's audit events record its address and user agent.
func (h *Handler) public(fn handlerFunc) http.Handler {
	next := h.serve(fn)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(auth.NewClientContext(r.Context(), h.client(r))))
	})
}

// authenticated serves fn behind Authenticate, which also sets the client.
func (h *Handler) authenticated(fn handlerFunc) http.Handler { return h.Authenticate(h.serve(fn)) }

// admin serves fn behind Authenticate and the admin role (WithAdminRole).
func (h *Handler) admin(fn handlerFunc) http.Handler {
	role := h.c.adminRole
	return h.authenticated(func(w http.ResponseWriter, r *http.Request) error {
		c, _ := ClaimsFrom(r)
		if !h.a.RoleAtLeast(c.Role, role) {
			return errInsufficientRole
		}
		// Administration under an MFA policy (auth.Config.MFA) needs a
		// token of a multi-factor login: 401 with an RFC 9470 challenge.
		if err := h.a.RequireMFAByPolicy(c); err != nil {
			return err
		}
		return fn(w, r)
	})
}

// sensitive serves fn behind Authenticate and, for users an MFA policy
// covers, RequireMFAByPolicy: changing the password or the address.
func (h *Handler) sensitive(fn handlerFunc) http.Handler {
	return h.authenticated(func(w http.ResponseWriter, r *http.Request) error {
		c, _ := ClaimsFrom(r)
		if err := h.a.RequireMFAByPolicy(c); err != nil {
			return err
		}
		return fn(w, r)
	})
}

// client describes the client of r for the Authenticator: its address as
// the IPResolver finds it, and its User-Agent.
func (h *Handler) client(r *http.Request) auth.ClientInfo {
	ci := auth.ClientInfo{UserAgent: r.UserAgent(), IP: unknownClient}
	if ip := h.c.ips.ClientIP(r); ip.IsValid() {
		ci.IP = ip.String()
	}
	return ci
}

// unknownClient stands for a client whose address cannot be known (a Unix
// socket peer): such clients share one per-IP rate-limit bucket rather
// than escape the per-IP limits (the root package's limitKeyIP).
const unknownClient = "unknown"

// checkCrossOrigin applies the cookie-mode CSRF check to r.
func (h *Handler) checkCrossOrigin(r *http.Request) error {
	if h.c.cookies != nil && h.c.cookies.csrf.Check(r) != nil {
		return errCrossOrigin
	}
	return nil
}
