package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// postgres is a private PostgreSQL cluster on a loopback port, in a
// directory of its own, run as the postgres user with trust
// authentication.
type postgres struct {
	bin  string // directory of initdb and postgres
	dir  string // owned by the postgres user
	port int
	cred *syscall.Credential
	log  string
	p    *proc
}

// newPostgres creates the cluster under dir (initdb) without starting it.
func newPostgres(ctx context.Context, dir, logDir string) (*postgres, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, errors.New("no /usr/lib/postgresql/*/bin/initdb: install PostgreSQL (Debian: postgresql)")
	}
	slices.SortFunc(bins, func(a, b string) int { return pgVersion(a) - pgVersion(b) })
	pg := &postgres{bin: filepath.Dir(bins[len(bins)-1]), dir: dir, log: filepath.Join(logDir, "postgres.log")}
	if err := os.MkdirAll(filepath.Join(dir, "sock"), 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run it as the postgres user,
		// in directories it owns.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL runs as the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		for _, d := range []string{dir, filepath.Join(dir, "sock")} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	p, err := spawn("initdb", pg.log, pg.cred, pgEnv(), dir, filepath.Join(pg.bin, "initdb"),
		"-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
	if p.err != nil {
		return nil, fmt.Errorf("initdb: %v (see %s)", p.err, pg.log)
	}
	if pg.port, err = freePort(); err != nil {
		return nil, err
	}
	return pg, nil
}

func pgVersion(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

func pgEnv() []string { return []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "TZ=UTC"} }

// url is the DSN of the cluster's postgres database at addr (the cluster
// itself, or a proxy in front of it).
func (pg *postgres) url(addr string) string {
	return "postgres://postgres@" + addr + "/postgres?sslmode=disable"
}

// start runs the postmaster and waits until it accepts queries. fsync is
// off: every stop is a clean shutdown, and the disk is shared with other
// work.
func (pg *postgres) start(ctx context.Context) error {
	p, err := spawn("postgres", pg.log, pg.cred, pgEnv(), pg.dir, filepath.Join(pg.bin, "postgres"),
		"-D", filepath.Join(pg.dir, "data"), "-p", strconv.Itoa(pg.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+filepath.Join(pg.dir, "sock"),
		"-c", "fsync=off", "-c", "max_connections=100", "-c", "shared_buffers=32MB")
	if err != nil {
		return err
	}
	pg.p = p
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(pg.url(hostPort(pg.port))), pgdriver.WithTimeout(time.Second)))
	defer db.Close()
	if err := waitFor(ctx, p, 60*time.Second, db.PingContext); err != nil {
		return fmt.Errorf("postgres did not start: %w (see %s)", err, pg.log)
	}
	return nil
}

// stop shuts the cluster down in fast mode (SIGINT: sessions are ended,
// the shutdown checkpoint written).
func (pg *postgres) stop() error {
	if pg.p == nil {
		return nil
	}
	err := pg.p.stop(syscall.SIGINT, 60*time.Second)
	pg.p = nil
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil // a fast shutdown may end with a non-zero status
	}
	return err
}

// redis is a private redis-server on a loopback port, with an append-only
// file so that a restart keeps revocations, and no snapshots.
type redis struct {
	dir  string
	port int
	log  string
	p    *proc
}

func newRedis(dir, logDir string) (*redis, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server not found: install Redis (Debian: redis-server)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &redis{dir: dir, port: port, log: filepath.Join(logDir, "redis.log")}, nil
}

func (r *redis) start(ctx context.Context) error {
	bin, _ := exec.LookPath("redis-server")
	p, err := spawn("redis-server", r.log, nil, []string{"PATH=/usr/bin:/bin"}, r.dir, bin,
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--dir", r.dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", "")
	if err != nil {
		return err
	}
	r.p = p
	if err := waitFor(ctx, p, 30*time.Second, func(ctx context.Context) error { return redisPing(ctx, hostPort(r.port)) }); err != nil {
		return fmt.Errorf("redis did not start: %w (see %s)", err, r.log)
	}
	return nil
}

// stop shuts Redis down with SIGTERM, which makes it fsync the
// append-only file.
func (r *redis) stop() error {
	if r.p == nil {
		return nil
	}
	err := r.p.stop(syscall.SIGTERM, 30*time.Second)
	r.p = nil
	return err
}

// redisPing succeeds when the server at addr answers PING with PONG (not
// while it loads its append-only file).
func redisPing(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis answered %q", strings.TrimSpace(line))
	}
	return nil
}
