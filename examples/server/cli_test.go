package main_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCommandLine checks the help text and that configuration errors stop
// the server at start with status 2 and a message naming the variable.
func TestCommandLine(t *testing.T) {
	bin := buildServer(t)
	dir := t.TempDir()

	_, help, code := runCLI(t, bin, dir, nil, "", "-h")
	require.Equal(t, 0, code)
	for _, name := range []string{
		"LISTEN_ADDR", "DATABASE_URL", "REDIS_URL", "REDIS_ADDRS", "REDIS_PASSWORD", "REDIS_PREFIX", "REDIS_TIMEOUT",
		"KEY_FILE", "AUTH_ISSUER", "AUTH_AUDIENCE", "ACCESS_TTL", "SESSION_TTL", "SESSION_IDLE_TTL", "TRUSTED_PROXIES", "COOKIES",
		"ENUMERATION_SAFE_REGISTRATION", "REQUIRE_VERIFIED_EMAIL", "PUBLIC_URL", "SMTP_ADDR", "SMTP_USERNAME",
		"SMTP_PASSWORD", "SMTP_FROM", "SMTP_IMPLICIT_TLS", "SMTP_INSECURE_SKIP_TLS", "MAIL_DIR", "LOG_LEVEL",
		"LOG_FORMAT", "OTEL_EXPORTER", "SHUTDOWN_TIMEOUT", "AUTH_ADMIN_PASSWORD", `default "127.0.0.1:8080"`,
		"LOGIN_RATE_PER_IP", `default "20/1m"`, "LOCKOUT_THRESHOLD", `default "5"`, "LOCKOUT_PERIOD", `default "15m"`,
		"REGISTER_RATE_PER_IP", `default "10/1h"`, "REFRESH_RATE_PER_IP", `default "120/1m"`, "RESET_RATE_PER_IP",
		"RESET_RATE_PER_ACCOUNT", `default "3/1h"`, "MFA_RATE_PER_ACCOUNT", `default "5/15m"`, "MFA_RATE_PER_TICKET", `default "3/5m"`,
		"TOTP_KEY_FILE", "MFA_REQUIRED", "REDIS_REPLICA", "AUDIT_RETENTION",
	} {
		require.Contains(t, help, name)
	}

	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		want   string
		secret string // must not be echoed
	}{
		{name: "bad duration from the environment", env: map[string]string{"ACCESS_TTL": "forever"}, want: "ACCESS_TTL (-access-ttl)"},
		{name: "bad duration from a flag", args: []string{"-access-ttl", "1s"}, want: "ACCESS_TTL (-access-ttl)"},
		{name: "session shorter than its idle time", env: map[string]string{"SESSION_TTL": "2h", "SESSION_IDLE_TTL": "3h"}, want: "SESSION_IDLE_TTL must not exceed SESSION_TTL"},
		{name: "session shorter than an access token", env: map[string]string{"SESSION_TTL": "1h", "SESSION_IDLE_TTL": "1h", "ACCESS_TTL": "2h"}, want: "ACCESS_TTL must not exceed SESSION_TTL"},
		{name: "session too short", args: []string{"-session-ttl", "10m"}, want: "SESSION_TTL (-session-ttl)"},
		{name: "flag overrides the environment", env: map[string]string{"LOG_LEVEL": "debug"}, args: []string{"-log-level", "loud"}, want: `LOG_LEVEL (-log-level): "loud"`},
		{name: "database URL", env: map[string]string{"DATABASE_URL": "mysql://root:hunter2@db/app"}, want: "DATABASE_URL", secret: "hunter2"},
		{name: "redis URL", env: map[string]string{"REDIS_URL": "http://user:hunter2@redis"}, want: "REDIS_URL", secret: "hunter2"},
		{name: "both redis settings", env: map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "REDIS_ADDRS": "127.0.0.1:7000"}, want: "REDIS_ADDRS"},
		{name: "enumeration-safe without mail", env: map[string]string{"ENUMERATION_SAFE_REGISTRATION": "true"}, want: "ENUMERATION_SAFE_REGISTRATION"},
		{name: "verified e-mail without mail", env: map[string]string{"REQUIRE_VERIFIED_EMAIL": "true"}, want: "REQUIRE_VERIFIED_EMAIL"},
		{name: "password in clear text", env: map[string]string{"SMTP_ADDR": "mail:25", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "hunter2", "SMTP_INSECURE_SKIP_TLS": "true"}, want: "SMTP_INSECURE_SKIP_TLS", secret: "hunter2"},
		{name: "trusted proxies", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, want: "TRUSTED_PROXIES"},
		{name: "passwords are no flags", args: []string{"-smtp-password", "hunter2"}, want: "flag provided but not defined: -smtp-password"},
		{name: "bad rate", env: map[string]string{"LOGIN_RATE_PER_IP": "20 per minute"}, want: "LOGIN_RATE_PER_IP (-login-rate-per-ip)"},
		{name: "rate of zero", args: []string{"-register-rate-per-ip", "0/1h"}, want: "REGISTER_RATE_PER_IP (-register-rate-per-ip)"},
		{name: "negative lockout", env: map[string]string{"LOCKOUT_THRESHOLD": "-1"}, want: "LOCKOUT_THRESHOLD (-lockout-threshold)"},
		{name: "short audit retention", env: map[string]string{"AUDIT_RETENTION": "1h"}, want: "AUDIT_RETENTION (-audit-retention)"},
		{name: "unknown command", args: []string{"frobnicate"}, want: `unknown command "frobnicate"`},
		{name: "migrate without action", args: []string{"migrate"}, want: "migrate needs an action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, bin, dir, tc.env, "", tc.args...)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, tc.want)
			if tc.secret != "" {
				require.NotContains(t, stderr, tc.secret)
			}
		})
	}
}
