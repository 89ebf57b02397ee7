package console

import (
	"errors"
	"net/http"
	"time"

	"github.com/maestro-ml/auth"
)

// session returns the claims of the signed-in browser, or nil when it is
// signed out. An expired or revoked access cookie is replaced by a refresh
// with the refresh cookie; when that fails too, the cookies are deleted.
// Only an unavailable store is an error.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*auth.Claims, error) {
	ctx := r.Context()
	if ck, err := r.Cookie(accessCookie); err == nil && ck.Value != "" {
		claims, err := c.a.Authenticate(ctx, ck.Value)
		if err == nil {
			return claims, nil
		}
		if !errors.Is(err, auth.ErrInvalidToken) {
			return nil, err
		}
	}
	ck, err := r.Cookie(refreshCookie)
	if err != nil || ck.Value == "" {
		c.clearSession(w)
		return nil, nil
	}
	pair, err := c.a.Refresh(ctx, auth.RefreshRequest{RefreshToken: ck.Value, Client: c.h.Client(r)})
	switch {
	case errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrUserInactive),
		errors.Is(err, auth.ErrEmailNotVerified), errors.Is(err, auth.ErrInvalidInput):
		c.clearSession(w)
		return nil, nil
	case err != nil:
		return nil, err
	}
	// The refresh rotated the token: the browser must get the new one
	// whatever happens next, or its next request would present the old
	// one and be taken for a stolen token's reuse.
	c.setSession(w, r, pair)
	claims, err := c.a.Authenticate(ctx, pair.AccessToken)
	if errors.Is(err, auth.ErrInvalidToken) { // revoked as soon as issued
		c.clearSession(w)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// setSession stores a token pair in the cookies. A pair without a refresh
// token (a concurrent refresh within the grace window) keeps the refresh
// cookie the browser has.
func (c *Console) setSession(w http.ResponseWriter, r *http.Request, pair *auth.TokenPair) {
	end := pair.RefreshExpiresAt
	if end.IsZero() {
		end = pair.ExpiresAt
	}
	// The access cookie outlives its token so that an expired token is
	// presented and refreshed rather than looking like a signed-out browser.
	setCookie(w, accessCookie, pair.AccessToken, end)
	if pair.RefreshToken != "" {
		setCookie(w, refreshCookie, pair.RefreshToken, end)
	}
	setCookie(w, ticketCookie, "", time.Time{})
}

// clearSession deletes the sign-in cookies.
func (c *Console) clearSession(w http.ResponseWriter) {
	for _, name := range []string{accessCookie, refreshCookie, ticketCookie} {
		setCookie(w, name, "", time.Time{})
	}
}

// signedIn wraps a page for signed-in browsers: the claims are in the
// request's context (auth.NewContext, so that audit events name the
// actor); a signed-out browser is sent to the sign-in page.
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request) (*auth.Claims, *http.Request, bool, error) {
	claims, err := c.session(w, r)
	if err != nil {
		return nil, r, false, err
	}
	if claims == nil {
		http.Redirect(w, r, c.path("/sign-in"), http.StatusSeeOther)
		return nil, r, false, nil
	}
	return claims, r.WithContext(auth.NewContext(r.Context(), claims)), true, nil
}

// admin is signedIn for the administrators' pages: the caller's role is at
// least the admin role and, where the MFA policy covers them, their sign-in
// used a second factor.
func (c *Console) admin(w http.ResponseWriter, r *http.Request) (*auth.Claims, *http.Request, bool, error) {
	claims, r, ok, err := c.signedIn(w, r)
	if !ok || err != nil {
		return claims, r, ok, err
	}
	if !c.a.RoleAtLeast(claims.Role, c.c.adminRole) {
		return nil, r, false, errNotAdmin
	}
	if err := c.a.RequireMFAByPolicy(claims); err != nil {
		return nil, r, false, errAdminNeedsMFA
	}
	return claims, r, true, nil
}

var (
	errNotAdmin      = errors.New("console: administrators only")
	errAdminNeedsMFA = errors.New("console: administration needs a sign-in with a second factor")
)
