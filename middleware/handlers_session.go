package middleware

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/maestro-ml/auth"
)

// Request bodies of the session endpoints. Their json tags are the only
// accepted field names.
type (
	loginBody struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	refreshBody struct {
		RefreshToken string `json:"refresh_token"`
	}
)

func decodeLogin(body []byte) (b loginBody, err error) {
	return b, decodeObject(body, &b, "email", "password")
}

func decodeRefresh(body []byte, required bool) (b refreshBody, err error) {
	if required {
		return b, decodeObject(body, &b, "refresh_token")
	}
	return b, decodeObject(body, &b)
}

// Response bodies of the session endpoints.
type (
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
)

// login answers POST {"email", "password"} with 200 and a token response
// including the user. Errors: 401 invalid_credentials (unknown email and
// wrong password alike), 403 user_inactive or email_not_verified (only
// after a correct password), 403 cross_origin in cookie mode, 400, 413,
// 415, 429 (per-client and per-account limits; the account lock), 503.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	if err := h.checkCrossOrigin(r); err != nil { // login CSRF
		return err
	}
	b, err := readJSON(h, w, r, decodeLogin)
	if err != nil {
		return err
	}
	pair, u, err := h.a.Login(r.Context(), auth.LoginRequest{Email: b.Email, Password: b.Password, Client: h.client(r)})
	if err != nil {
		return err
	}
	return h.writeTokens(w, pair, u)
}

// refresh answers POST {"refresh_token"} (or, in cookie mode, the refresh
// cookie and an empty body) with 200 and a new token response; the
// refresh token is rotated, and is absent from a response to a concurrent
// retry within the grace window (auth.TokenPair). Errors: 401
// invalid_token for an unknown, expired, revoked or reused token (reuse
// revokes the session), 403 user_inactive, 400, 409, 413, 415, 429, 503.
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) error {
	cookieMode := h.c.cookies != nil
	cookie := ""
	if cookieMode {
		if err := h.checkCrossOrigin(r); err != nil {
			return err
		}
		var err error
		if cookie, err = oneCookie(r, h.c.cookies.refreshName); err != nil {
			return err
		}
	}
	var b refreshBody
	if !cookieMode || r.ContentLength != 0 { // cookie mode allows an empty body
		var err error
		b, err = readJSON(h, w, r, func(body []byte) (refreshBody, error) { return decodeRefresh(body, !cookieMode) })
		if err != nil {
			return err
		}
	}
	token := b.RefreshToken
	switch {
	case token != "" && cookie != "":
		return errMultipleCredentials
	case token == "" && cookie == "" && cookieMode:
		return errNoCredentials
	case token == "":
		token = cookie
	}
	pair, err := h.a.Refresh(r.Context(), auth.RefreshRequest{RefreshToken: token, Client: h.client(r)})
	if err != nil {
		if cookieMode && errors.Is(err, auth.ErrInvalidToken) {
			h.clearCookies(w)
		}
		return err
	}
	return h.writeTokens(w, pair, nil)
}

// writeTokens writes a token response for pair (and u, on login), setting
// the cookies in cookie mode.
func (h *Handler) writeTokens(w http.ResponseWriter, pair *auth.TokenPair, u *auth.User) error {
	return h.writeTokensWith(w, pair, u, nil)
}

// writeTokensWith is writeTokens with extra members (WriteTokensWith).
func (h *Handler) writeTokensWith(w http.ResponseWriter, pair *auth.TokenPair, u *auth.User, extra map[string]any) error {
	now := pair.IssuedAt // the Authenticator's clock
	resp := tokenResponse{
		AccessToken: pair.AccessToken, TokenType: pair.TokenType, RefreshToken: pair.RefreshToken,
		ExpiresIn: max(int64(pair.ExpiresAt.Sub(now).Round(time.Second)/time.Second), 0), SessionID: pair.SessionID,
	}
	if u != nil {
		resp.User = newUserResponse(u)
	}
	if cc := h.c.cookies; cc != nil {
		http.SetCookie(w, h.cookie(cc.accessName, "/", pair.AccessToken, pair.ExpiresAt.Sub(now)))
		if pair.RefreshToken != "" {
			http.SetCookie(w, h.cookie(cc.refreshName, cc.refreshPath, pair.RefreshToken, pair.RefreshExpiresAt.Sub(now)))
			h.clearLegacyRefresh(w)
		}
		resp.AccessToken, resp.RefreshToken = "", ""
	}
	if len(extra) == 0 {
		return writeJSON(w, http.StatusOK, resp)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, v := range extra {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return writeJSON(w, http.StatusOK, m)
}

// cookie returns an HttpOnly, Secure, SameSite cookie (OWASP ASVS 5.0
// V3.3, cookie setup) living for ttl; ttl <= 0 deletes it.
func (h *Handler) cookie(name, path, value string, ttl time.Duration) *http.Cookie {
	maxAge := -1
	if ttl > 0 {
		maxAge = max(int(ttl/time.Second), 1)
	} else {
		value = ""
	}
	return &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: h.c.cookies.sameSite,
	}
}

// clearCookies deletes both cookies in cookie mode.
func (h *Handler) clearCookies(w http.ResponseWriter) {
	if cc := h.c.cookies; cc != nil {
		http.SetCookie(w, h.cookie(cc.accessName, "/", "", 0))
		http.SetCookie(w, h.cookie(cc.refreshName, cc.refreshPath, "", 0))
		h.clearLegacyRefresh(w)
	}
}

// clearLegacyRefresh deletes a refresh cookie at the path earlier versions
// used, which would otherwise be sent beside the current one.
func (h *Handler) clearLegacyRefresh(w http.ResponseWriter) {
	if cc := h.c.cookies; cc.legacyRefreshPath != "" {
		http.SetCookie(w, h.cookie(cc.refreshName, cc.legacyRefreshPath, "", 0))
	}
}

// logout answers a POST by ending the caller's session, with 204, and in
// cookie mode clears both cookies. The session is the access token's; in
// cookie mode, when the request has no valid access token (the access
// cookie expired, as it does after a quarter of an hour idle) but has the
// refresh cookie, it is the refresh token's, under the same cross-origin
// check: otherwise "log out" would leave a refresh cookie no script can
// clear holding the session for days. An unknown refresh token has no
// session left to end: 204 too. Errors: those of Authenticate.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, err := h.claims(ctx, r)
	if err == nil {
		if err := h.a.Logout(auth.NewContext(ctx, c), c); err != nil {
			return err
		}
		h.clearCookies(w)
		return writeNoContent(w)
	}
	cc := h.c.cookies
	if cc == nil || len(r.Header.Values("Authorization")) > 0 || !(errors.Is(err, errNoCredentials) || errors.Is(err, auth.ErrInvalidToken)) {
		return err
	}
	rt, cerr := oneCookie(r, cc.refreshName)
	if cerr != nil {
		return cerr
	}
	if rt == "" {
		return err
	}
	if err := h.checkCrossOrigin(r); err != nil {
		return err
	}
	if err := h.a.LogoutRefreshToken(ctx, rt); err != nil && !errors.Is(err, auth.ErrInvalidToken) {
		return err
	}
	h.clearCookies(w)
	return writeNoContent(w)
}

// logoutAll answers an authenticated POST by ending every session of the
// caller and revoking every access token issued to them so far, with 204.
// Errors: those of Authenticate.
func (h *Handler) logoutAll(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	if err := h.a.LogoutAll(r.Context(), c.UserID); err != nil {
		return err
	}
	h.clearCookies(w)
	return writeNoContent(w)
}

// sessions answers an authenticated GET with 200 and the caller's live
// sessions, newest first, the one making the request marked "current".
// Errors: those of Authenticate.
func (h *Handler) sessions(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	list, err := h.a.Sessions(r.Context(), c.UserID)
	if err != nil {
		return err
	}
	out := sessionList{Sessions: make([]sessionResponse, 0, len(list))}
	for _, ss := range list {
		out.Sessions = append(out.Sessions, sessionResponse{
			ID: ss.ID, Current: ss.ID == c.SessionID, CreatedAt: ss.CreatedAt, LastUsedAt: ss.LastUsedAt,
			IdleExpiresAt: ss.IdleExpiresAt, ExpiresAt: ss.ExpiresAt, UserAgent: ss.UserAgent, IP: ss.IP,
		})
	}
	return writeJSON(w, http.StatusOK, out)
}

// revokeSession answers an authenticated DELETE of the session named by
// the path wildcard {id} with 204. Errors: those of Authenticate, and 404
// for a session that is not the caller's or has ended.
func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	id := r.PathValue("id")
	if err := h.a.RevokeSession(r.Context(), c.UserID, id); err != nil {
		return err
	}
	if id == c.SessionID {
		h.clearCookies(w)
	}
	return writeNoContent(w)
}

// revokeOtherSessions answers an authenticated DELETE by ending every
// session of the caller except the current one ("sign out other
// devices"), and their access tokens, with 204. Errors: those of
// Authenticate.
func (h *Handler) revokeOtherSessions(w http.ResponseWriter, r *http.Request) error {
	c, _ := ClaimsFrom(r)
	if err := h.a.RevokeOtherSessions(r.Context(), c.UserID, c.SessionID); err != nil {
		return err
	}
	return writeNoContent(w)
}
