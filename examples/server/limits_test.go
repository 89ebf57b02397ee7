package main_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLimitSettings runs the server with its rate-limit and lockout
// settings lowered: the limits answer 429 with Retry-After where the
// settings say, and an administrator's unlock lifts a lockout, as README.md
// describes.
func TestLimitSettings(t *testing.T) {
	bin := buildServer(t)
	dir := t.TempDir()
	env := map[string]string{
		"TRUSTED_PROXIES":      "127.0.0.1",
		"REGISTER_RATE_PER_IP": "2/1h",
		"LOCKOUT_THRESHOLD":    "2",
		"LOCKOUT_PERIOD":       "1h",
	}
	_, errOut, code := runCLI(t, bin, dir, env, adminPassword+"\n", "create-admin", "-email", "admin@example.com")
	require.Equal(t, 0, code, errOut)
	srv := startServer(t, bin, dir, env)
	c := newClient(t, srv.base, "198.51.100.7")

	const pw = "a long enough password for the limits"
	var kateID string
	for i, email := range []string{"kate@example.com", "lee@example.com"} {
		u := c.expect(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": email, "password": pw})
		if i == 0 {
			kateID = u["id"].(string)
		}
	}
	r := c.do("POST", "/api/v1/auth/register", "", map[string]any{"email": "max@example.com", "password": pw})
	require.Equal(t, 429, r.status, "REGISTER_RATE_PER_IP=2/1h: %s", r.body)
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	require.Greater(t, retry, 60*29, "about half an hour until one more registration")
	newClient(t, srv.base, "198.51.100.8").expect(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": "max@example.com", "password": pw})

	// Two wrong passwords lock the address; even the right one is refused.
	for range 2 {
		c.expectProblem(401, "invalid_credentials", "POST", "/api/v1/auth/login", "", map[string]any{"email": "kate@example.com", "password": "wrong password, twice"})
	}
	c.expectProblem(429, "rate_limited", "POST", "/api/v1/auth/login", "", map[string]any{"email": "kate@example.com", "password": pw})
	other := newClient(t, srv.base, "198.51.100.9")
	other.expectProblem(429, "rate_limited", "POST", "/api/v1/auth/login", "", map[string]any{"email": "kate@example.com", "password": pw})

	// The administrator lifts it.
	admin := c.expect(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "admin@example.com", "password": adminPassword})
	c.expect(204, "POST", "/api/v1/auth/users/"+kateID+"/unlock", admin["access_token"].(string), nil)
	c.expect(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "kate@example.com", "password": pw})
	srv.stop(t)
}
