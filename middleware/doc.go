// Package middleware puts an *auth.Authenticator on HTTP: middleware that
// authenticates and authorises requests, and handlers for registration,
// login, refresh, logout, sessions, the account lifecycle (e-mail
// verification, password reset and change, e-mail change), user
// administration, the audit log and the key set, for any router that takes
// Go 1.22 patterns (http.ServeMux, chi).
//
// # Protecting a router
//
// Build one Handler with New, from the Authenticator and the options;
// everything goes through it, so the endpoints and the middleware share
// the cookies, the client-address rules and the logger. Then mount the
// endpoints and wrap routes:
//
//	h, err := middleware.New(a, middleware.WithLogger(log))
//	if err != nil {
//		return err // an invalid option
//	}
//	h.Mount(mux)                                    // POST /api/v1/auth/login, ...
//	mux.Handle("GET /notes", h.Authenticate(notes)) // 401 unless a valid access token; ClaimsFrom(r) inside
//
// With chi the middleware goes through With or Use:
//
//	h.Mount(r)
//	r.With(h.Authenticate).Get("/notes", notes)
//	r.With(h.Authenticate, h.RequireRole(auth.RoleEditor)).Post("/notes", create)
//
// RequireRole(auth.RoleEditor) admits a role and those above it;
// RequireTenant("tenant") and SameTenant keep each tenant to itself;
// Optional serves anonymous users too. A Handler is also an http.Handler
// that serves every endpoint at its path, so a host can mount one
// endpoint alone, behind middleware of its own:
//
//	mux.Handle("POST /api/v1/auth/register", captcha(h))
//
// openapi.yaml, at the root of the repository, describes every endpoint,
// body and status.
//
// # Security model
//
// Access tokens travel in the Authorization header (RFC 6750 §2.1), never
// in the URL: a query-string token is refused with 400, not ignored. In
// cookie mode (WithCookies) they travel instead in HttpOnly, Secure,
// SameSite=Strict cookies that scripts cannot read, the refresh cookie
// limited to the endpoints' prefix (refresh and logout), and every unsafe request that a
// cookie authenticates, and every login and refresh, must pass
// http.CrossOriginProtection (Sec-Fetch-Site and Origin checks against
// cross-site request forgery).
//
// Request bodies must be application/json, at most 16 KiB
// (WithBodyLimit), valid UTF-8, one JSON object with case-sensitive,
// unique, known field names and nothing after it. Registration cannot set
// the role, tenant, active or verified flags. Administrative endpoints are
// scoped to the caller's tenant: another tenant's user is "not found".
//
// Every request that Authenticate or Optional admits, and every request to
// an endpoint, carries the client in its context (auth.NewClientContext:
// the address that WithIPResolver finds, and the User-Agent), so audit
// events record where each action came from.
//
// Tokens from e-mailed links (verification, reset, e-mail change) are
// posted in the body, never put in a URL. One that is unknown, used or
// expired is 422 invalid_action_token, not 401: a 401 and its challenge
// are about the request's access token, which a client would then drop.
// For the same reason a wrong current password from an authenticated
// caller (password or e-mail change) is 403 invalid_credentials. Password
// reset requests answer 202 whether or not the address has an account.
//
// # Errors
//
// Every error is an RFC 9457 application/problem+json response with type
// "about:blank", the status phrase as title, a fixed detail and a stable
// code; text from the error itself never reaches the client. A 401
// carries WWW-Authenticate: Bearer (with error="invalid_token" for a bad,
// expired or revoked token), 429 and 503 carry Retry-After. The mapping is
// one table in errors.go:
//
//	400 the request does not match the schema: malformed_json, invalid_utf8,
//	    trailing_data, unknown_field, duplicate_field, invalid_field_type,
//	    missing_field, invalid_parameter, invalid_request (how the token
//	    was sent)
//	401 unauthenticated, unsupported_auth_scheme, invalid_token,
//	    token_expired, invalid_credentials
//	403 insufficient_role, role_above_caller, self_modification,
//	    cross_origin, user_inactive, email_not_verified,
//	    invalid_credentials (a wrong current password when signed in)
//	404 not_found, user_not_found, session_not_found
//	409 email_taken, tenant_taken, conflict
//	413 body_too_large
//	415 unsupported_media_type
//	422 the request is well-formed but refused by policy: invalid_email,
//	    password_too_short, password_too_long, password_too_common,
//	    password_too_close, password_encoding, password_policy,
//	    invalid_role, tenant_not_found, invalid_input,
//	    invalid_action_token (an e-mailed token: unknown, used, expired)
//	429 rate_limited (auth.RateLimitError)
//	500 internal_error (logged with slog; the body says nothing more)
//	501 not_configured (auth.ErrNotConfigured: no Config.ActionTokens and
//	    Notifier for the lifecycle endpoints, no Config.AuditLog)
//	503 unavailable, busy (auth.ErrUnavailable, auth.ErrBusy: fail closed)
//
// Handler.WriteError applies the same table in your own handlers, and logs
// with the Handler's logger.
package middleware
