package redisstore

// Test helpers: clients for the shared Redis, and redis-server processes
// (standalone and a 3-primary cluster) that a test starts in t.TempDir()
// and always stops through t.Cleanup. Nothing here skips: a missing
// redis-server or an unreachable shared Redis fails the test.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// sharedAddr is the Redis that integration tests share with other packages.
func sharedAddr() string {
	return cmp.Or(os.Getenv("AUTH_TEST_REDIS_ADDR"), "127.0.0.1:6379")
}

// newClient returns a rueidis client for addrs (closed at cleanup), failing
// the test if Redis cannot be reached.
func newClient(t testing.TB, opt rueidis.ClientOption, addrs ...string) rueidis.Client {
	t.Helper()
	opt.InitAddress = addrs
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = 2 * time.Second
	}
	c, err := rueidis.NewClient(opt)
	require.NoError(t, err, "cannot reach Redis at %v (set AUTH_TEST_REDIS_ADDR to use another server)", addrs)
	t.Cleanup(c.Close)
	return c
}

// randomPrefix returns a key prefix unique to this run, so tests can share
// a Redis with other tests and with earlier runs.
func randomPrefix(t testing.TB) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "authtest:" + hex.EncodeToString(b[:]) + ":"
}

// newStore returns a Store over c with a unique prefix; at cleanup the
// prefix's keys are deleted from every primary.
func newStore(t testing.TB, c rueidis.Client, opts ...Option) *Store {
	t.Helper()
	prefix := randomPrefix(t)
	s, err := New(c, append([]Option{WithPrefix(prefix)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { deletePrefix(c, prefix) })
	return s
}

// deletePrefix removes the keys under prefix, best effort: they expire anyway.
func deletePrefix(c rueidis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range c.Nodes() {
		var cursor uint64
		for {
			e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				break
			}
			for _, k := range e.Elements {
				n.Do(ctx, n.B().Unlink().Key(k).Build())
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
}

// redisServer is a redis-server process owned by one test.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startRedis starts redis-server on a free port in its own temporary
// directory, with the extra arguments, and waits until it answers PING.
// It is stopped at cleanup, even if the test fails.
func startRedis(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	var lastErr error
	for range 5 { // a free port can be taken between the probe and the start
		s := &redisServer{t: t, port: freePort(t), dir: t.TempDir(), args: extra}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.stop)
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// Addr is the server's host:port.
func (s *redisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *redisServer) start() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis-server is required: %w", err)
	}
	args := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--daemonize", "no", "--save", "", "--appendonly", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}, s.args...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = serverProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %s", lastLines(log, 5))
		default:
		}
		if ping(s.Addr()) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	return errors.New("redis-server did not answer PING within 10s")
}

// Shutdown stops the server with SHUTDOWN (persisting data if configured)
// and waits for the process to exit.
func (s *redisServer) Shutdown() {
	s.t.Helper()
	_ = rawCommand(s.Addr(), "SHUTDOWN")
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.kill()
		s.t.Fatal("redis-server did not exit after SHUTDOWN")
	}
}

// Restart starts the server again on the same port and directory.
func (s *redisServer) Restart() {
	s.t.Helper()
	require.NoError(s.t, s.start(), "restart redis-server")
}

// stop ends the process: SIGTERM (a graceful shutdown), then SIGKILL.
func (s *redisServer) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.kill()
	}
}

func (s *redisServer) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	_ = cmd.Process.Kill()
	<-done
}

// startCluster starts three primaries with cluster mode on, joins them with
// redis-cli --cluster create and waits for cluster_state:ok on every node.
// It returns the node addresses; the processes stop at cleanup.
func startCluster(t testing.TB) []string {
	t.Helper()
	_, err := exec.LookPath("redis-cli")
	require.NoError(t, err, "redis-cli is required for the cluster tests")
	var addrs []string
	for range 3 {
		s := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
		addrs = append(addrs, s.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)

	deadline := time.Now().Add(20 * time.Second)
	for _, a := range addrs {
		for {
			info, err := rawCommandString(a, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			require.True(t, time.Now().Before(deadline), "cluster did not reach cluster_state:ok: %s", info)
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs
}

// freePort returns a TCP port that is free on 127.0.0.1 together with
// port+10000 (the cluster bus port).
func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port
	}
	t.Fatal("no free port pair")
	return 0
}

func ping(addr string) error {
	s, err := rawCommandString(addr, "PING")
	if err == nil && s != "PONG" {
		err = fmt.Errorf("PING answered %q", s)
	}
	return err
}

// rawCommand sends one command on a fresh connection and returns the first
// line of the reply; used for process control, where a client library's
// reconnects and retries would get in the way.
func rawCommand(addr string, args ...string) error {
	_, err := rawCommandString(addr, args...)
	return err
}

func rawCommandString(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		return "", err
	}
	var reply []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := conn.Read(buf)
		reply = append(reply, buf[:n]...)
		if complete(reply) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	line, rest, _ := bytes.Cut(reply, []byte("\r\n"))
	switch {
	case len(line) > 0 && line[0] == '-':
		return "", errors.New(string(line[1:]))
	case len(line) > 0 && line[0] == '$':
		n, _ := strconv.Atoi(string(line[1:]))
		if n < 0 {
			return "", nil
		}
		return string(rest[:n]), nil
	case len(line) > 0:
		return string(line[1:]), nil
	}
	return "", errors.New("empty reply")
}

// complete reports whether reply holds a whole simple, error, integer or
// bulk string reply (the only kinds rawCommandString is used for).
func complete(reply []byte) bool {
	line, rest, ok := bytes.Cut(reply, []byte("\r\n"))
	if !ok || len(line) == 0 {
		return false
	}
	if line[0] != '$' {
		return true
	}
	n, err := strconv.Atoi(string(line[1:]))
	return err == nil && (n < 0 || len(rest) >= n+2)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
