package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/console"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/factor/totp/totpconsole"
	"github.com/maestro-ml/auth/factor/totp/totphttp"
	"github.com/maestro-ml/auth/middleware"
	"github.com/maestro-ml/auth/store/bunstore"
)

// HTTP server limits. A slow client cannot hold a connection open by
// trickling headers (ReadHeaderTimeout, CWE-400) or a body (ReadTimeout);
// WriteTimeout leaves room for a login that waits for a password-hashing
// slot; idle keep-alive connections are closed after IdleTimeout.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	// readyTimeout bounds the checks of /readyz.
	readyTimeout = 2 * time.Second
)

// serve runs the HTTP server until ctx is done (SIGINT, SIGTERM), then
// drains in-flight requests for up to cfg.ShutdownTimeout and closes
// everything it opened. SIGHUP reloads the key file.
func serve(ctx context.Context, cfg *config, log *slog.Logger, stdout io.Writer) (err error) {
	// SIGHUP reloads the key file; catch it from the start, as its default
	// action is to end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var cleanup []func(context.Context) error // run in reverse order on return
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		for i := len(cleanup) - 1; i >= 0; i-- {
			err = errors.Join(err, cleanup[i](ctx))
		}
		if err == nil {
			log.Info("stopped")
		}
	}()

	tel, err := newTelemetry(ctx, cfg.OTelExporter, stdout)
	if err != nil {
		return fmt.Errorf("OTEL_EXPORTER: %w", err)
	}
	cleanup = append(cleanup, tel.Shutdown)

	st, err := openStores(ctx, cfg, log, tel)
	if err != nil {
		return err
	}
	cleanup = append(cleanup, func(context.Context) error { return st.Close() })

	keys, err := loadKeys(cfg.KeyFile, time.Now(), log)
	if err != nil {
		return fmt.Errorf("KEY_FILE: %w", err)
	}
	totpKeys, err := loadTOTPKeys(cfg.TOTPKeyFile, time.Now(), log)
	if err != nil {
		return fmt.Errorf("TOTP_KEY_FILE: %w", err)
	}
	// The second factor every user may enrol: TOTP with recovery codes.
	second, err := totp.New(totp.Config{Store: st.sql, Keys: totpKeys, Issuer: cfg.Issuer})
	if err != nil {
		return fmt.Errorf("TOTP: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	defer ln.Close()
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}

	notifier, stopMail, err := newNotifier(cfg, publicURL, log)
	if err != nil {
		return err
	}
	if stopMail != nil {
		cleanup = append(cleanup, func(ctx context.Context) error { return within(ctx, stopMail) })
	}
	events, auditLog, stopEvents, err := auditSinks(st.sql, log)
	if err != nil {
		return err
	}
	cleanup = append(cleanup, stopEvents)

	a, err := auth.New(auth.Config{
		Keys:                 keys,
		Users:                st.sql,
		Tenants:              st.sql,
		Sessions:             st.sql,
		Revocations:          st.revocations(),
		Limiter:              st.limiter(),
		ActionTokens:         st.sql,
		Notifier:             notifier,
		RequireVerifiedEmail: cfg.RequireVerified,
		EnumerationSafe:      cfg.EnumerationSafe,
		SecondFactors:        []auth.SecondFactor{second},
		MFA:                  cfg.MFARequired,
		Issuer:               cfg.Issuer,
		Audience:             cfg.Audience,
		AccessTTL:            cfg.AccessTTL,
		SessionTTL:           cfg.SessionTTL,
		SessionIdleTTL:       cfg.SessionIdleTTL,
		Limits:               cfg.Limits,
		Events:               events,
		AuditLog:             auditLog,
		TracerProvider:       tel.tracerProvider(),
		MeterProvider:        tel.meterProvider(),
		Logger:               log,
	})
	if err != nil {
		return err
	}

	var draining atomic.Bool
	handler, err := newHandler(cfg, a, st, log, &draining, second)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "public_url", publicURL, "database", databaseKind(cfg),
		"revocations", revocationKind(st), "signing_kid", keys.SigningKey().ID())
	fmt.Fprintf(stdout, "auth example server listening on http://%s\n", ln.Addr())

	// Verify-only keys leave the key set when they retire, not only at the
	// next SIGHUP or restart: a key rotated out after a compromise must stop
	// verifying (and leave the JWKS) on time.
	retire := time.NewTimer(untilRetirement(cfg.KeyFile, time.Now(), log))
	defer retire.Stop()
	for stop := false; !stop; {
		select {
		case err := <-serveErr:
			return fmt.Errorf("serving HTTP: %w", err)
		case <-hup:
			reloadKeys(a, cfg.KeyFile, "SIGHUP", log)
			retire.Reset(untilRetirement(cfg.KeyFile, time.Now(), log))
		case <-retire.C:
			reloadKeys(a, cfg.KeyFile, "key retirement", log)
			retire.Reset(untilRetirement(cfg.KeyFile, time.Now(), log))
		case <-ctx.Done():
			stop = true
		}
	}

	log.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout)
	draining.Store(true)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still running at the shutdown timeout were cut off", "error", err)
		srv.Close()
	}
	return nil
}

// newHandler returns the server's routes, wrapped in the request log; the
// TOTP factor brings its endpoints and its console pages. It fails only on
// an invalid middleware or console option.
func newHandler(cfg *config, a *auth.Authenticator, st *stores, log *slog.Logger, draining *atomic.Bool, second *totp.TOTP) (http.Handler, error) {
	ips := middleware.IPResolver{TrustedProxies: cfg.TrustedProxies}
	opts := []middleware.Option{middleware.WithIPResolver(ips), middleware.WithLogger(log), middleware.WithExtensions(totphttp.New(second))}
	if cfg.Cookies {
		opts = append(opts, middleware.WithCookies(middleware.Cookies{}))
	}
	// One Handler for the library's endpoints and every route's
	// middleware: they read the same cookies, find clients the same way
	// and log to the same logger.
	mw, err := middleware.New(a, opts...)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mw.Mount(mux) // /api/v1/auth/... and /.well-known/jwks.json
	if cfg.Console {
		// The web console: /, /sign-in, /account, /admin/users, ...
		con, err := console.New(a, mw, console.WithLogger(log), console.WithExtensions(totpconsole.New(second)))
		if err != nil {
			return nil, err
		}
		con.Mount(mux)
	}
	p := &projects{db: st.db, mw: mw}
	p.routes(mux)
	// A demo of optional authentication, and the load test's target: the
	// same handler answers with and without a token.
	mux.Handle("GET /api/v1/hello", mw.Optional(http.HandlerFunc(hello)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready(w, r, st, log, draining)
	})
	return logRequests(log, ips)(mux), nil
}

// hello greets the caller: by user ID and role with a valid token,
// anonymously without one (a bad token is 401, as everywhere).
func hello(w http.ResponseWriter, r *http.Request) {
	body := map[string]string{"hello": "anonymous"}
	if c, ok := middleware.ClaimsFrom(r); ok {
		body = map[string]string{"hello": c.UserID, "role": string(c.Role)}
	}
	writeJSON(w, http.StatusOK, body)
}

// ready answers /readyz: 200 when the database (and Redis, if configured)
// answer within readyTimeout, else 503, as also while shutting down, so
// that a load balancer stops sending requests. Causes are logged, not
// returned.
func ready(w http.ResponseWriter, r *http.Request, st *stores, log *slog.Logger, draining *atomic.Bool) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	status, code := "ok", http.StatusOK
	checks := map[string]string{}
	for name, err := range st.ready(ctx) {
		checks[name] = "ok"
		if err != nil {
			checks[name] = "unavailable"
			status, code = "unavailable", http.StatusServiceUnavailable
			log.WarnContext(r.Context(), "readiness check failed", "check", name, "error", err)
		}
	}
	if draining.Load() {
		status, code = "shutting_down", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

// auditSinks returns where audit events go: to the log, and to the
// auth_audit_events table through an audit.Async, which writes in batches
// and retries while the database is unavailable, so that an outage of a
// few seconds loses no event; the store also answers the administrators'
// GET /api/v1/auth/audit-events. stop writes what is buffered (until its
// context ends): call it before closing the store.
func auditSinks(st *bunstore.Store, log *slog.Logger) (sink auth.EventSink, auditLog auth.AuditLog, stop func(context.Context) error, err error) {
	async, err := audit.NewAsync(st, audit.AsyncConfig{Logger: log})
	if err != nil {
		return nil, nil, nil, err
	}
	return audit.Multi{auth.SlogSink{Logger: log}, async}, st, async.Shutdown, nil
}

// reloadKeys installs the key set of the key file (after `keys rotate`, or
// when a verify-only key retires), keeping the current one if the file
// cannot be read.
func reloadKeys(a *auth.Authenticator, path, why string, log *slog.Logger) {
	kf, err := readKeyFile(path, log)
	if err == nil {
		var ks *auth.KeySet
		if ks, err = kf.keySet(time.Now()); err == nil {
			err = a.SetKeys(ks)
		}
	}
	if err != nil {
		log.Error(why+": key file not reloaded; the current keys stay", "file", path, "error", err)
		return
	}
	log.Info(why+": key file reloaded", "file", path, "signing_kid", a.Keys().SigningKey().ID(), "keys", len(a.Keys().Keys()))
}

// within runs fn, giving up waiting when ctx is done.
func within(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func databaseKind(cfg *config) string {
	if path, ok := cfg.sqlitePath(); ok {
		return "sqlite " + path
	}
	return "postgres"
}

func revocationKind(st *stores) string {
	if st.redis != nil {
		return "redis"
	}
	return "sql"
}
