package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/middleware"
	"github.com/redis/rueidis"
)

// config is the server's configuration, read from the environment and from
// flags (a flag overrides its variable) by loadConfig, and validated there.
type config struct {
	Listen          string         // LISTEN_ADDR
	DatabaseURL     string         // DATABASE_URL (environment only)
	RedisURL        string         // REDIS_URL (environment only)
	RedisAddrs      []string       // REDIS_ADDRS
	RedisPassword   string         // REDIS_PASSWORD (environment only)
	RedisPrefix     string         // REDIS_PREFIX
	RedisTimeout    time.Duration  // REDIS_TIMEOUT
	RedisEviction   bool           // REDIS_ALLOW_EVICTION
	RedisReplica    bool           // REDIS_REPLICA
	AuditRetention  time.Duration  // AUDIT_RETENTION; 0: keep
	KeyFile         string         // KEY_FILE
	TOTPKeyFile     string         // TOTP_KEY_FILE
	MFARequired     auth.MFAPolicy // MFA_REQUIRED
	Issuer          string         // AUTH_ISSUER
	Audience        string         // AUTH_AUDIENCE
	AccessTTL       time.Duration  // ACCESS_TTL
	SessionTTL      time.Duration  // SESSION_TTL
	SessionIdleTTL  time.Duration  // SESSION_IDLE_TTL
	TrustedProxies  []netip.Prefix
	Cookies         bool   // COOKIES
	Console         bool   // CONSOLE
	EnumerationSafe bool   // ENUMERATION_SAFE_REGISTRATION
	RequireVerified bool   // REQUIRE_VERIFIED_EMAIL
	PublicURL       string // PUBLIC_URL; empty: http:// and the address listened on
	SMTP            smtpSettings
	MailDir         string // MAIL_DIR
	LogLevel        slog.Level
	LogFormat       string // text or json
	OTelExporter    string // none, stdout or otlp
	ShutdownTimeout time.Duration
	Limits          auth.Limits // *_RATE_* and LOCKOUT_*
}

// smtpSettings are the SMTP_* variables.
type smtpSettings struct {
	Addr            string
	Username        string
	Password        string // environment only
	From            string
	ImplicitTLS     bool
	InsecureSkipTLS bool
}

// sqlitePath returns the file of a sqlite: DATABASE_URL, and false for
// PostgreSQL.
func (c *config) sqlitePath() (string, bool) {
	path, ok := strings.CutPrefix(c.DatabaseURL, "sqlite:")
	return path, ok
}

// mailEnabled reports whether account e-mail can be delivered.
func (c *config) mailEnabled() bool { return c.SMTP.Addr != "" || c.MailDir != "" }

// setting is one configuration option: an environment variable, usually
// with a flag of the same meaning.
type setting struct {
	env, flag, def, usage string
	// envOnly settings have no flag: they hold secrets, or URLs that may
	// embed credentials, which must not appear in a process listing.
	envOnly bool
	// isBool makes the flag a boolean one (-cookies, -cookies=false).
	isBool bool
	// set parses the value into the config.
	set func(string) error
}

// name is how errors and the usage text refer to s.
func (s *setting) name() string {
	if s.envOnly {
		return s.env
	}
	return s.env + " (-" + s.flag + ")"
}

// settings returns every option, each writing into c.
func (c *config) settings() []setting {
	lim := auth.DefaultLimits()
	c.Limits = lim
	return []setting{
		{env: "LISTEN_ADDR", flag: "listen", def: "127.0.0.1:8080", set: hostPort(&c.Listen),
			usage: "address to listen on; loopback by default, so that a server started for a try is not reachable from the network (use :8080 in a container behind a TLS proxy)"},
		{env: "DATABASE_URL", envOnly: true, def: "sqlite:./auth.db", set: databaseURL(&c.DatabaseURL),
			usage: "sqlite:PATH (embedded, the default) or postgres://user:password@host:5432/db?sslmode=verify-full"},
		{env: "REDIS_URL", envOnly: true, set: redisURL(&c.RedisURL),
			usage: "redis://[user:password@]host:6379/0 (or rediss://): keep revocations and rate limits in Redis with client-side caching; empty: in the SQL database and in process"},
		{env: "REDIS_ADDRS", flag: "redis-addrs", set: addrList(&c.RedisAddrs),
			usage: "comma-separated host:port addresses of a Redis Cluster (instead of REDIS_URL); password in REDIS_PASSWORD"},
		{env: "REDIS_PASSWORD", envOnly: true, set: str(&c.RedisPassword), usage: "password for REDIS_ADDRS"},
		{env: "REDIS_PREFIX", flag: "redis-prefix", def: "auth:", set: redisPrefix(&c.RedisPrefix),
			usage: "prefix of every Redis key, to share a Redis between services or environments"},
		{env: "REDIS_TIMEOUT", flag: "redis-timeout", def: "250ms", set: duration(&c.RedisTimeout, 10*time.Millisecond, 10*time.Second),
			usage: "deadline of each Redis call; past it the request fails closed with 503"},
		{env: "REDIS_REPLICA", flag: "redis-replica", isBool: true, def: "true", set: boolean(&c.RedisReplica),
			usage: "keep an in-process copy of the revocations, pushed by Redis, so that no check waits on the network (false: rueidis' client-side cache only); needs Redis 7"},
		{env: "REDIS_ALLOW_EVICTION", flag: "redis-allow-eviction", isBool: true, def: "false", set: boolean(&c.RedisEviction),
			usage: "INSECURE: start even if Redis' maxmemory-policy is not noeviction; an evicted revocation reads as not revoked"},
		{env: "KEY_FILE", flag: "key-file", def: "./auth-keys.json", set: nonEmpty(&c.KeyFile),
			usage: "JSON file of signing keys (private JWKs, mode 0600); created with a new Ed25519 key if missing"},
		{env: "TOTP_KEY_FILE", flag: "totp-key-file", def: "./auth-totp-keys.json", set: nonEmpty(&c.TOTPKeyFile),
			usage: "JSON file of the keys that seal users' TOTP secrets at rest (mode 0600); created with a new key if missing"},
		{env: "MFA_REQUIRED", flag: "mfa-required", def: "none", set: mfaPolicy(&c.MFARequired),
			usage: "who must use a second factor besides those who enrolled one: none, all, or comma-separated roles (admin); a user it covers who has none enrols at login"},
		{env: "AUTH_ISSUER", flag: "issuer", def: "auth", set: nonEmpty(&c.Issuer), usage: `"iss" of access tokens`},
		{env: "AUTH_AUDIENCE", flag: "audience", set: str(&c.Audience), usage: `"aud" of access tokens; empty: the issuer`},
		{env: "ACCESS_TTL", flag: "access-ttl", def: "15m", set: duration(&c.AccessTTL, time.Minute, 24*time.Hour),
			usage: "lifetime of access tokens (1m to 24h); also how long a rotated key keeps verifying"},
		{env: "SESSION_TTL", flag: "session-ttl", def: "720h", set: duration(&c.SessionTTL, time.Hour, 366*24*time.Hour),
			usage: "absolute lifetime of a session (1h to 8784h), after which its owner signs in again however often it was refreshed"},
		{env: "SESSION_IDLE_TTL", flag: "session-idle-ttl", def: "168h", set: duration(&c.SessionIdleTTL, 5*time.Minute, 366*24*time.Hour),
			usage: "a session not refreshed for this long ends (5m to 8784h, at most SESSION_TTL)"},
		{env: "TRUSTED_PROXIES", flag: "trusted-proxies", set: proxies(&c.TrustedProxies),
			usage: "comma-separated addresses or CIDRs of your reverse proxies, whose X-Forwarded-For is believed; empty: none"},
		{env: "COOKIES", flag: "cookies", isBool: true, def: "false", set: boolean(&c.Cookies),
			usage: "cookie mode for browsers: tokens in HttpOnly Secure SameSite=Strict cookies, cross-origin checks (needs HTTPS or localhost)"},
		{env: "CONSOLE", flag: "console", isBool: true, def: "true", set: boolean(&c.Console),
			usage: "serve the web console (account pages, admin dashboard) at /; its sign-in uses Secure cookies (needs HTTPS or localhost)"},
		{env: "ENUMERATION_SAFE_REGISTRATION", flag: "enumeration-safe", isBool: true, def: "false", set: boolean(&c.EnumerationSafe),
			usage: "answer registration and e-mail change with 202 whether or not the address is taken (the owner is mailed), and refuse login until the address is verified, exactly as a wrong password; for public sign-up pages (needs SMTP_ADDR or MAIL_DIR)"},
		{env: "REQUIRE_VERIFIED_EMAIL", flag: "require-verified-email", isBool: true, def: "false", set: boolean(&c.RequireVerified),
			usage: "refuse login until the e-mail address is verified (needs SMTP_ADDR or MAIL_DIR)"},
		{env: "PUBLIC_URL", flag: "public-url", set: publicURL(&c.PublicURL),
			usage: "base URL of the application for links in e-mails (PUBLIC_URL/verify-email#token=...); empty: http:// and the listen address"},
		{env: "SMTP_ADDR", flag: "smtp-addr", set: optionalHostPort(&c.SMTP.Addr), usage: "host:port of the SMTP server that sends account e-mail; empty: none"},
		{env: "SMTP_USERNAME", flag: "smtp-username", set: str(&c.SMTP.Username), usage: "SMTP AUTH user name; empty: no authentication"},
		{env: "SMTP_PASSWORD", envOnly: true, set: str(&c.SMTP.Password), usage: "SMTP AUTH password (only ever sent over TLS)"},
		{env: "SMTP_FROM", flag: "smtp-from", def: "Auth <no-reply@localhost>", set: address(&c.SMTP.From), usage: "sender of account e-mail"},
		{env: "SMTP_IMPLICIT_TLS", flag: "smtp-implicit-tls", isBool: true, def: "false", set: boolean(&c.SMTP.ImplicitTLS),
			usage: "connect with TLS from the start (port 465); default: STARTTLS, required"},
		{env: "SMTP_INSECURE_SKIP_TLS", flag: "smtp-insecure-skip-tls", isBool: true, def: "false", set: boolean(&c.SMTP.InsecureSkipTLS),
			usage: "send in clear text if the server offers no STARTTLS: only for a local relay or a test server, never with a password"},
		{env: "MAIL_DIR", flag: "mail-dir", set: str(&c.MailDir),
			usage: "development outbox: write account e-mail as .eml files into this directory instead of sending it (files hold live tokens)"},
		{env: "LOGIN_RATE_PER_IP", flag: "login-rate-per-ip", def: rateString(lim.LoginPerIP), set: rate(&c.Limits.LoginPerIP),
			usage: "login attempts per client address: N/PERIOD (N at once, then N per PERIOD), or off; past it, 429 with Retry-After"},
		{env: "LOCKOUT_THRESHOLD", flag: "lockout-threshold", def: strconv.Itoa(lim.LoginPerAccount.Burst), set: threshold(&c.Limits.LoginPerAccount.Burst),
			usage: "failed logins on one e-mail address, known or not, before it is locked (429); 0: no lockout. A successful login or an administrator's unlock (POST /api/v1/auth/users/{id}/unlock) resets it"},
		{env: "LOCKOUT_PERIOD", flag: "lockout-period", def: shortDuration(lim.LoginPerAccount.Period), set: duration(&c.Limits.LoginPerAccount.Period, time.Second, 30*24*time.Hour),
			usage: "the lockout's window: a locked address regains one attempt every LOCKOUT_PERIOD/LOCKOUT_THRESHOLD, and all of them after LOCKOUT_PERIOD without attempts"},
		{env: "REGISTER_RATE_PER_IP", flag: "register-rate-per-ip", def: rateString(lim.RegisterPerIP), set: rate(&c.Limits.RegisterPerIP),
			usage: "registrations per client address: N/PERIOD, or off"},
		{env: "REFRESH_RATE_PER_IP", flag: "refresh-rate-per-ip", def: rateString(lim.RefreshPerIP), set: rate(&c.Limits.RefreshPerIP),
			usage: "token refreshes per client address: N/PERIOD, or off"},
		{env: "RESET_RATE_PER_IP", flag: "reset-rate-per-ip", def: rateString(lim.ResetPerIP), set: rate(&c.Limits.ResetPerIP),
			usage: "password-reset and verification e-mail requests per client address: N/PERIOD, or off"},
		{env: "RESET_RATE_PER_ACCOUNT", flag: "reset-rate-per-account", def: rateString(lim.ResetPerAccount), set: rate(&c.Limits.ResetPerAccount),
			usage: "password-reset and verification e-mail requests per e-mail address: N/PERIOD, or off"},
		{env: "MFA_RATE_PER_ACCOUNT", flag: "mfa-rate-per-account", def: rateString(lim.MFAPerAccount), set: rate(&c.Limits.MFAPerAccount),
			usage: "second-factor codes per account (login, step-up, enrolment), the second factor's lockout: N/PERIOD, or off"},
		{env: "MFA_RATE_PER_TICKET", flag: "mfa-rate-per-ticket", def: rateString(lim.MFAPerTicket), set: rate(&c.Limits.MFAPerTicket),
			usage: "codes per login ticket; past it the ticket is spent and the login starts over: N/PERIOD, or off"},
		{env: "AUDIT_RETENTION", flag: "audit-retention", def: "off", set: retention(&c.AuditRetention),
			usage: "how long audit events are kept (e.g. 2160h for 90 days; at least 24h), deleted in batches by the store's janitor with expired sessions and tokens; off: kept until you delete them"},
		{env: "LOG_LEVEL", flag: "log-level", def: "info", set: level(&c.LogLevel), usage: "debug, info, warn or error"},
		{env: "LOG_FORMAT", flag: "log-format", def: "text", set: oneOf(&c.LogFormat, "text", "json"), usage: "text or json"},
		{env: "OTEL_EXPORTER", flag: "otel-exporter", def: "none", set: oneOf(&c.OTelExporter, "none", "stdout", "otlp"),
			usage: "OpenTelemetry traces and metrics: none, stdout, or otlp (OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318, and the other standard OTEL_* variables)"},
		{env: "SHUTDOWN_TIMEOUT", flag: "shutdown-timeout", def: "15s", set: duration(&c.ShutdownTimeout, time.Second, 10*time.Minute),
			usage: "on SIGINT or SIGTERM, how long in-flight requests may take to finish"},
	}
}

// errUsage marks a configuration or command-line error: the process exits
// with status 2.
var errUsage = errors.New("usage")

// loadConfig reads the settings from getenv and then from args, for the
// command named cmd; extra registers the command's own flags. It returns
// the configuration and the arguments left after the flags. -h prints the
// usage and returns flag.ErrHelp.
func loadConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*config, []string, error) {
	c := &config{}
	settings := c.settings()
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(stderr, fs, settings) }
	values := make(map[string]*flagValue, len(settings))
	for i := range settings {
		s := &settings[i]
		v := &flagValue{value: s.def, isBool: s.isBool}
		if e, ok := lookupEnv(getenv, s.env); ok {
			v.value = e
		}
		values[s.env] = v
		if !s.envOnly {
			fs.Var(v, s.flag, s.usage)
		}
	}
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	for i := range settings {
		s := &settings[i]
		if err := s.set(strings.TrimSpace(values[s.env].value)); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %v", errUsage, s.name(), err)
		}
	}
	if err := c.validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return c, fs.Args(), nil
}

// lookupEnv treats an empty variable as unset, as shells make it easy to
// export one by mistake.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// validate checks the rules that involve several settings.
func (c *config) validate() error {
	switch {
	case c.RedisURL != "" && len(c.RedisAddrs) > 0:
		return errors.New("set REDIS_URL or REDIS_ADDRS, not both")
	case c.SessionIdleTTL > c.SessionTTL:
		return errors.New("SESSION_IDLE_TTL must not exceed SESSION_TTL")
	case c.AccessTTL > c.SessionTTL:
		return errors.New("ACCESS_TTL must not exceed SESSION_TTL")
	case c.RedisPassword != "" && len(c.RedisAddrs) == 0:
		return errors.New("REDIS_PASSWORD is only for REDIS_ADDRS; put the password of REDIS_URL in the URL")
	case c.SMTP.Addr != "" && c.MailDir != "":
		return errors.New("set SMTP_ADDR or MAIL_DIR, not both")
	case c.SMTP.ImplicitTLS && c.SMTP.InsecureSkipTLS:
		return errors.New("SMTP_IMPLICIT_TLS and SMTP_INSECURE_SKIP_TLS contradict each other")
	case c.SMTP.Password != "" && c.SMTP.InsecureSkipTLS:
		return errors.New("SMTP_INSECURE_SKIP_TLS would send SMTP_PASSWORD in clear text; use TLS")
	case (c.SMTP.Username != "") != (c.SMTP.Password != ""):
		return errors.New("set both SMTP_USERNAME and SMTP_PASSWORD, or neither")
	case c.RequireVerified && !c.mailEnabled():
		return errors.New("REQUIRE_VERIFIED_EMAIL needs SMTP_ADDR or MAIL_DIR to deliver the verification e-mail")
	case c.EnumerationSafe && !c.mailEnabled():
		return errors.New("ENUMERATION_SAFE_REGISTRATION needs SMTP_ADDR or MAIL_DIR: unverified users cannot log in, and must receive the verification e-mail")
	}
	return nil
}

// flagValue is the flag.Value of a setting: the raw text, parsed later so
// that errors name the variable and the flag alike.
type flagValue struct {
	value  string
	isBool bool
}

func (v *flagValue) String() string     { return v.value }
func (v *flagValue) Set(s string) error { v.value = s; return nil }
func (v *flagValue) IsBoolFlag() bool   { return v.isBool }

// printUsage writes the help text: the commands, every setting with its
// flag, variable and default, and the command's own flags.
func printUsage(w io.Writer, fs *flag.FlagSet, settings []setting) {
	fmt.Fprint(w, `Usage: server [command] [flags]

The reference server of github.com/maestro-ml/auth.

Commands:
  serve                     run the HTTP server (the default)
  migrate up|down|status    apply, roll back one step of, or list the schema migrations
  create-admin -email ADDR  create an administrator; the password is read from
                            AUTH_ADMIN_PASSWORD or, if unset, from standard input
  keys rotate               make a new signing key; the old one keeps verifying for
                            ACCESS_TTL (send SIGHUP to running servers, or restart them)

Settings: each is an environment variable, and most also a flag, which
overrides the variable. Those marked "environment only" may hold secrets,
which must not show in a process listing.

`)
	for _, s := range settings {
		head := "-" + s.flag + ", " + s.env
		if s.envOnly {
			head = s.env + ", environment only"
		}
		if s.def != "" {
			head += fmt.Sprintf(" (default %q)", s.def)
		}
		fmt.Fprintf(w, "  %s\n    \t%s\n", head, s.usage)
	}
	own := false
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(*flagValue); ok {
			return
		}
		if !own {
			fmt.Fprintf(w, "\nFlags of %s:\n", fs.Name())
			own = true
		}
		fmt.Fprintf(w, "  -%s\n    \t%s\n", f.Name, f.Usage)
	})
	fmt.Fprintln(w, "\nAUTH_ADMIN_PASSWORD (environment only) is the password create-admin gives; there is no default.")
}

// Parsers of setting values. Each returns a func that stores the parsed
// value in dst or explains what is wrong.

func str(dst *string) func(string) error {
	return func(s string) error { *dst = s; return nil }
}

func nonEmpty(dst *string) func(string) error {
	return func(s string) error {
		if s == "" {
			return errors.New("must not be empty")
		}
		*dst = s
		return nil
	}
}

func boolean(dst *bool) func(string) error {
	return func(s string) error {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*dst = b
		return nil
	}
}

func duration(dst *time.Duration, lo, hi time.Duration) func(string) error {
	return func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			return fmt.Errorf("%q is not a duration from %v to %v (e.g. 15m)", s, lo, hi)
		}
		*dst = d
		return nil
	}
}

// mfaPolicy parses MFA_REQUIRED: none, all, or a list of roles.
func mfaPolicy(dst *auth.MFAPolicy) func(string) error {
	return func(s string) error {
		switch s {
		case "none":
			*dst = auth.MFAPolicy{}
			return nil
		case "all":
			*dst = auth.MFAPolicy{All: true}
			return nil
		}
		var p auth.MFAPolicy
		for _, r := range strings.Split(s, ",") {
			role := auth.Role(strings.TrimSpace(r))
			if !slices.Contains([]auth.Role{auth.RoleViewer, auth.RoleEditor, auth.RoleAdmin}, role) {
				return fmt.Errorf("%q is not none, all, or a comma-separated list of viewer, editor and admin", s)
			}
			p.Roles = append(p.Roles, role)
		}
		*dst = p
		return nil
	}
}

// retention parses AUDIT_RETENTION: off, or a duration of at least a day.
func retention(dst *time.Duration) func(string) error {
	return func(s string) error {
		if s == "off" {
			*dst = 0
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 24*time.Hour {
			return fmt.Errorf("%q is not off or a duration of at least 24h (e.g. 2160h)", s)
		}
		*dst = d
		return nil
	}
}

// rate parses a rate limit, N/PERIOD ("20/1m": 20 at once, then 20 per
// minute), or "off".
func rate(dst *auth.Limit) func(string) error {
	return func(s string) error {
		if s == "off" {
			*dst = auth.Limit{Burst: -1}
			return nil
		}
		n, p, ok := strings.Cut(s, "/")
		burst, err := strconv.Atoi(n)
		period, perr := time.ParseDuration(p)
		if !ok || err != nil || perr != nil || burst < 1 || burst > 1_000_000 || period < time.Second || period > 30*24*time.Hour {
			return fmt.Errorf("%q is not N/PERIOD with N from 1 to 1000000 and PERIOD from 1s to 720h (e.g. 20/1m), or off", s)
		}
		*dst = auth.Limit{Burst: burst, Period: period}
		return nil
	}
}

// threshold parses the lockout threshold; 0 turns the lockout off.
func threshold(dst *int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1000 {
			return fmt.Errorf("%q is not a number from 0 (no lockout) to 1000", s)
		}
		if n == 0 {
			n = -1
		}
		*dst = n
		return nil
	}
}

// rateString writes a limit as rate parses it.
func rateString(l auth.Limit) string {
	if l.Burst < 0 {
		return "off"
	}
	return strconv.Itoa(l.Burst) + "/" + shortDuration(l.Period)
}

// shortDuration writes 15m for 15m0s and 1h for 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func oneOf(dst *string, allowed ...string) func(string) error {
	return func(s string) error {
		for _, a := range allowed {
			if s == a {
				*dst = s
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", "))
	}
}

func level(dst *slog.Level) func(string) error {
	return func(s string) error {
		if err := dst.UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("%q is not debug, info, warn or error", s)
		}
		return nil
	}
}

func hostPort(dst *string) func(string) error {
	return func(s string) error {
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			return fmt.Errorf("%q is not host:port (or :port)", s)
		}
		*dst = s
		return nil
	}
}

func optionalHostPort(dst *string) func(string) error {
	return func(s string) error {
		if s == "" {
			return nil
		}
		if host, port, err := net.SplitHostPort(s); err != nil || host == "" || port == "" {
			return fmt.Errorf("%q is not host:port", s)
		}
		*dst = s
		return nil
	}
}

func addrList(dst *[]string) func(string) error {
	return func(s string) error {
		*dst = nil
		for a := range strings.SplitSeq(s, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
				return fmt.Errorf("%q is not host:port", a)
			}
			*dst = append(*dst, a)
		}
		return nil
	}
}

func proxies(dst *[]netip.Prefix) func(string) error {
	return func(s string) error {
		var list []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		ps, err := middleware.ParseTrustedProxies(list...)
		if err != nil {
			return err
		}
		*dst = ps
		return nil
	}
}

func address(dst *string) func(string) error {
	return func(s string) error {
		if _, err := mail.ParseAddress(s); err != nil {
			return fmt.Errorf("%q is not an e-mail address such as \"Example <no-reply@example.com>\"", s)
		}
		*dst = s
		return nil
	}
}

func publicURL(dst *string) func(string) error {
	return func(s string) error {
		if s == "" {
			return nil
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%q is not an http(s) URL without query or fragment", s)
		}
		*dst = strings.TrimSuffix(s, "/")
		return nil
	}
}

func databaseURL(dst *string) func(string) error {
	return func(s string) error {
		if path, ok := strings.CutPrefix(s, "sqlite:"); ok {
			if path == "" || strings.ContainsAny(path, "?#") {
				return errors.New("sqlite: needs a file path without ? or #, e.g. sqlite:./auth.db")
			}
			*dst = s
			return nil
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			// The value may hold a password: never echo it.
			return errors.New("is neither sqlite:PATH nor a postgres:// URL")
		}
		*dst = s
		return nil
	}
}

func redisURL(dst *string) func(string) error {
	return func(s string) error {
		if s == "" {
			return nil
		}
		if _, err := rueidis.ParseURL(s); err != nil {
			return errors.New("is not a redis://, rediss:// or unix:// URL") // may hold a password: not echoed
		}
		*dst = s
		return nil
	}
}

func redisPrefix(dst *string) func(string) error {
	return func(s string) error {
		if strings.ContainsAny(s, "{}") {
			return fmt.Errorf("%q must not contain { or } (they delimit Redis Cluster hash tags)", s)
		}
		*dst = s
		return nil
	}
}
