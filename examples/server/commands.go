package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"golang.org/x/term"
)

// migrateCommand runs "migrate up", "migrate down" or "migrate status".
// Down rolls back one step: the example's newest migration while it has
// one applied (its tables depend on the library's), then the library's.
func migrateCommand(ctx context.Context, cfg *config, action string, log *slog.Logger, stdout io.Writer) error {
	db, err := openDB(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	switch action {
	case "up":
		return migrateUp(ctx, db, log)
	case "down":
		done, err := appMigrateDown(ctx, db, log)
		if err != nil || done {
			return err
		}
		return migrate.Down(ctx, db, migrate.WithLogger(log))
	case "status":
		lib, err := migrate.Status(ctx, db)
		if err != nil {
			return err
		}
		app, err := appMigrateStatus(ctx, db)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SET\tVERSION\tNAME\tAPPLIED")
		applied := func(t time.Time) string {
			if t.IsZero() {
				return "pending"
			}
			return t.UTC().Format(time.RFC3339)
		}
		for _, m := range lib {
			fmt.Fprintf(tw, "auth\t%s\t%s\t%s\n", m.Version, m.Name, applied(m.AppliedAt))
		}
		for _, m := range app {
			fmt.Fprintf(tw, "example\t%s\t%s\t%s\n", m.Version, m.Name, applied(m.AppliedAt))
		}
		return tw.Flush()
	}
	return fmt.Errorf("%w: migrate needs up, down or status", errUsage)
}

// createAdmin creates a verified administrator in the tenant named by
// tenant (empty: the default tenant; a tenant ID; or a slug, creating that
// tenant if it does not exist yet). The password comes from
// AUTH_ADMIN_PASSWORD or standard input, never from a flag.
func createAdmin(ctx context.Context, cfg *config, email, tenant, name string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer, log *slog.Logger) error {
	if email == "" {
		return fmt.Errorf("%w: create-admin needs -email", errUsage)
	}
	password, err := readPassword(getenv, stdin, stderr)
	if err != nil {
		return err
	}
	db, st, err := openSQL(ctx, cfg, log, nil, bunstore.WithSweepInterval(0))
	if err != nil {
		return err
	}
	defer db.Close()
	defer st.Close()
	events, auditLog, stopEvents, err := auditSinks(st, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if serr := stopEvents(sctx); serr != nil {
			log.Error("audit events not written", "error", serr)
		}
	}()
	// CreateUser and CreateTenant issue no token: a throwaway key satisfies
	// auth.New without touching KEY_FILE.
	key, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		return err
	}
	keys, err := auth.NewKeySet(key)
	if err != nil {
		return err
	}
	a, err := auth.New(auth.Config{
		Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st,
		Events: events, AuditLog: auditLog, Logger: log,
	})
	if err != nil {
		return err
	}
	t, err := findOrCreateTenant(ctx, a, st, tenant, log)
	if err != nil {
		return err
	}
	u, err := a.CreateUser(ctx, auth.CreateUserRequest{
		TenantID: t.ID, Email: email, Password: password, Name: name, Role: auth.RoleAdmin, Verified: true,
	})
	switch {
	case errors.Is(err, auth.ErrPasswordPolicy):
		return fmt.Errorf("the password is refused: %w", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "created administrator %s (user %s) in tenant %s (%s)\n", u.Email, u.ID, t.Slug, t.ID)
	return nil
}

// findOrCreateTenant resolves the -tenant flag of create-admin.
func findOrCreateTenant(ctx context.Context, a *auth.Authenticator, st *bunstore.Store, tenant string, log *slog.Logger) (*auth.Tenant, error) {
	switch {
	case tenant == "":
		return st.Tenant(ctx, auth.DefaultTenantID)
	case auth.ValidID(tenant):
		return st.Tenant(ctx, tenant)
	}
	if t, err := st.TenantBySlug(ctx, tenant); !errors.Is(err, auth.ErrTenantNotFound) {
		return t, err
	}
	t, err := a.CreateTenant(ctx, tenant, tenant)
	if errors.Is(err, auth.ErrInvalidInput) {
		return nil, fmt.Errorf("%w: -tenant %q is neither a tenant ID nor a slug (lower-case letters, digits and hyphens)", errUsage, tenant)
	}
	if err == nil {
		log.Info("created tenant", "slug", t.Slug, "id", t.ID)
	}
	return t, err
}

// readPassword returns AUTH_ADMIN_PASSWORD, or else the first line of
// stdin, read without echo from a terminal.
func readPassword(getenv func(string) string, stdin io.Reader, stderr io.Writer) (string, error) {
	if p := getenv("AUTH_ADMIN_PASSWORD"); p != "" {
		return p, nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		return string(p), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if p := strings.TrimRight(line, "\r\n"); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("%w: no password: set AUTH_ADMIN_PASSWORD or write it on standard input", errUsage)
}

// keysRotate runs "keys rotate".
func keysRotate(cfg *config, log *slog.Logger, stdout io.Writer) error {
	// The old key verifies for the longest an access token it signed can
	// live: ACCESS_TTL, plus the library's 30 s clock skew and a margin.
	keep := cfg.AccessTTL + time.Minute
	oldKID, newKID, err := rotateKeys(cfg.KeyFile, time.Now(), keep, log)
	if err != nil {
		return fmt.Errorf("KEY_FILE: %w", err)
	}
	fmt.Fprintf(stdout, "new signing key %s; %s verifies until %s.\nSend SIGHUP to running servers (or restart them) to use it.\n",
		newKID, oldKID, time.Now().Add(keep).UTC().Format(time.RFC3339))
	return nil
}
