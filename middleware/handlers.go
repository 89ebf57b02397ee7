package middleware

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maestro-ml/auth"
)

// Router is where Mount registers the endpoints: anything whose Handle
// accepts Go 1.22 patterns ("POST /path", "GET /users/{id}") and fills
// Request.PathValue, such as *http.ServeMux and chi.Router (chi v5.1 and
// later).
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// Mount registers every endpoint on r, under the prefix (WithPrefix,
// default "/api/v1/auth") except the key set, which is at DefaultJWKSPath
// (WithJWKSPath):
//
//	POST   {prefix}/register             RegisterHandler (unless WithoutRegistration)
//	POST   {prefix}/login                LoginHandler
//	POST   {prefix}/refresh              RefreshHandler
//	POST   {prefix}/logout               LogoutHandler
//	POST   {prefix}/logout-all           LogoutAllHandler
//	GET    {prefix}/me                   MeHandler
//	POST   {prefix}/verify-email         VerifyEmailHandler
//	POST   {prefix}/verify-email/resend  ResendVerificationHandler
//	POST   {prefix}/password/forgot      ForgotPasswordHandler
//	POST   {prefix}/password/reset       ResetPasswordHandler
//	POST   {prefix}/password/change      ChangePasswordHandler
//	POST   {prefix}/email/change         ChangeEmailHandler
//	POST   {prefix}/email/confirm        ConfirmEmailHandler
//	GET    {prefix}/sessions             SessionsHandler
//	DELETE {prefix}/sessions             RevokeOtherSessionsHandler
//	DELETE {prefix}/sessions/{id}        RevokeSessionHandler
//	GET    {prefix}/users                ListUsersHandler
//	POST   {prefix}/users                CreateUserHandler
//	GET    {prefix}/users/{id}           GetUserHandler
//	PATCH  {prefix}/users/{id}           UpdateUserHandler
//	POST   {prefix}/users/{id}/unlock    UnlockUserHandler
//	GET    {prefix}/audit-events         AuditEventsHandler
//	GET    /.well-known/jwks.json        JWKSHandler
//
// openapi.yaml at the root of the repository describes them. Mount panics
// on an invalid option, or if r panics on a conflicting pattern.
func Mount(r Router, a *auth.Authenticator, opts ...Option) {
	for _, rt := range newServer(a, opts).routes() {
		r.Handle(rt.method+" "+rt.path, rt.handler)
	}
}

// RegisterHandler answers POST {"email", "password", "name"?, "meta"?}
// with 201 and the new user (role: auth.Config.DefaultRole, in the default
// tenant), or, with WithEnumerationSafeRegistration, 202 whether or not
// the address was taken. The caller cannot choose the role, tenant, active
// or verified flags: such fields, in any case, are 400 unknown_field
// (mass assignment, OWASP ASVS 5.0 V15.3). Errors: 400, 409
// email_taken, 413, 415, 422 (invalid email, password policy, ...), 429,
// 503.
func RegisterHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).register()
}

// LoginHandler answers POST {"email", "password"} with 200 and a token
// response including the user. Errors: 401 invalid_credentials (unknown
// email and wrong password alike), 403 user_inactive or
// email_not_verified (only after a correct password), 403 cross_origin
// in cookie mode, 400, 413, 415, 429 (per-client and per-account limits;
// the account lock), 503.
func LoginHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).login()
}

// RefreshHandler answers POST {"refresh_token"} (or, in cookie mode, the
// refresh cookie and an empty body) with 200 and a new token response; the
// refresh token is rotated, and is absent from a response to a concurrent
// retry within the grace window (auth.TokenPair). Errors: 401
// invalid_token for an unknown, expired, revoked or reused token (reuse
// revokes the session), 403 user_inactive, 400, 409, 413, 415, 429, 503.
func RefreshHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).refresh()
}

// MeHandler answers an authenticated GET with 200 and the current user.
// Errors: those of Authenticate, and 404 if the user no longer exists.
func MeHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).me()
}

// LogoutHandler answers an authenticated POST by ending the caller's
// session, its refresh token and access tokens, with 204 (clearing the
// cookies in cookie mode). Errors: those of Authenticate.
func LogoutHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).logout()
}

// LogoutAllHandler answers an authenticated POST by ending every session
// of the caller and revoking every access token issued to them so far,
// with 204. Errors: those of Authenticate.
func LogoutAllHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).logoutAll()
}

// SessionsHandler answers an authenticated GET with 200 and the caller's
// live sessions, newest first, the one making the request marked
// "current". Errors: those of Authenticate.
func SessionsHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).sessions()
}

// RevokeSessionHandler answers an authenticated DELETE of the session
// named by the path wildcard {id} with 204. Errors: those of Authenticate,
// and 404 for a session that is not the caller's or has ended.
func RevokeSessionHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).revokeSession()
}

// JWKSHandler answers GET with the public keys of the Authenticator's key
// set as a JSON Web Key Set (RFC 7517 §5, application/jwk-set+json), for
// services that verify the tokens themselves. The response is public and
// cacheable (WithJWKSMaxAge) with an ETag; a matching If-None-Match gets
// 304. HS256 keys are never published.
func JWKSHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).jwksHandler()
}

// ListUsersHandler answers GET, for an administrator (WithAdminRole), with
// 200 and a page of the users of the caller's tenant ordered by ID. Query
// parameters: limit (1-100, default 20), cursor (the next_cursor of the
// previous page), role, active (true or false). Errors: those of
// Authenticate, 403 insufficient_role, 400 invalid_parameter for an
// unknown, repeated or invalid parameter.
func ListUsersHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).listUsers()
}

// GetUserHandler answers GET of the user named by the path wildcard {id},
// for an administrator, with 200 and the user. A user of another tenant is
// 404, exactly like one that does not exist. Errors: those of
// Authenticate, 403 insufficient_role, 404.
func GetUserHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).getUser()
}

// UpdateUserHandler answers PATCH {"role"?, "active"?, "verified"?} of
// the user named by {id}, for an administrator, with 200 and the updated
// user; role changes and deactivation revoke the user's tokens at once.
// An administrator cannot change their own role or active flag (403
// self_modification: no accidental lock-out), grant a role above their
// own or manage a user ranked above them (403 role_above_caller). Errors
// also: those of Authenticate, 403 insufficient_role, 404 (also for
// another tenant's user), 400, 413, 415, 422 invalid_role.
func UpdateUserHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).updateUser()
}

// CreateUserHandler answers POST {"email", "password", "name"?, "role"?,
// "verified"?, "meta"?}, for an administrator, with 201, a Location and
// the new user, created active in the caller's tenant (the tenant is never
// taken from the body). Errors: those of Authenticate, 403
// insufficient_role or role_above_caller, 400, 409 email_taken, 413, 415,
// 422.
func CreateUserHandler(a *auth.Authenticator, opts ...Option) http.Handler {
	return newServer(a, opts).createUser()
}

// server holds what the handlers share.
type server struct {
	a    *auth.Authenticator
	c    *config
	jwks atomic.Pointer[jwksDoc]
}

func newServer(a *auth.Authenticator, opts []Option) *server {
	if a == nil {
		panic("middleware: nil *auth.Authenticator")
	}
	return &server{a: a, c: newConfig(opts)}
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, err, s.c.log)
}

// route is one endpoint, with every status it can answer (for the
// OpenAPI consistency test).
type route struct {
	method, path string
	handler      http.Handler
	statuses     []int
}

// routes returns the endpoints Mount registers.
func (s *server) routes() []route {
	// Error groups: each error stands for its row of the error table.
	var (
		bodyErrors  = []error{errUnsupportedMediaType, errBodyTooLarge, errMalformedJSON}
		authnErrors = []error{errNoCredentials, errQueryToken, errCrossOrigin, auth.ErrInvalidToken, auth.ErrUnavailable}
		adminErrors = append(slices.Clone(authnErrors), errInsufficientRole)
		newUserErrs = []error{auth.ErrInvalidEmail, auth.ErrPasswordPolicy, auth.ErrInvalidInput, auth.ErrTenantNotFound, auth.ErrEmailTaken}
		// Lifecycle flows: a feature the host may not have configured,
		// and a store that may be down.
		lifecycle = []error{auth.ErrNotConfigured, auth.ErrUnavailable}
		// Re-authentication with the current password (change password
		// or e-mail address).
		reauth = []error{errWrongPassword, auth.ErrUserInactive, auth.ErrUserNotFound, auth.ErrRateLimited}
	)
	p := s.c.prefix
	var rs []route
	add := func(method, path string, h http.Handler, ok []int, errs ...[]error) {
		rs = append(rs, route{method: method, path: path, handler: h, statuses: statuses(ok, slices.Concat(errs...))})
	}
	if !s.c.noRegister {
		add("POST", p+"/register", s.register(), []int{201, 202}, bodyErrors, newUserErrs,
			[]error{auth.ErrRateLimited, auth.ErrUnavailable})
	}
	add("POST", p+"/login", s.login(), []int{200}, bodyErrors, []error{errCrossOrigin,
		auth.ErrInvalidCredentials, auth.ErrUserInactive, auth.ErrEmailNotVerified, auth.ErrRateLimited, auth.ErrUnavailable})
	add("POST", p+"/refresh", s.refresh(), []int{200}, bodyErrors, []error{errCrossOrigin, errNoCredentials,
		errMultipleCredentials, auth.ErrInvalidToken, auth.ErrUserInactive, auth.ErrEmailNotVerified, auth.ErrConflict,
		auth.ErrRateLimited, auth.ErrUnavailable})
	add("POST", p+"/logout", s.logout(), []int{204}, authnErrors)
	add("POST", p+"/logout-all", s.logoutAll(), []int{204}, authnErrors)
	add("GET", p+"/me", s.me(), []int{200}, authnErrors, []error{auth.ErrUserNotFound})
	add("POST", p+"/verify-email", s.verifyEmail(), []int{200}, bodyErrors, lifecycle, []error{errInvalidActionToken})
	add("POST", p+"/verify-email/resend", s.resendVerification(), []int{202}, authnErrors, lifecycle,
		[]error{auth.ErrUserNotFound, auth.ErrRateLimited})
	add("POST", p+"/password/forgot", s.forgotPassword(), []int{202}, bodyErrors, lifecycle, []error{auth.ErrRateLimited})
	add("POST", p+"/password/reset", s.resetPassword(), []int{204}, bodyErrors, lifecycle,
		[]error{errInvalidActionToken, auth.ErrPasswordPolicy, auth.ErrUserInactive, auth.ErrBusy})
	add("POST", p+"/password/change", s.changePassword(), []int{204}, authnErrors, bodyErrors, reauth,
		[]error{auth.ErrPasswordPolicy, auth.ErrBusy})
	add("POST", p+"/email/change", s.changeEmail(), []int{202}, authnErrors, bodyErrors, reauth, lifecycle,
		[]error{auth.ErrInvalidEmail, auth.ErrEmailTaken})
	add("POST", p+"/email/confirm", s.confirmEmail(), []int{200}, bodyErrors, lifecycle,
		[]error{errInvalidActionToken, auth.ErrEmailTaken})
	add("GET", p+"/sessions", s.sessions(), []int{200}, authnErrors)
	add("DELETE", p+"/sessions", s.revokeOtherSessions(), []int{204}, authnErrors)
	add("DELETE", p+"/sessions/{id}", s.revokeSession(), []int{204}, authnErrors, []error{auth.ErrSessionNotFound})
	add("GET", p+"/users", s.listUsers(), []int{200}, adminErrors, []error{errInvalidParameter})
	add("POST", p+"/users", s.createUser(), []int{201}, adminErrors, bodyErrors, newUserErrs,
		[]error{auth.ErrInvalidRole, errRoleAboveCaller})
	add("GET", p+"/users/{id}", s.getUser(), []int{200}, adminErrors, []error{auth.ErrUserNotFound})
	add("PATCH", p+"/users/{id}", s.updateUser(), []int{200}, adminErrors, bodyErrors,
		[]error{auth.ErrUserNotFound, auth.ErrInvalidRole, errRoleAboveCaller, errSelfModification})
	add("POST", p+"/users/{id}/unlock", s.unlockUser(), []int{204}, adminErrors, []error{auth.ErrUserNotFound, errRoleAboveCaller})
	add("GET", p+"/audit-events", s.auditEvents(), []int{200}, adminErrors, []error{errInvalidParameter, auth.ErrNotConfigured})
	if s.c.jwksPath != "" {
		add("GET", s.c.jwksPath, s.jwksHandler(), []int{200, 304})
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

// public wraps h, an endpoint open to anonymous callers, so that its
// request's context carries the client (auth.NewClientContext): the
// Authenticator's audit events record its address and user agent.
func (s *server) public(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(auth.NewClientContext(r.Context(), s.client(r))))
	})
}

// authenticated wraps h in Authenticate, which also sets the client.
func (s *server) authenticated(h http.HandlerFunc) http.Handler { return s.authenticate(h) }

// admin wraps h in Authenticate and RequireRole(WithAdminRole).
func (s *server) admin(h http.HandlerFunc) http.Handler {
	role := s.c.adminRole
	if !slices.Contains(s.a.Roles(), role) {
		panic(fmt.Sprintf("middleware: admin role %q is not one of the Authenticator's roles %v; use WithAdminRole", role, s.a.Roles()))
	}
	return s.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r)
		if !s.a.RoleAtLeast(c.Role, role) {
			s.fail(w, r, errInsufficientRole)
			return
		}
		h(w, r)
	}))
}

// Request bodies. Their json tags are the only accepted field names.
type (
	registerBody struct {
		Email    string          `json:"email"`
		Password string          `json:"password"`
		Name     string          `json:"name"`
		Meta     json.RawMessage `json:"meta"`
	}
	loginBody struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	refreshBody struct {
		RefreshToken string `json:"refresh_token"`
	}
	createUserBody struct {
		Email    string          `json:"email"`
		Password string          `json:"password"`
		Name     string          `json:"name"`
		Role     auth.Role       `json:"role"`
		Verified bool            `json:"verified"`
		Meta     json.RawMessage `json:"meta"`
	}
	updateUserBody struct {
		Role     *auth.Role `json:"role"`
		Active   *bool      `json:"active"`
		Verified *bool      `json:"verified"`
	}
)

// The decoders of the request bodies, one per body type (each fuzzed).
func decodeRegister(body []byte) (b registerBody, err error) {
	if err := decodeObject(body, &b, "email", "password"); err != nil {
		return b, err
	}
	return b, checkMeta(b.Meta)
}

func decodeLogin(body []byte) (b loginBody, err error) {
	return b, decodeObject(body, &b, "email", "password")
}

func decodeRefresh(body []byte, required bool) (b refreshBody, err error) {
	if required {
		return b, decodeObject(body, &b, "refresh_token")
	}
	return b, decodeObject(body, &b)
}

func decodeCreateUser(body []byte) (b createUserBody, err error) {
	if err := decodeObject(body, &b, "email", "password"); err != nil {
		return b, err
	}
	return b, checkMeta(b.Meta)
}

// checkMeta checks that meta, if present, is a JSON object, as the schema
// says; the Authenticator checks it again, with its size limit.
func checkMeta(meta json.RawMessage) error {
	if len(meta) > 0 && meta[0] != '{' {
		return withField(errFieldType, "meta")
	}
	return nil
}

func decodeUpdateUser(body []byte) (b updateUserBody, err error) {
	return b, decodeObject(body, &b)
}

// Response bodies.
type (
	userResponse struct {
		ID          string          `json:"id"`
		TenantID    string          `json:"tenant_id"`
		Email       string          `json:"email"`
		Name        string          `json:"name"`
		Role        auth.Role       `json:"role"`
		Active      bool            `json:"active"`
		Verified    bool            `json:"verified"`
		CreatedAt   time.Time       `json:"created_at"`
		UpdatedAt   time.Time       `json:"updated_at"`
		LastLoginAt *time.Time      `json:"last_login_at"`
		Meta        json.RawMessage `json:"meta"`
	}
	tokenResponse struct {
		// AccessToken and RefreshToken are left out in cookie mode, where
		// they travel in HttpOnly cookies that scripts cannot read.
		AccessToken  string        `json:"access_token,omitempty"`
		TokenType    string        `json:"token_type"`
		ExpiresIn    int64         `json:"expires_in"`
		RefreshToken string        `json:"refresh_token,omitempty"`
		SessionID    string        `json:"session_id"`
		User         *userResponse `json:"user,omitempty"`
	}
	// accepted is the body of every 202: the request was taken, and
	// nothing more is said (enumeration-safe registration, password
	// reset, e-mail change).
	accepted struct {
		Status string `json:"status"`
	}
	sessionResponse struct {
		ID            string    `json:"id"`
		Current       bool      `json:"current"`
		CreatedAt     time.Time `json:"created_at"`
		LastUsedAt    time.Time `json:"last_used_at"`
		IdleExpiresAt time.Time `json:"idle_expires_at"`
		ExpiresAt     time.Time `json:"expires_at"`
		UserAgent     string    `json:"user_agent"`
		IP            string    `json:"ip"`
	}
	sessionList struct {
		Sessions []sessionResponse `json:"sessions"`
	}
	userList struct {
		Users      []*userResponse `json:"users"`
		NextCursor string          `json:"next_cursor,omitempty"`
	}
)

var acceptedBody = accepted{Status: "accepted"}

func newUserResponse(u *auth.User) *userResponse {
	meta := u.Meta
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	return &userResponse{
		ID: u.ID, TenantID: u.TenantID, Email: u.Email, Name: u.Name, Role: u.Role, Active: u.Active,
		Verified: u.Verified, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastLoginAt: u.LastLoginAt, Meta: meta,
	}
}

// writeJSON writes v as the JSON body of a status response.
func (s *server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.fail(w, r, fmt.Errorf("middleware: encoding response: %w", err))
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeNoContent(w http.ResponseWriter) {
	securityHeaders(w.Header())
	w.WriteHeader(http.StatusNoContent)
}

// readJSON reads and decodes the body of r with decode.
func readJSON[T any](s *server, w http.ResponseWriter, r *http.Request, decode func([]byte) (T, error)) (T, error) {
	body, err := readBody(w, r, s.c.bodyLimit)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode(body)
}

// client describes the client of r for the Authenticator: its address as
// the IPResolver finds it, and its User-Agent.
func (s *server) client(r *http.Request) auth.ClientInfo {
	ci := auth.ClientInfo{UserAgent: r.UserAgent(), IP: unknownClient}
	if ip := s.c.ips.ClientIP(r); ip.IsValid() {
		ci.IP = ip.String()
	}
	return ci
}

// unknownClient stands for a client whose address cannot be known (a Unix
// socket peer): such clients share one per-IP rate-limit bucket rather
// than escape the per-IP limits (auth.LimitKeyIP).
const unknownClient = "unknown"

// checkCrossOrigin applies the cookie-mode CSRF check to r.
func (s *server) checkCrossOrigin(r *http.Request) error {
	if s.c.cookies != nil && s.c.cookies.csrf.Check(r) != nil {
		return errCrossOrigin
	}
	return nil
}

func (s *server) register() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) {
		b, err := readJSON(s, w, r, decodeRegister)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		u, err := s.a.Register(r.Context(), auth.RegisterRequest{
			Email: b.Email, Password: b.Password, Name: b.Name, Meta: b.Meta, Client: s.client(r),
		})
		if s.c.enumSafe && (err == nil || errors.Is(err, auth.ErrEmailTaken)) {
			s.writeJSON(w, r, http.StatusAccepted, acceptedBody)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusCreated, newUserResponse(u))
	})
}

func (s *server) login() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkCrossOrigin(r); err != nil { // login CSRF
			s.fail(w, r, err)
			return
		}
		b, err := readJSON(s, w, r, decodeLogin)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		pair, u, err := s.a.Login(r.Context(), auth.LoginRequest{Email: b.Email, Password: b.Password, Client: s.client(r)})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.writeTokens(w, r, pair, u)
	})
}

func (s *server) refresh() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) {
		cookieMode := s.c.cookies != nil
		cookie := ""
		if cookieMode {
			if err := s.checkCrossOrigin(r); err != nil {
				s.fail(w, r, err)
				return
			}
			var err error
			if cookie, err = oneCookie(r, s.c.cookies.refreshName); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		var b refreshBody
		if !cookieMode || r.ContentLength != 0 { // cookie mode allows an empty body
			var err error
			b, err = readJSON(s, w, r, func(body []byte) (refreshBody, error) { return decodeRefresh(body, !cookieMode) })
			if err != nil {
				s.fail(w, r, err)
				return
			}
		}
		token := b.RefreshToken
		switch {
		case token != "" && cookie != "":
			s.fail(w, r, errMultipleCredentials)
			return
		case token == "" && cookie == "" && cookieMode:
			s.fail(w, r, errNoCredentials)
			return
		case token == "":
			token = cookie
		}
		pair, err := s.a.Refresh(r.Context(), auth.RefreshRequest{RefreshToken: token, Client: s.client(r)})
		if err != nil {
			if cookieMode && errors.Is(err, auth.ErrInvalidToken) {
				s.clearCookies(w)
			}
			s.fail(w, r, err)
			return
		}
		s.writeTokens(w, r, pair, nil)
	})
}

// writeTokens writes a token response for pair (and u, on login), setting
// the cookies in cookie mode.
func (s *server) writeTokens(w http.ResponseWriter, r *http.Request, pair *auth.TokenPair, u *auth.User) {
	now := pair.IssuedAt // the Authenticator's clock
	resp := tokenResponse{
		AccessToken: pair.AccessToken, TokenType: pair.TokenType, RefreshToken: pair.RefreshToken,
		ExpiresIn: max(int64(pair.ExpiresAt.Sub(now).Round(time.Second)/time.Second), 0), SessionID: pair.SessionID,
	}
	if u != nil {
		resp.User = newUserResponse(u)
	}
	if cc := s.c.cookies; cc != nil {
		http.SetCookie(w, s.cookie(cc.accessName, "/", pair.AccessToken, pair.ExpiresAt.Sub(now)))
		if pair.RefreshToken != "" {
			http.SetCookie(w, s.cookie(cc.refreshName, cc.refreshPath, pair.RefreshToken, pair.RefreshExpiresAt.Sub(now)))
		}
		resp.AccessToken, resp.RefreshToken = "", ""
	}
	s.writeJSON(w, r, http.StatusOK, resp)
}

// cookie returns an HttpOnly, Secure, SameSite cookie (OWASP ASVS 5.0
// V3.3, cookie setup) living for ttl; ttl <= 0 deletes it.
func (s *server) cookie(name, path, value string, ttl time.Duration) *http.Cookie {
	maxAge := -1
	if ttl > 0 {
		maxAge = max(int(ttl/time.Second), 1)
	} else {
		value = ""
	}
	return &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: s.c.cookies.sameSite,
	}
}

// clearCookies deletes both cookies in cookie mode.
func (s *server) clearCookies(w http.ResponseWriter) {
	if cc := s.c.cookies; cc != nil {
		http.SetCookie(w, s.cookie(cc.accessName, "/", "", 0))
		http.SetCookie(w, s.cookie(cc.refreshName, cc.refreshPath, "", 0))
	}
}

func (s *server) me() http.Handler {
	return s.authenticated(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r)
		u, err := s.a.CurrentUser(r.Context(), c)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, newUserResponse(u))
	})
}

func (s *server) logout() http.Handler {
	return s.authenticated(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r)
		if err := s.a.Logout(r.Context(), c); err != nil {
			s.fail(w, r, err)
			return
		}
		s.clearCookies(w)
		writeNoContent(w)
	})
}

func (s *server) logoutAll() http.Handler {
	return s.authenticated(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r)
		if err := s.a.LogoutAll(r.Context(), c.UserID); err != nil {
			s.fail(w, r, err)
			return
		}
		s.clearCookies(w)
		writeNoContent(w)
	})
}

func (s *server) sessions() http.Handler {
	return s.authenticated(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r)
		list, err := s.a.Sessions(r.Context(), c.UserID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out := sessionList{Sessions: make([]sessionResponse, 0, len(list))}
		for _, ss := range list {
			out.Sessions = append(out.Sessions, sessionResponse{
				ID: ss.ID, Current: ss.ID == c.SessionID, CreatedAt: ss.CreatedAt, LastUsedAt: ss.LastUsedAt,
				IdleExpiresAt: ss.IdleExpiresAt, ExpiresAt: ss.ExpiresAt, UserAgent: ss.UserAgent, IP: ss.IP,
			})
		}
		s.writeJSON(w, r, http.StatusOK, out)
	})
}

func (s *server) revokeSession() http.Handler {
	return s.authenticated(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r)
		id := r.PathValue("id")
		if err := s.a.RevokeSession(r.Context(), c.UserID, id); err != nil {
			s.fail(w, r, err)
			return
		}
		if id == c.SessionID {
			s.clearCookies(w)
		}
		writeNoContent(w)
	})
}

func (s *server) listUsers() http.Handler {
	return s.admin(func(w http.ResponseWriter, r *http.Request) {
		q, err := s.userQuery(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		users, next, err := s.a.ListUsers(r.Context(), q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out := userList{Users: make([]*userResponse, 0, len(users)), NextCursor: next}
		for _, u := range users {
			out.Users = append(out.Users, newUserResponse(u))
		}
		s.writeJSON(w, r, http.StatusOK, out)
	})
}

// userQuery parses the query of a user listing, scoped to the caller's
// tenant. Every parameter must be known, given once and valid.
func (s *server) userQuery(r *http.Request) (auth.UserQuery, error) {
	q := auth.UserQuery{TenantID: TenantID(r)}
	err := queryParams(r, func(name, v string) bool {
		switch name {
		case "limit":
			return pageLimit(v, &q.Limit)
		case "cursor":
			q.After = v
			return auth.ValidID(v)
		case "role":
			q.Role = auth.Role(v)
			return slices.Contains(s.a.Roles(), q.Role)
		case "active":
			b, err := strconv.ParseBool(v)
			q.Active = &b
			return err == nil && (v == "true" || v == "false")
		}
		return false
	})
	return q, err
}

// pageLimit parses a page-size parameter, 1 to 100, into dst.
func pageLimit(v string, dst *int) bool {
	n, err := strconv.Atoi(v)
	*dst = n
	return err == nil && n >= 1 && n <= 100
}

// queryParams parses the query string of r and calls set with each
// parameter, in name order; set reports whether the name is known and the
// value valid. A malformed query string is errInvalidParameter; a
// parameter given more than once, unknown or invalid, errInvalidParameter
// with its name.
func queryParams(r *http.Request, set func(name, value string) bool) error {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errInvalidParameter
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if v := values[name]; len(v) != 1 || !set(name, v[0]) {
			return withField(errInvalidParameter, name)
		}
	}
	return nil
}

func (s *server) getUser() http.Handler {
	return s.admin(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.a.User(r.Context(), TenantID(r), r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, newUserResponse(u))
	})
}

func (s *server) updateUser() http.Handler {
	return s.admin(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r)
		id := r.PathValue("id")
		b, err := readJSON(s, w, r, decodeUpdateUser)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if id == c.UserID && (b.Role != nil || b.Active != nil) {
			s.fail(w, r, errSelfModification)
			return
		}
		if b.Role != nil && s.aboveCaller(c, *b.Role) {
			s.fail(w, r, errRoleAboveCaller)
			return
		}
		target, err := s.a.User(r.Context(), c.TenantID, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if s.aboveCaller(c, target.Role) {
			s.fail(w, r, errRoleAboveCaller)
			return
		}
		u, err := s.a.UpdateUser(r.Context(), c.TenantID, id, auth.AdminUpdate{Role: b.Role, Active: b.Active, Verified: b.Verified})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, newUserResponse(u))
	})
}

func (s *server) createUser() http.Handler {
	return s.admin(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r)
		b, err := readJSON(s, w, r, decodeCreateUser)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if b.Role != "" && s.aboveCaller(c, b.Role) {
			s.fail(w, r, errRoleAboveCaller)
			return
		}
		u, err := s.a.CreateUser(r.Context(), auth.NewUser{
			TenantID: c.TenantID, Email: b.Email, Password: b.Password, Name: b.Name, Role: b.Role,
			Verified: b.Verified, Meta: b.Meta,
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Location", s.c.prefix+"/users/"+u.ID)
		s.writeJSON(w, r, http.StatusCreated, newUserResponse(u))
	})
}

// aboveCaller reports whether role is a known role ranked above the
// caller's (least privilege, OWASP ASVS 5.0 V8.2). Unknown roles are
// left for the Authenticator to refuse with ErrInvalidRole.
func (s *server) aboveCaller(c *auth.Claims, role auth.Role) bool {
	return slices.Contains(s.a.Roles(), role) && !s.a.RoleAtLeast(c.Role, role)
}

// jwksDoc is the encoded key set of one *auth.KeySet.
type jwksDoc struct {
	ks   *auth.KeySet
	body []byte
	etag string
}

func (s *server) jwksHandler() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) {
		ks := s.a.Keys()
		d := s.jwks.Load()
		if d == nil || d.ks != ks {
			body, err := ks.JWKS()
			if err != nil {
				s.fail(w, r, fmt.Errorf("middleware: encoding JWKS: %w", err))
				return
			}
			sum := sha256.Sum256(body)
			d = &jwksDoc{ks: ks, body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}
			s.jwks.Store(d)
		}
		h := w.Header()
		securityHeaders(h)
		if s.c.jwksMaxAge > 0 {
			h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.c.jwksMaxAge/time.Second)))
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		h.Set("ETag", d.etag)
		if etagMatch(r.Header.Get("If-None-Match"), d.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(d.body)
	})
}

// etagMatch applies the weak comparison of If-None-Match (RFC 9110
// §13.1.2) to the list in header.
func etagMatch(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
