package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// instance is one process of the reference server, reaching PostgreSQL
// and Redis through proxies of its own.
type instance struct {
	id      int
	bin     string
	dir     string
	port    int
	env     []string
	log     string
	pgProxy *faultProxy
	rdProxy *faultProxy

	mu sync.Mutex
	p  *proc
}

// serverEnv is the configuration every instance shares: the settings of
// examples/server/config.go. 127.0.0.1 is a trusted proxy, so that each
// simulated client can send its own X-Forwarded-For address and meet the
// per-IP limits as a client of its own would.
func serverEnv(dir, dbURL, redisAddr string, port int) []string {
	return []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + dir,
		"TZ=UTC",
		"LISTEN_ADDR=" + hostPort(port),
		"DATABASE_URL=" + dbURL,
		"REDIS_URL=redis://" + redisAddr + "/0",
		"REDIS_PREFIX=soak:",
		"KEY_FILE=" + filepath.Join(dir, "keys.json"),
		"ACCESS_TTL=2m",
		"TRUSTED_PROXIES=127.0.0.1/32",
		"LOG_LEVEL=info", // a line per request: account soak-N sends from 10.N/256.N%256.x
		"LOG_FORMAT=text",
		"SHUTDOWN_TIMEOUT=15s",
	}
}

func (in *instance) base() string { return "http://" + hostPort(in.port) }

// start runs the server and waits until it answers /healthz.
func (in *instance) start(ctx context.Context) error {
	p, err := spawn(fmt.Sprintf("server %d", in.id), in.log, nil, in.env, in.dir, in.bin, "serve")
	if err != nil {
		return err
	}
	in.mu.Lock()
	in.p = p
	in.mu.Unlock()
	hc := &http.Client{Timeout: time.Second}
	err = waitFor(ctx, p, 60*time.Second, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.base()+"/healthz", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz: %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("instance %d did not start: %w (see %s)", in.id, err, in.log)
	}
	return nil
}

// ready waits until /readyz says the database and Redis answer.
func (in *instance) ready(ctx context.Context, timeout time.Duration) error {
	hc := &http.Client{Timeout: 3 * time.Second}
	return waitFor(ctx, in.proc(), timeout, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.base()+"/readyz", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %d", resp.StatusCode)
		}
		return nil
	})
}

func (in *instance) proc() *proc {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.p
}

// kill ends the server at once, as kill -9 does.
func (in *instance) kill() {
	if p := in.proc(); p != nil {
		p.kill()
	}
}

// stop shuts the server down gracefully (SIGTERM): it drains requests and
// writes its buffered audit events.
func (in *instance) stop() error {
	p := in.proc()
	if p == nil || p.exited() {
		return nil
	}
	return p.stop(syscall.SIGTERM, 40*time.Second)
}

// createAdmin runs the server's create-admin command against dbURL.
func createAdmin(ctx context.Context, bin, dir, logPath, dbURL, email, password string) error {
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "DATABASE_URL=" + dbURL, "AUTH_ADMIN_PASSWORD=" + password,
		"KEY_FILE=" + filepath.Join(dir, "keys.json"), "LOG_LEVEL=warn"}
	p, err := spawn("create-admin", logPath, nil, env, dir, bin, "create-admin", "-email", email)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		return ctx.Err()
	}
	if p.err != nil {
		return fmt.Errorf("create-admin: %v (see %s)", p.err, logPath)
	}
	return nil
}

// buildServer builds examples/server of the repository at root into dir.
func buildServer(ctx context.Context, root, dir, logPath string) (string, error) {
	bin := filepath.Join(dir, "server")
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	p, err := spawn("go build", logPath, nil, os.Environ(), root, goBin, "build", "-o", bin, "./examples/server")
	if err != nil {
		return "", err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		return "", ctx.Err()
	}
	if p.err != nil {
		out, _ := os.ReadFile(logPath)
		return "", fmt.Errorf("go build ./examples/server: %v\n%s", p.err, out)
	}
	return bin, nil
}
