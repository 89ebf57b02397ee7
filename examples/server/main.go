// Command server is the reference server of github.com/maestro-ml/auth:
// the library's endpoints under /api/v1/auth, a tenant-scoped demo
// resource at /api/v1/projects, and health checks, in production shape.
//
// With no configuration it keeps everything in SQLite (./auth.db) and its
// signing key in ./auth-keys.json, and listens on 127.0.0.1:8080:
//
//	go run ./examples/server
//
// DATABASE_URL=postgres://... switches to PostgreSQL, REDIS_URL or
// REDIS_ADDRS puts revocations and rate limits on Redis. Run it with -h
// for every setting, and see the repository's README for a walk-through.
//
// Commands:
//
//	server [serve]                 run the HTTP server
//	server migrate up|down|status  manage the schema
//	server create-admin -email A   create an administrator (password on stdin
//	                               or in AUTH_ADMIN_PASSWORD)
//	server keys rotate             make a new signing key
//
// Signals: SIGINT and SIGTERM shut down gracefully; SIGHUP reloads the key
// file after "keys rotate".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once, without draining
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run executes the command in args with the given environment and
// standard streams; main is only its adapter to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	// migrate and keys take an action before their flags.
	action := ""
	if cmd == "migrate" || cmd == "keys" {
		if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
			return fmt.Errorf("%w: %s needs an action (see -h)", errUsage, cmd)
		}
		action, args = args[0], args[1:]
	}

	var email, tenant, name string
	var extra func(*flag.FlagSet)
	switch cmd {
	case "serve", "migrate", "keys":
	case "create-admin":
		extra = func(fs *flag.FlagSet) {
			fs.StringVar(&email, "email", "", "e-mail address of the administrator (required)")
			fs.StringVar(&tenant, "tenant", "", "tenant ID or slug (a new slug creates the tenant); empty: the default tenant")
			fs.StringVar(&name, "name", "", "display name")
		}
	case "help":
		_, _, err := loadConfig(cmd, []string{"-h"}, getenv, stderr, nil)
		return err
	default:
		return fmt.Errorf("%w: unknown command %q (see -h)", errUsage, cmd)
	}
	cfg, rest, err := loadConfig(cmd, args, getenv, stderr, extra)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	// Parts of the library given no logger of their own log through
	// slog's default logger: make it this one.
	slog.SetDefault(log)

	switch cmd {
	case "migrate":
		return migrateCommand(ctx, cfg, action, log, stdout)
	case "create-admin":
		return createAdmin(ctx, cfg, email, tenant, name, getenv, stdin, stdout, stderr, log)
	case "keys":
		if action != "rotate" {
			return fmt.Errorf("%w: keys needs the action rotate", errUsage)
		}
		return keysRotate(cfg, log, stdout)
	}
	return serve(ctx, cfg, log, stdout)
}
