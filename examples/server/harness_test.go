package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Bounds of every wait in these tests.
const (
	buildTimeout = 10 * time.Minute // the first build compiles the SQLite driver
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	cliTimeout   = 60 * time.Second
	httpTimeout  = 30 * time.Second
	pollTimeout  = 15 * time.Second
)

// buildServer builds the real binary of this package into a temporary
// directory and returns its path.
func buildServer(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go tool must be on PATH")
	bin := filepath.Join(t.TempDir(), "server")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	return bin
}

// lockedBuffer is a bytes.Buffer safe for a writer and readers on other
// goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverProcess is a running server binary.
type serverProcess struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	stderr *lockedBuffer
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// environ returns the environment of a child process: only what is given,
// plus PATH and HOME, so that nothing of the developer's own environment
// (a DATABASE_URL, say) leaks in.
func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// startServer starts bin in dir with env on a free port of 127.0.0.1 and
// waits until it says where it listens. The process is killed when the
// test ends if it is still running.
func startServer(t *testing.T, bin, dir string, env map[string]string) *serverProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-listen", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = environ(env)
	s := &serverProcess{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, addr, ok := strings.Cut(sc.Text(), "listening on "); ok {
				select {
				case listening <- addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("server stderr (%s):\n%s", dir, s.stderr.String())
		}
	})
	select {
	case s.base = <-listening:
	case <-s.exited:
		t.Fatalf("server exited before listening: %v\n%s", s.err, s.stderr.String())
	case <-time.After(startTimeout):
		t.Fatalf("server did not listen within %v\n%s", startTimeout, s.stderr.String())
	}
	return s
}

// stop sends SIGTERM and requires a graceful exit with status 0.
func (s *serverProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("server did not stop within %v", stopTimeout)
	}
	require.NoError(t, s.err, "exit status")
	require.Contains(t, s.stderr.String(), "msg=stopped")
}

// signal sends sig to the server.
func (s *serverProcess) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(sig))
}

// runCLI runs a command of bin in dir and returns its output and exit code.
func runCLI(t *testing.T, bin, dir string, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = environ(env)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	}
	require.NoError(t, err, "running %v", args)
	return out.String(), errOut.String(), 0
}

// client talks to a server as one end user: each has its own address,
// sent in X-Forwarded-For (the server trusts 127.0.0.1 as a proxy), so
// that per-client rate limits apply to it alone.
type client struct {
	t    *testing.T
	base string
	ip   string
	http *http.Client
}

func newClient(t *testing.T, base, ip string) *client {
	return &client{t: t, base: base, ip: ip, http: &http.Client{Timeout: httpTimeout}}
}

// response is a completed request.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body.
func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// do sends a request; body, if not nil, is sent as JSON (a string as is).
func (c *client) do(method, path, token string, body any) *response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Forwarded-For", c.ip)
	resp, err := c.http.Do(req)
	require.NoError(c.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// expect sends a request and requires the status; it returns the decoded
// JSON body, if any.
func (c *client) expect(status int, method, path, token string, body any) map[string]any {
	c.t.Helper()
	r := c.do(method, path, token, body)
	require.Equal(c.t, status, r.status, "%s %s: %s", method, path, r.body)
	if len(bytes.TrimSpace(r.body)) == 0 {
		return nil
	}
	return r.json(c.t)
}

// expectProblem sends a request and requires an RFC 9457 problem with the
// status and code.
func (c *client) expectProblem(status int, code, method, path, token string, body any) {
	c.t.Helper()
	r := c.do(method, path, token, body)
	require.Equal(c.t, status, r.status, "%s %s: %s", method, path, r.body)
	require.Equal(c.t, "application/problem+json", r.header.Get("Content-Type"), "%s %s", method, path)
	require.Equal(c.t, code, r.json(c.t)["code"], "%s %s: %s", method, path, r.body)
}

// eventually polls cond until it holds or pollTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", pollTimeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// randomSuffix returns a short unique suffix for names of databases and
// key prefixes.
func randomSuffix() string {
	return fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000_000)
}
