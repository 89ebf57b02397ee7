// Command soak is a chaos soak of the reference server: it proves that
// outages of PostgreSQL and Redis, and a crashed instance, never lock a
// user out, never let a revoked credential back in, and never lose the
// audit event of an action that was answered 2xx.
//
// It starts everything it needs on loopback, under a temporary directory:
// a private PostgreSQL cluster and redis-server (never the shared ones),
// and two instances of examples/server on them, sharing one key file.
// Each instance reaches PostgreSQL and Redis through fault proxies of its
// own. Simulated users register, log in, read their account, refresh
// (also twice at once), replay old refresh tokens, log out, log out
// everywhere and change their password, on both instances, while an
// administrator deactivates some of them; meanwhile Redis and PostgreSQL
// restart, an instance is killed with SIGKILL and restarted, and links
// get slow or cut. Every answer is judged (see Invariants), and the
// audit table is checked at the end.
//
//	cd bench && go run ./soak -short   # about a minute, every fault once
//	cd bench && go run ./soak          # ten minutes
//
// It exits 1 if an invariant was violated, 2 if the harness failed.
// RELIABILITY.md at the root of the repository describes the invariants
// and the figures of a ten-minute run.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// The server's parameters the invariants depend on: the reference server
// keeps the library's defaults (auth.Config.RefreshGrace, Limits,
// AsyncSinkConfig).
const (
	refreshGrace    = 10 * time.Second // auth.Config.RefreshGrace
	lockThreshold   = 5                // auth.Limits.LoginPerAccount burst
	sinkSettle      = 11 * time.Second // AsyncSinkConfig MaxBackoff 5 s + WriteTimeout 5 s + 1 s
	revocationSlack = time.Second
)

type options struct {
	duration    time.Duration
	short       bool
	users       int
	maxRequests int64
	jsonPath    string
	keep        bool
	seed        uint64
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the workload runs (faults included)")
	flag.BoolVar(&o.short, "short", false, "run about 60 s, with every fault kind once")
	flag.IntVar(&o.users, "users", 0, "simulated users (0: 100, or 60 with -short)")
	flag.Int64Var(&o.maxRequests, "max-requests", 1_000_000, "stop the workload after this many requests")
	flag.StringVar(&o.jsonPath, "json", "", "also write the report as JSON to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, data) even if the run passes")
	flag.Uint64Var(&o.seed, "seed", 0, "seed of the workload and the schedule (0: random)")
	flag.Parse()
	if o.short {
		o.duration = time.Minute
	}
	if o.users <= 0 {
		o.users = 100
		if o.short {
			o.users = 60
		}
	}
	if o.seed == 0 {
		o.seed = rand.Uint64()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	code := run(ctx, o, log, os.Stdout)
	stop()
	os.Exit(code)
}

// errViolations is returned by soak when the run found violations.
var errViolations = errors.New("invariants violated")

func run(ctx context.Context, o options, log *slog.Logger, stdout io.Writer) int {
	tmp, err := os.MkdirTemp("", "auth-soak-")
	if err == nil {
		err = os.Chmod(tmp, 0o755) // the postgres user enters it
	}
	if err != nil {
		log.Error("soak", "error", err)
		return 2
	}
	err = soak(ctx, o, tmp, log, stdout)
	switch {
	case err == nil && !o.keep:
		_ = os.RemoveAll(tmp)
	default:
		log.Info("kept the run's directory (logs in logs/)", "dir", tmp)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errViolations):
		return 1
	}
	log.Error("soak", "error", err)
	return 2
}

// repoRoot finds the directory of go.work above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from the repository")
		}
		dir = parent
	}
}

func soak(ctx context.Context, o options, tmp string, log *slog.Logger, stdout io.Writer) (err error) {
	started := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	logs := filepath.Join(tmp, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	log.Info("soak: building the server and starting PostgreSQL and Redis", "dir", tmp, "seed", o.seed, "users", o.users, "duration", o.duration)

	type built struct {
		bin string
		err error
	}
	build := make(chan built, 1)
	buildCtx, cancelBuild := context.WithCancel(ctx)
	go func() {
		bin, err := buildServer(buildCtx, root, tmp, filepath.Join(logs, "build.log"))
		build <- built{bin, err}
	}()
	buildDone := false
	defer func() {
		cancelBuild()
		if !buildDone {
			<-build // the go command must not outlive the run
		}
	}()

	pg, err := newPostgres(ctx, filepath.Join(tmp, "pg"), logs)
	if err != nil {
		return err
	}
	if err := pg.start(ctx); err != nil {
		return err
	}
	defer func() {
		if serr := pg.stop(); serr != nil {
			log.Warn("stopping postgres", "error", serr)
		}
	}()
	rd, err := newRedis(filepath.Join(tmp, "redis"), logs)
	if err != nil {
		return err
	}
	if err := rd.start(ctx); err != nil {
		return err
	}
	defer func() {
		if serr := rd.stop(); serr != nil {
			log.Warn("stopping redis", "error", serr)
		}
	}()

	b := <-build
	buildDone = true
	if b.err != nil {
		return b.err
	}
	admin := &adminAccount{email: "soak-admin@example.com", password: "soak admin " + randomSecret()}
	if err := createAdmin(ctx, b.bin, tmp, filepath.Join(logs, "create-admin.log"), pg.url(hostPort(pg.port)), admin.email, admin.password); err != nil {
		return err
	}

	var inst []*instance
	for i := range 2 {
		pgp, err := startProxy(hostPort(pg.port))
		if err != nil {
			return err
		}
		defer pgp.Close()
		rdp, err := startProxy(hostPort(rd.port))
		if err != nil {
			return err
		}
		defer rdp.Close()
		port, err := freePort()
		if err != nil {
			return err
		}
		in := &instance{
			id: i, bin: b.bin, dir: tmp, port: port, log: filepath.Join(logs, fmt.Sprintf("server-%d.log", i)),
			pgProxy: pgp, rdProxy: rdp, env: serverEnv(tmp, pg.url(pgp.Addr()), rdp.Addr(), port),
		}
		// One at a time: the first creates the key file the second reads.
		if err := in.start(ctx); err != nil {
			return err
		}
		defer func() {
			if serr := in.stop(); serr != nil {
				log.Warn("stopping instance", "instance", in.id, "error", serr)
			}
		}()
		if err := in.ready(ctx, 30*time.Second); err != nil {
			return err
		}
		inst = append(inst, in)
	}
	bases := []string{inst[0].base(), inst[1].base()}

	chk := NewChecker(CheckerConfig{
		RefreshGrace: refreshGrace, RevocationSlack: revocationSlack, LockThreshold: lockThreshold, SinkSettle: sinkSettle,
	})
	a := newAPI(bases, chk)
	w := newWorkload(a, chk, log, len(inst), o.users, o.maxRequests, o.seed, refreshGrace)
	w.admin = admin
	rng := rand.New(rand.NewPCG(o.seed, 7))
	plan := schedule(o.duration-10*time.Second, o.short, rng)
	j := &injector{pg: pg, rd: rd, inst: inst, chk: chk, log: log, count: map[string]int{}}

	log.Info("soak: running", "faults", len(plan))
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	deactivateEvery := 15 * time.Second
	if o.short {
		deactivateEvery = 6 * time.Second
	}
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		w.run(workCtx, deactivateEvery, max(o.users/10, 1))
	}()
	faultErr := make(chan error, 1)
	go func() {
		if !sleep(workCtx, 3*time.Second) { // warm up: registrations
			faultErr <- nil
			return
		}
		faultErr <- j.run(workCtx, plan)
	}()
	end := time.NewTimer(o.duration)
	defer end.Stop()
	var ferr error
	faultsDone := false
	for !faultsDone || end.C != nil {
		select {
		case ferr = <-faultErr:
			faultsDone = true
			if ferr != nil {
				stopWork()
			}
		case <-end.C:
			end.C = nil
		case <-workDone:
			if !faultsDone {
				ferr = <-faultErr
				faultsDone = true
			}
			end.C = nil
		}
	}
	stopWork()
	<-workDone
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	if ferr != nil {
		return ferr
	}

	log.Info("soak: faults over; checking that every registered user can log in")
	for _, in := range inst {
		if err := in.ready(ctx, 60*time.Second); err != nil {
			return fmt.Errorf("instance %d did not recover: %w", in.id, err)
		}
	}
	w.finalLogins(ctx)
	log.Info("soak: stopping the instances gracefully (they write their buffered audit events)")
	for _, in := range inst {
		if err := in.stop(); err != nil {
			return fmt.Errorf("instance %d: %w", in.id, err)
		}
	}
	stored, err := auditEvents(ctx, pg.url(hostPort(pg.port)))
	if err != nil {
		return err
	}
	audit := chk.CheckAudit(stored)
	r := chk.report(started, o.users, audit)
	r.WriteText(stdout)
	if o.jsonPath != "" {
		if err := r.writeJSON(o.jsonPath); err != nil {
			return err
		}
	}
	if r.Failed() {
		return errViolations
	}
	return nil
}

// auditEvents counts the stored audit events by EventKey, reading
// auth_audit_events (migrate/postgres/..._create_audit_events.up.sql)
// directly.
func auditEvents(ctx context.Context, dsn string) (map[string]int, error) {
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT type, COALESCE(session_id, ''), COALESCE(user_id, ''), count(*)
		FROM auth_audit_events GROUP BY 1, 2, 3`)
	if err != nil {
		return nil, fmt.Errorf("reading the audit events: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var typ, sid, uid string
		var n int
		if err := rows.Scan(&typ, &sid, &uid, &n); err != nil {
			return nil, err
		}
		if sid != "" {
			out[EventKey(typ, "s:"+sid)] += n
		}
		if uid != "" {
			out[EventKey(typ, "u:"+uid)] += n
		}
	}
	return out, rows.Err()
}
