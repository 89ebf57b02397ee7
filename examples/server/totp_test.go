package main_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	otptotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"
)

// TestTOTP runs the README's second-factor walk-through against the
// server: enrol with the app's first code, log in with the password and a
// recovery code, and see amr; then an administrator under MFA_REQUIRED=admin
// enrols at login from the enrol-only ticket. Codes come from pquerna/otp's
// generator, as an authenticator app would compute them.
func TestTOTP(t *testing.T) {
	bin := buildServer(t)
	dir := t.TempDir()
	env := map[string]string{"TRUSTED_PROXIES": "127.0.0.1", "MFA_REQUIRED": "admin"}
	_, errOut, code := runCLI(t, bin, dir, env, adminPassword+"\n", "create-admin", "-email", "admin@example.com")
	require.Equal(t, 0, code, errOut)
	srv := startServer(t, bin, dir, env)
	c := newClient(t, srv.base, "198.51.100.20")
	now := func(offset time.Duration) func(string) string {
		return func(secret string) string {
			code, err := otptotp.GenerateCode(secret, time.Now().Add(offset))
			require.NoError(t, err)
			return code
		}
	}

	const pw = "kate has a long password"
	c.expect(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": "kate@example.com", "password": pw})
	login := c.expect(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "kate@example.com", "password": pw})
	access := login["access_token"].(string)
	en := c.expect(200, "POST", "/api/v1/auth/factors/totp", access, nil)
	secret := en["secret"].(string)
	require.Contains(t, en["uri"], "otpauth://totp/auth:kate@example.com?")
	rc := c.expect(200, "POST", "/api/v1/auth/factors/totp/confirm", access, map[string]any{"code": now(0)(secret)})
	recovery := rc["recovery_codes"].([]any)
	require.Len(t, recovery, 10)

	r := c.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "kate@example.com", "password": pw})
	require.Equal(t, 401, r.status)
	mfa := r.json(t)
	require.Equal(t, "mfa_required", mfa["code"])
	require.Equal(t, []any{"totp"}, mfa["factors"])
	c.expectProblem(401, "invalid_code", "POST", "/api/v1/auth/login/mfa", "", map[string]any{"ticket": mfa["mfa_ticket"], "code": "000000"})
	login = c.expect(200, "POST", "/api/v1/auth/login/mfa", "", map[string]any{"ticket": mfa["mfa_ticket"], "code": recovery[0]})
	f := c.expect(200, "GET", "/api/v1/auth/factors", login["access_token"].(string), nil)
	require.Equal(t, []any{"totp"}, f["factors"])

	// The administrator has no factor and the policy requires one.
	r = c.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "admin@example.com", "password": adminPassword})
	require.Equal(t, 401, r.status)
	mfa = r.json(t)
	require.Equal(t, true, mfa["enroll"])
	en = c.expect(200, "POST", "/api/v1/auth/login/mfa/totp/enroll", "", map[string]any{"ticket": mfa["mfa_ticket"]})
	login = c.expect(200, "POST", "/api/v1/auth/login/mfa/totp/confirm", "", map[string]any{"ticket": mfa["mfa_ticket"], "code": now(0)(en["secret"].(string))})
	require.Len(t, login["recovery_codes"], 10)
	c.expect(200, "GET", "/api/v1/auth/users", login["access_token"].(string), nil)
	srv.stop(t)

	fi, err := os.Stat(filepath.Join(dir, "auth-totp-keys.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the TOTP sealing keys are the owner's only")
	logs := srv.stderr.String()
	for _, s := range []string{secret, pw, adminPassword, recovery[1].(string), mfa["mfa_ticket"].(string)} {
		require.NotContains(t, logs, s, "a secret, password, recovery code or ticket in the server log")
	}
}
