package console_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-ml/auth"
)

// mailed returns the token of the last message of kind to an address.
func (e *env) mailed(to string, kind auth.MessageKind) string {
	e.t.Helper()
	m, ok := e.outbox.Last(to, kind)
	require.True(e.t, ok, "a %s message to %s", kind, to)
	return m.Token
}

// TestVerifyFromTheLink: registration mails a link; its page posts the
// token (as console.js copies it from the fragment) and the address is
// verified; a used token is explained, not a 500.
func TestVerifyFromTheLink(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get("/register")
	b.post("/register", url.Values{"email": {"vera@example.com"}, "password": {password}, "confirm": {password}})
	token := e.mailed("vera@example.com", auth.MessageVerifyEmail)

	b.get("/verify-email")
	b.post("/verify-email", url.Values{"token": {token}})
	require.Equal(t, "/sign-in", b.url)
	require.Contains(t, b.body, "Your address is verified.")
	b.post("/sign-in", url.Values{"email": {"vera@example.com"}, "password": {password}})
	require.NotContains(t, b.body, "not verified")
	require.NotContains(t, b.body, `id="resend-verification"`)

	b.get("/verify-email")
	res := b.post("/verify-email", url.Values{"token": {token}})
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Contains(t, b.body, "This link is not valid any more")
}

// TestForgotAndReset: the forgot form answers alike for unknown addresses;
// the link sets a new password (a mismatch or a weak one keeps the token
// good) and ends every session, this browser's too.
func TestForgotAndReset(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	other := e.browser()
	other.signIn(u.Email)

	b := e.browser()
	b.get("/sign-in")
	require.Contains(t, b.body, `href="/forgot-password"`)
	b.get("/forgot-password")
	b.post("/forgot-password", url.Values{"email": {"nobody@example.com"}})
	unknown := b.body
	b.get("/forgot-password")
	b.post("/forgot-password", url.Values{"email": {u.Email}})
	require.Equal(t, unknown, b.body, "the same page for an unknown address")
	require.Contains(t, b.body, "If that address has an account")
	token := e.mailed(u.Email, auth.MessageResetPassword)

	b.get("/reset-password")
	res := b.post("/reset-password", url.Values{"token": {token}, "password": {"new password for vera"}, "confirm": {"other"}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	res = b.post("/reset-password", url.Values{"token": {token}, "password": {"password"}, "confirm": {"password"}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, b.body, "too common")
	b.post("/reset-password", url.Values{"token": {token}, "password": {"new password for vera"}, "confirm": {"new password for vera"}})
	require.Equal(t, "/sign-in", b.url)
	require.Contains(t, b.body, "Your password was changed")

	other.get("/account")
	require.Equal(t, "/sign-in", other.url, "every session ended")
	e.clock.Advance(time.Second) // past the reset's revocation cutoff
	res = b.post("/sign-in", url.Values{"email": {u.Email}, "password": {"new password for vera"}})
	require.Equal(t, http.StatusOK, res.StatusCode, b.body)
	require.Equal(t, "/account", b.url)
}

// TestChangeEmail: the account page asks for the password and mails the
// new address a link, whose page moves the account.
func TestChangeEmail(t *testing.T) {
	e := newEnv(t)
	u := e.user(auth.RoleViewer)
	b := e.browser()
	b.signIn(u.Email)
	res := b.post("/account/email", url.Values{"email": {"new@example.com"}, "password": {"wrong password here"}})
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Contains(t, b.body, "Your password is not right.")
	b.post("/account/email", url.Values{"email": {"new@example.com"}, "password": {password}})
	require.Contains(t, b.body, "Follow the link we sent to the new address")
	token := e.mailed("new@example.com", auth.MessageChangeEmail)

	b.get("/confirm-email")
	b.post("/confirm-email", url.Values{"token": {token}})
	require.Equal(t, "/account", b.url)
	require.Contains(t, b.body, "Your account now uses the new address.")
	got, err := e.a.User(context.Background(), u.TenantID, u.ID)
	require.NoError(t, err)
	require.Equal(t, "new@example.com", got.Email)
}
