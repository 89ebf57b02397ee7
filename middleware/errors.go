package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/maestro-ml/auth"
)

// Errors of this package's own making. They are unexported: the HTTP
// response is their interface. Each has a row in errorTable.
var (
	errNoCredentials          = errors.New("middleware: no credentials")
	errUnsupportedScheme      = errors.New("middleware: authorization scheme is not Bearer")
	errMalformedAuthorization = errors.New("middleware: malformed Authorization header")
	errMultipleCredentials    = errors.New("middleware: more than one credential")
	errQueryToken             = errors.New("middleware: access token in the query string")
	errCrossOrigin            = errors.New("middleware: cross-origin request refused")
	errInsufficientRole       = errors.New("middleware: insufficient role")
	errRoleAboveCaller        = errors.New("middleware: role above the caller's")
	errSelfModification       = errors.New("middleware: administrators cannot change their own role or active flag, or reset their own second factors")
	errNotFound               = errors.New("middleware: not found")
	errNoEndpoint             = errors.New("middleware: no endpoint at this path")
	errMethodNotAllowed       = errors.New("middleware: method not allowed")
	errWrongPassword          = errors.New("middleware: the current password is wrong")
	errWrongCode              = errors.New("middleware: the second-factor code is wrong")
	errInvalidStepUp          = errors.New("middleware: a step-up takes a password or a code, not both")
	errInvalidActionToken     = errors.New("middleware: invalid, used or expired e-mailed token")

	errUnsupportedMediaType = errors.New("middleware: content type is not application/json")
	errBodyTooLarge         = errors.New("middleware: request body too large")
	errBodyRead             = errors.New("middleware: request body could not be read")
	errEmptyBody            = errors.New("middleware: empty request body")
	errMalformedJSON        = errors.New("middleware: malformed JSON")
	errNotObject            = errors.New("middleware: request body is not a JSON object")
	errTooDeep              = errors.New("middleware: JSON nested too deeply")
	errInvalidUTF8          = errors.New("middleware: request body is not valid UTF-8")
	errTrailingData         = errors.New("middleware: data after the JSON object")
	errUnknownField         = errors.New("middleware: unknown field")
	errDuplicateField       = errors.New("middleware: duplicate field")
	errFieldType            = errors.New("middleware: field of the wrong type")
	errMissingField         = errors.New("middleware: missing field")
	errInvalidParameter     = errors.New("middleware: invalid query parameter")
)

// fieldError names the field or query parameter that an error is about.
// The name comes from the request and is echoed (sanitised) in the
// problem's "field" member; the wrapped error says what is wrong with it.
type fieldError struct {
	err   error
	field string
}

func (e *fieldError) Error() string { return e.err.Error() + ": " + strconv.Quote(e.field) }
func (e *fieldError) Unwrap() error { return e.err }

func withField(err error, field string) error { return &fieldError{err, field} }

// Retry-After values for 503 responses.
const (
	retryBusy        = 1 * time.Second
	retryUnavailable = 5 * time.Second
)

// WWW-Authenticate challenges (RFC 6750 §3).
const (
	challengeBearer         = `Bearer`
	challengeInvalidToken   = `Bearer error="invalid_token"`
	challengeInvalidRequest = `Bearer error="invalid_request"`
	// RFC 9470 §3.
	challengeInsufficientAuth = `Bearer error="insufficient_user_authentication"`
)

// mapping is one row of the error table.
type mapping struct {
	err    error
	status int
	// code is the stable, machine-readable "code" member of the problem.
	code string
	// detail is a fixed, human-readable explanation. It never contains
	// text from the error: nothing from below the HTTP layer leaks.
	detail string
	// challenge is the WWW-Authenticate value of a 401 or of a 400 about
	// how the token was sent.
	challenge string
	// retryAfter is the Retry-After of a 503. For 429 it comes from the
	// *auth.RateLimitError.
	retryAfter time.Duration
}

// errorTable maps every error that reaches the HTTP layer to its response;
// the first row whose err matches (errors.Is) wins, so specific errors
// come before the ones they wrap. An error that matches no row is a 500.
// It is never modified.
//
// 400 means the request does not match the schema in openapi.yaml (it
// could not be read); 422 means it does, but a value is refused by policy
// (RFC 9110 §15.5.21): a client can show a 422's code to the user, while a
// 400 is a bug in the client.
var errorTable = [...]mapping{
	// Credentials and how they are sent (RFC 6750 §3.1).
	{err: errNoCredentials, status: 401, code: "unauthenticated", challenge: challengeBearer,
		detail: "Authentication is required: send an access token in the Authorization header as Bearer <token>."},
	{err: errUnsupportedScheme, status: 401, code: "unsupported_auth_scheme", challenge: challengeBearer,
		detail: "Only the Bearer authentication scheme is accepted."},
	{err: errQueryToken, status: 400, code: "invalid_request", challenge: challengeInvalidRequest,
		detail: "Access tokens are not accepted in the URL query, where they would be logged; send them in the Authorization header."},
	{err: errMultipleCredentials, status: 400, code: "invalid_request", challenge: challengeInvalidRequest,
		detail: "More than one credential was sent; send exactly one."},
	{err: errMalformedAuthorization, status: 400, code: "invalid_request", challenge: challengeInvalidRequest,
		detail: "The Authorization header must be of the form Bearer <token>."},
	{err: auth.ErrTokenExpired, status: 401, code: "token_expired", challenge: challengeInvalidToken,
		detail: "The token has expired."},
	{err: auth.ErrTokenRevoked, status: 401, code: "invalid_token", challenge: challengeInvalidToken,
		detail: "The token is invalid, expired or revoked."},
	{err: auth.ErrRefreshReused, status: 401, code: "invalid_token", challenge: challengeInvalidToken,
		detail: "The token is invalid, expired or revoked."},
	{err: auth.ErrInvalidToken, status: 401, code: "invalid_token", challenge: challengeInvalidToken,
		detail: "The token is invalid, expired or revoked."},
	{err: auth.ErrInvalidCode, status: 401, code: "invalid_code", challenge: challengeBearer,
		detail: "The second-factor code is wrong, malformed or already used."},
	{err: auth.ErrInvalidCredentials, status: 401, code: "invalid_credentials", challenge: challengeBearer,
		detail: "The email address or password is incorrect."},
	// The password was right and a second step remains; the answer of the
	// login endpoint carries the ticket that continues it.
	{err: auth.ErrMFARequired, status: 401, code: "mfa_required", challenge: challengeBearer,
		detail: "A second factor is required to finish signing in."},
	// RFC 9470 §3: the token is valid but its authentication is too weak
	// or too old for this action.
	{err: auth.ErrInsufficientAuth, status: 401, code: "insufficient_user_authentication", challenge: challengeInsufficientAuth,
		detail: "This action needs a stronger or more recent authentication; sign in again or step up."},

	// Authorisation.
	{err: errCrossOrigin, status: 403, code: "cross_origin",
		detail: "Cross-origin requests are not accepted with cookie credentials."},
	{err: errInsufficientRole, status: 403, code: "insufficient_role",
		detail: "Your role does not allow this action."},
	{err: errRoleAboveCaller, status: 403, code: "role_above_caller",
		detail: "You cannot grant a role above your own, or manage a user whose role is above yours."},
	{err: errSelfModification, status: 403, code: "self_modification",
		detail: "You cannot change your own role, deactivate your own account or reset your own second factors."},
	{err: auth.ErrUserInactive, status: 403, code: "user_inactive",
		detail: "The account is disabled."},
	{err: auth.ErrEmailNotVerified, status: 403, code: "email_not_verified",
		detail: "The email address must be verified before signing in."},
	// A wrong current password from an authenticated caller (password or
	// e-mail change) is 403, not 401: the access token is valid, and a 401
	// must carry a challenge (RFC 9110 §15.5.2) that tells clients to
	// drop or refresh it (RFC 6750 §3). The code is the one a wrong
	// password gets at login.
	{err: errWrongPassword, status: 403, code: "invalid_credentials",
		detail: "The current password is incorrect."},
	{err: errWrongCode, status: 403, code: "invalid_code",
		detail: "The second-factor code is wrong, malformed or already used."},

	// Resources. A resource of another tenant is not found, never
	// forbidden: a 403 would confirm that it exists (OWASP ASVS 5.0 V8.2, IDOR).
	{err: errNotFound, status: 404, code: "not_found", detail: "The resource does not exist."},
	{err: errNoEndpoint, status: 404, code: "not_found", detail: "There is no endpoint at this path."},
	{err: errMethodNotAllowed, status: 405, code: "method_not_allowed",
		detail: "The endpoint does not accept this method; the Allow header lists those it does."},
	{err: auth.ErrUserNotFound, status: 404, code: "user_not_found", detail: "The user does not exist."},
	{err: auth.ErrSessionNotFound, status: 404, code: "session_not_found", detail: "The session does not exist or has ended."},
	{err: auth.ErrEmailTaken, status: 409, code: "email_taken", detail: "The email address is already registered."},
	{err: auth.ErrTenantTaken, status: 409, code: "tenant_taken", detail: "The tenant slug is already in use."},
	{err: auth.ErrFactorEnrolled, status: 409, code: "factor_enrolled",
		detail: "This second factor is already enrolled; disable it first to enrol it anew."},
	{err: auth.ErrFactorNotEnrolled, status: 409, code: "factor_not_enrolled",
		detail: "This second factor is not enrolled, or no enrolment is pending to confirm."},
	{err: auth.ErrConflict, status: 409, code: "conflict", detail: "The resource was changed concurrently; retry the request."},

	// Reading the request.
	{err: errUnsupportedMediaType, status: 415, code: "unsupported_media_type",
		detail: "The request body must be application/json (UTF-8)."},
	{err: errBodyTooLarge, status: 413, code: "body_too_large", detail: "The request body is too large."},
	{err: errBodyRead, status: 400, code: "malformed_json", detail: "The request body could not be read."},
	{err: errEmptyBody, status: 400, code: "malformed_json", detail: "The request body is empty."},
	{err: errMalformedJSON, status: 400, code: "malformed_json", detail: "The request body is not valid JSON."},
	{err: errNotObject, status: 400, code: "malformed_json", detail: "The request body must be a JSON object."},
	{err: errTooDeep, status: 400, code: "malformed_json", detail: "The request body is nested too deeply."},
	{err: errInvalidUTF8, status: 400, code: "invalid_utf8",
		detail: "The request body is not valid UTF-8, or has an escaped lone surrogate."},
	{err: errTrailingData, status: 400, code: "trailing_data", detail: "The request body has data after the JSON object."},
	{err: errUnknownField, status: 400, code: "unknown_field",
		detail: "The request body has a field this operation does not accept (names are case-sensitive)."},
	{err: errDuplicateField, status: 400, code: "duplicate_field",
		detail: "The request body has the same field twice (names are compared case-insensitively)."},
	{err: errFieldType, status: 400, code: "invalid_field_type", detail: "A field of the request body has the wrong type or is null."},
	{err: errMissingField, status: 400, code: "missing_field", detail: "A required field of the request body is missing."},
	{err: errInvalidStepUp, status: 400, code: "invalid_field_type", detail: "A step-up takes a password, or a code and optionally its factor, not both."},
	{err: errInvalidParameter, status: 400, code: "invalid_parameter", detail: "A query parameter is unknown, repeated or invalid."},

	// Policy (422).
	{err: auth.ErrInvalidEmail, status: 422, code: "invalid_email", detail: "The email address is not valid."},
	{err: auth.ErrPasswordTooShort, status: 422, code: "password_too_short", detail: "The password is too short."},
	{err: auth.ErrPasswordTooLong, status: 422, code: "password_too_long", detail: "The password is too long."},
	{err: auth.ErrPasswordCommon, status: 422, code: "password_too_common", detail: "The password is too common; choose another."},
	{err: auth.ErrPasswordContext, status: 422, code: "password_too_close",
		detail: "The password is too close to the email address or the service name."},
	{err: auth.ErrPasswordEncoding, status: 422, code: "password_encoding",
		detail: "The password contains characters that are not allowed."},
	{err: auth.ErrPasswordPolicy, status: 422, code: "password_policy", detail: "The password does not meet the policy."},
	{err: auth.ErrInvalidRole, status: 422, code: "invalid_role", detail: "The role is not one of the configured roles."},
	{err: auth.ErrTenantNotFound, status: 422, code: "tenant_not_found", detail: "The tenant does not exist or is inactive."},
	// A verification, reset or e-mail change token from a link is data in
	// the body, not the request's credential: no 401 and no challenge
	// (RFC 6750 §3 is about access tokens). 422, not 410, because an
	// unknown, a used and an expired token get the same answer, which
	// reveals nothing about which it is.
	{err: errInvalidActionToken, status: 422, code: "invalid_action_token",
		detail: "The link's token is invalid, expired or already used; request a new one."},
	{err: auth.ErrInvalidInput, status: 422, code: "invalid_input",
		detail: "A value is not acceptable: a name that is too long or has control characters, meta that is not a JSON object, or a malformed ID."},

	// A flow the host did not configure (auth.Config.ActionTokens, Notifier).
	{err: auth.ErrNotConfigured, status: 501, code: "not_configured", detail: "This feature is not enabled on this server."},

	// Load and availability: fail closed.
	{err: auth.ErrRateLimited, status: 429, code: "rate_limited", detail: "Too many attempts; retry after the time in Retry-After."},
	{err: auth.ErrBusy, status: 503, code: "busy", retryAfter: retryBusy,
		detail: "The service is busy; retry after the time in Retry-After."},
	{err: auth.ErrUnavailable, status: 503, code: "unavailable", retryAfter: retryUnavailable,
		detail: "The service is temporarily unavailable; retry after the time in Retry-After."},
	{err: context.DeadlineExceeded, status: 503, code: "unavailable", retryAfter: retryUnavailable,
		detail: "The service is temporarily unavailable; retry after the time in Retry-After."},
	{err: context.Canceled, status: 503, code: "unavailable", retryAfter: retryUnavailable,
		detail: "The service is temporarily unavailable; retry after the time in Retry-After."},
}

// internalError is the response to an error that matches no row.
var internalError = mapping{status: 500, code: "internal_error", detail: "An internal error occurred."}

// lookup returns the row for err.
func lookup(err error) mapping {
	for _, m := range errorTable {
		if errors.Is(err, m.err) {
			return m
		}
	}
	return internalError
}

// Problem is the RFC 9457 problem details object every error response
// carries, as application/problem+json. Type is always "about:blank", so
// Title is the HTTP status phrase (RFC 9457 §4.2.1); Code is the stable,
// machine-readable reason to branch on.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Code is the reason, for example "invalid_token", "email_taken",
	// "password_too_short". The codes are listed in openapi.yaml.
	Code string `json:"code"`
	// Field names the offending body field or query parameter of a 400,
	// when it is short and printable.
	Field string `json:"field,omitempty"`
}

// WriteError writes the response that the package's error table gives for
// err: an RFC 9457 problem with WWW-Authenticate on 401 (RFC 6750 §3) and
// Retry-After on 429 and 503. Use it in your own handlers for errors
// returned by the Authenticator, so that they answer as the mounted
// endpoints do. An error of no known kind is a 500 whose body says nothing
// of it; it is logged, like outages and refusals, with the Handler's
// logger (WithLogger).
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	m := lookup(err)
	logError(r, err, m, h.c.log)
	hd := w.Header()
	securityHeaders(hd)
	hd.Set("Content-Type", "application/problem+json")
	if m.challenge != "" {
		hd.Set("WWW-Authenticate", m.challenge)
	}
	if ia, ok := errors.AsType[*auth.InsufficientAuthError](err); ok {
		hd.Set("WWW-Authenticate", insufficientChallenge(ia))
	}
	switch m.status {
	case http.StatusTooManyRequests:
		retry := time.Second
		if rl, ok := errors.AsType[*auth.RateLimitError](err); ok {
			retry = rl.RetryAfter
		}
		hd.Set("Retry-After", retryAfterSeconds(retry))
	case http.StatusServiceUnavailable:
		hd.Set("Retry-After", retryAfterSeconds(m.retryAfter))
	case http.StatusUnsupportedMediaType:
		// RFC 5789 §3.1 and the W3C Linked Data Platform's Accept-Post.
		switch r.Method {
		case http.MethodPatch:
			hd.Set("Accept-Patch", "application/json")
		case http.MethodPost:
			hd.Set("Accept-Post", "application/json")
		}
	}
	p := Problem{Type: "about:blank", Title: http.StatusText(m.status), Status: m.status, Detail: m.detail, Code: m.code}
	if fe, ok := errors.AsType[*fieldError](err); ok {
		p.Field = printableField(fe.field)
	}
	var v any = p
	if mfa, ok := errors.AsType[*auth.MFARequiredError](err); ok {
		factors := mfa.Factors
		if factors == nil {
			factors = []string{}
		}
		v = mfaProblem{Problem: p, Ticket: mfa.Ticket, ExpiresAt: mfa.ExpiresAt, Factors: factors, Enroll: mfa.Enroll}
	}
	body, _ := json.Marshal(v) // cannot fail: strings, ints, a time
	w.WriteHeader(m.status)
	_, _ = w.Write(append(body, '\n'))
}

// logError logs what the operator needs: internal errors in full
// (library errors never carry secrets), outages as warnings, refusals at
// Debug: they are routine (an expired token every few minutes per client)
// and the Authenticator's audit events already record the authentication
// decisions that matter (OWASP ASVS 5.0 V16.3).
func logError(r *http.Request, err error, m mapping, log *slog.Logger) {
	ctx := r.Context()
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", m.status, "code", m.code}
	switch {
	case m.status == http.StatusServiceUnavailable && errors.Is(err, context.Canceled):
		log.DebugContext(ctx, "middleware: request canceled", attrs...)
	case m.status == http.StatusServiceUnavailable:
		log.WarnContext(ctx, "middleware: service unavailable", append(attrs, "error", err)...)
	case m.status >= 500:
		log.ErrorContext(ctx, "middleware: internal error", append(attrs, "error", err)...)
	default:
		log.DebugContext(ctx, "middleware: request refused", attrs...)
	}
}

// retryAfterSeconds formats d as delay-seconds (RFC 9110 §10.2.3), rounded
// up so a client never retries too early, and at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// printableField returns name if it is short printable ASCII, else "":
// the name comes from the request and is echoed only when harmless.
func printableField(name string) string {
	if len(name) == 0 || len(name) > 64 {
		return ""
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e {
			return ""
		}
	}
	return name
}

// securityHeaders sets the headers every response of this package
// carries (OWASP REST Security Cheat Sheet, "Security headers"): no
// caching of anything user- or token-specific (RFC 6749 §5.1 for token
// responses), no MIME sniffing, and no framing or active content.
func securityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
}
