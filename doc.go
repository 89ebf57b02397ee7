// Package auth is an embeddable authentication library for Go services:
// registration, login, JWT access tokens with rotating refresh tokens,
// revocation, roles and tenants, over storage you choose.
//
// # Quick start
//
// A complete program (README.md has the same):
//
//	package main
//
//	import (
//		"context"
//		"errors"
//		"fmt"
//		"log"
//
//		"github.com/maestro-ml/auth"
//		"github.com/maestro-ml/auth/store/memstore"
//	)
//
//	func main() {
//		ctx := context.Background()
//		st := memstore.New() // in memory; see "Storage" for PostgreSQL, SQLite and Redis
//		defer st.Close()
//
//		key, err := auth.GenerateKey(auth.EdDSA)
//		if err != nil {
//			log.Fatal(err)
//		}
//		keys, err := auth.NewKeySet(key)
//		if err != nil {
//			log.Fatal(err)
//		}
//		a, err := auth.New(auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st})
//		if err != nil {
//			log.Fatal(err)
//		}
//
//		user, err := a.Register(ctx, auth.RegisterRequest{Email: "kate@example.com", Password: "correct horse battery staple"})
//		if err != nil {
//			log.Fatal(err) // auth.ErrEmailTaken, auth.ErrPasswordTooShort, ...
//		}
//		pair, _, err := a.Login(ctx, auth.LoginRequest{Email: "kate@example.com", Password: "correct horse battery staple"})
//		if err != nil {
//			log.Fatal(err) // auth.ErrInvalidCredentials, auth.ErrRateLimited, ...
//		}
//		claims, err := a.Authenticate(ctx, pair.AccessToken) // on every request
//		if err != nil {
//			log.Fatal(err) // auth.ErrTokenExpired, auth.ErrTokenRevoked, ...
//		}
//		fmt.Println(claims.UserID == user.ID)
//
//		pair, err = a.Refresh(ctx, auth.RefreshRequest{RefreshToken: pair.RefreshToken}) // rotates the refresh token
//		if err != nil {
//			log.Fatal(err)
//		}
//		if err := a.Logout(ctx, claims); err != nil { // ends the session: every token of it
//			log.Fatal(err)
//		}
//		_, err = a.Authenticate(ctx, pair.AccessToken)
//		fmt.Println(errors.Is(err, auth.ErrTokenRevoked))
//	}
//
// Stores: store/memstore (in memory), store/bunstore (PostgreSQL, SQLite;
// with package migrate for the schema) and store/redisstore (revocations
// and rate limits on Redis, read from rueidis' client-side cache). Package
// middleware turns an Authenticator into net/http middleware and handlers;
// package notify delivers e-mail. Package authtest holds the acceptance
// suites every store implementation must pass.
//
// # Beyond login
//
// With Config.ActionTokens and Config.Notifier: e-mail verification
// (RequestVerification, VerifyEmail), password reset (RequestPasswordReset,
// ResetPassword), ChangePassword and e-mail change (RequestEmailChange,
// ConfirmEmailChange). Administrators, always within one tenant: ListUsers,
// User, CreateUser, UpdateUser (role, active, verified), Unlock,
// AuditEvents. Every security-relevant action is an Event for
// Config.Events (slog by default); OpenTelemetry spans and metrics go to
// Config.TracerProvider and Config.MeterProvider.
//
// # Second factors
//
// Credential kinds live in packages of their own (factor/totp) and plug
// into one seam: Config.SecondFactors lists them, and Login answers a user
// who has one (or whom Config.MFA requires to have one) with an
// *MFARequiredError carrying a short-lived, single-use ticket instead of
// tokens; LoginMFA, VerifyMFA or EnrollMFA finish the login. Only the core
// creates sessions: a credential package hands it a Proof. Tokens carry
// amr (RFC 8176) and auth_time; RequireMFA and RequireRecentAuth answer an
// *InsufficientAuthError (RFC 9470), and StepUp, StepUpPassword and
// StepUpCode re-authenticate into a new session. ResetSecondFactors is an
// administrator's reset.
//
// # Security model
//
// Access tokens are short-lived (15 minutes by default) compact JWS (RFC 7515)
// with "typ":"at+jwt" (RFC 9068), signed with Ed25519 by default (ES256,
// RS256 and HS256 with a 32-byte secret are also supported). Verification
// follows RFC 8725: the algorithm is pinned by the key that the "kid"
// names, and only keys of the configured KeySet are ever used; the
// protected header may hold alg, kid and typ and nothing else (no crit,
// jwk, jku, x5u or x5c; nothing is fetched); exp is required and numeric;
// nbf and iat may not lie in the future beyond the configured skew; iss and
// aud must match; tokens above a size cap are refused before decoding.
//
// Every verified token is then checked against the deny-list in one
// RevocationStore look-up covering its token ID (jti), its session (sid)
// and a per-user cutoff (tokens issued at or before it are revoked; exp,
// nbf and iat are whole seconds, and the millisecond of issue the cutoff
// compares against is carried by the jti, a UUIDv7). Logout,
// logout everywhere, role changes and deactivation write that list, so they
// take effect on existing tokens at once. If the deny-list cannot be read,
// Authenticate fails closed with ErrUnavailable unless Config.FailOpen.
//
// Refresh tokens are 256-bit random strings; only their SHA-256 is stored.
// Each refresh rotates the token atomically. Presenting a rotated token
// again after a short grace window is treated as theft (RFC 9700 §4.14.2):
// the whole session and its access tokens are revoked. Sessions have idle
// and absolute lifetimes.
//
// Passwords are hashed with argon2id (m=19 MiB, t=2, p=1; OWASP) in PHC
// form, with a bounded number of concurrent hashes. bcrypt hashes imported
// from older systems verify and are replaced on the next login; bcrypt's
// 72-byte truncation never admits a longer password. New passwords follow
// NIST SP 800-63B: at least 8 characters (configurable), at least 64
// accepted, a 1 KiB cap checked before hashing, NFKC normalisation, no
// composition rules, and a blocklist of about 49,000 common passwords.
// Login answers an unknown email and a wrong password identically and
// spends the same hashing work on both. Login, registration, refresh and
// reset are rate limited per client (IPv6 per /64) and per account, with
// one atomic step per attempt (Config.Limiter, Config.Limits); the
// per-account limit is the lockout, checked before the password so a
// locked account answers the same whatever the password.
//
// Secrets (passwords, tokens, hashes) never appear in errors or logs; the
// logger receives user, session and token IDs only.
//
// # Errors
//
// Every error is, or wraps, one of the sentinels in this package, so callers
// branch with errors.Is: ErrInvalidCredentials, ErrUserInactive,
// ErrEmailTaken, ErrInvalidEmail, password policy errors (all matching
// ErrPasswordPolicy), ErrInvalidToken (with ErrTokenExpired, ErrTokenRevoked
// and ErrRefreshReused matching it too), ErrUserNotFound, ErrTenantNotFound,
// ErrSessionNotFound, ErrInvalidRole, ErrInvalidInput, ErrRateLimited (a
// *RateLimitError with the retry delay), ErrNotConfigured, and
// ErrUnavailable for stores that cannot be reached (ErrBusy when hashing
// capacity is exhausted). Stores translate their driver errors into these; no SQL or
// Redis error text crosses the API.
package auth
