package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// These tests stop, pause and kill Redis, so each starts its own
// redis-server; the shared one is never touched.

// cacheDrops counts the client-side caches a client discards: rueidis calls
// OnInvalidations(nil) right after it drops a connection's cache (and for
// a server-side FLUSHALL, which these tests do not use).
type cacheDrops struct{ n atomic.Int64 }

func (d *cacheDrops) option(name string) rueidis.ClientOption {
	return rueidis.ClientOption{
		ClientName: name,
		OnInvalidations: func(m []rueidis.RedisMessage) {
			if m == nil {
				d.n.Add(1)
			}
		},
	}
}

// waitDrops waits until at least n caches were dropped.
func (d *cacheDrops) wait(t testing.TB, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return d.n.Load() >= n }, 5*time.Second, time.Millisecond,
		"the client did not notice its connections closing")
}

// clientIDs returns the IDs of the connections named name.
func clientIDs(t testing.TB, addr, name string) []string {
	t.Helper()
	list, err := rawCommandString(addr, "CLIENT", "LIST")
	require.NoError(t, err)
	var ids []string
	for line := range strings.SplitSeq(list, "\n") {
		if strings.Contains(line, " name="+name+" ") {
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
			ids = append(ids, id)
		}
	}
	require.NotEmpty(t, ids, "no connection named %s", name)
	return ids
}

// killClients kills every connection named name and returns how many.
func killClients(t testing.TB, addr, name string) int64 {
	t.Helper()
	ids := clientIDs(t, addr, name)
	for _, id := range ids {
		require.NoError(t, rawCommand(addr, "CLIENT", "KILL", "ID", id))
	}
	return int64(len(ids))
}

// TestClientKill: a client whose connections are killed forgets what it
// cached, so a revocation made while it was disconnected (and so could
// not be invalidated) is seen on its next check.
func TestClientKill(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	var drops cacheDrops
	checkerName := "checker-" + uuid.NewString()[:8]
	checker := newStore(t, newClient(t, drops.option(checkerName), srv.Addr()))
	writer, err := New(newClient(t, rueidis.ClientOption{}, srv.Addr()), WithPrefix(checker.prefix))
	require.NoError(t, err)

	q := auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
	st, err := checker.Revoked(ctx, q)
	require.NoError(t, err)
	require.Equal(t, auth.RevocationStatus{}, st)
	require.True(t, cached(t, checker, q), "not revoked is cached")

	before := drops.n.Load()
	killed := killClients(t, srv.Addr(), checkerName)
	drops.wait(t, before+killed)

	// Redis dropped the checker's tracking with its connections: this write
	// invalidates nothing on the checker's side.
	require.NoError(t, writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationSession, ID: q.SessionID, At: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}))

	st, err = checker.Revoked(ctx, q)
	require.NoError(t, err, "the checker reconnects by itself")
	require.Equal(t, auth.RevocationStatus{SessionRevoked: true}, st, "no stale answer from the dropped cache")
}

// TestOutage stops Redis (with persistence) while tokens are cached, and
// checks that the store fails closed within about its timeout, that the
// Authenticator refuses tokens, and that after a restart on the same port
// the store recovers by itself with no stale answer.
func TestOutage(t *testing.T) {
	srv := startRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	const timeout = 250 * time.Millisecond
	var drops cacheDrops
	checkerClient := newClient(t, drops.option("checker"), srv.Addr())
	checker := newStore(t, checkerClient, WithTimeout(timeout))
	writer, err := New(newClient(t, rueidis.ClientOption{}, srv.Addr()), WithPrefix(checker.prefix), WithTimeout(timeout))
	require.NoError(t, err)

	mem := memstore.New()
	t.Cleanup(func() { _ = mem.Close() })
	stores := authtest.Stores{Users: mem, Tenants: mem, Sessions: mem, Revocations: checker}
	key, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	keys, err := auth.NewKeySet(key)
	require.NoError(t, err)
	a := authtest.NewAuthenticator(t, stores, nil, auth.Config{Keys: keys})
	insecure := authtest.NewAuthenticator(t, stores, nil, auth.Config{Keys: keys, FailOpen: true})
	email := "outage-" + uuid.NewString()[:8] + "@example.com"
	_, err = a.Register(ctx, auth.RegisterRequest{Email: email, Password: "correct horse battery staple"})
	require.NoError(t, err)
	pair, _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: "correct horse battery staple"})
	require.NoError(t, err)
	claims, err := a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err, "the token's entries are now cached as not revoked")
	tokenQuery := auth.RevocationQuery{TokenID: claims.TokenID, SessionID: claims.SessionID, UserID: claims.UserID}
	require.True(t, cached(t, checker, tokenQuery))

	// X is cached as not revoked; Z is revoked before the outage.
	x := auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
	st, err := checker.Revoked(ctx, x)
	require.NoError(t, err)
	require.Equal(t, auth.RevocationStatus{}, st)
	require.True(t, cached(t, checker, x))
	z := uuid.NewString()
	require.NoError(t, writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: z, At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))

	// Wait until the checker has noticed that every one of its connections
	// closed: until then, it may rightly answer from a cache that cannot
	// have missed anything, as a stopped server accepts no writes.
	before, conns := drops.n.Load(), int64(len(clientIDs(t, srv.Addr(), "checker")))
	srv.Shutdown()
	drops.wait(t, before+conns)

	within := func(name string, f func() error) {
		t.Helper()
		start := time.Now()
		err := f()
		elapsed := time.Since(start)
		requireUnavailable(t, err)
		require.Less(t, elapsed, 3*time.Second, "%s must fail, not hang; it took %v", name, elapsed)
		t.Logf("%s while Redis is down: %v after %v", name, err, elapsed.Round(time.Millisecond))
	}
	within("Revoked (cached before the outage)", func() error { _, err := checker.Revoked(ctx, x); return err })
	within("Revoked (new)", func() error {
		_, err := checker.Revoked(ctx, auth.RevocationQuery{TokenID: uuid.NewString()})
		return err
	})
	within("Revoke", func() error {
		return writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: x.TokenID, At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
	})
	within("Authenticate", func() error { _, err := a.Authenticate(ctx, pair.AccessToken); return err })
	_, err = insecure.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err, "Config.FailOpen accepts the token: the insecure opt-in")

	srv.Restart()

	// The writer revokes X as soon as Redis is back; the checker had it
	// cached as not revoked before the outage.
	require.Eventually(t, func() bool {
		return writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: x.TokenID, At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}) == nil
	}, 10*time.Second, 10*time.Millisecond, "the writer recovers")
	var got auth.RevocationStatus
	require.Eventually(t, func() bool {
		var err error
		got, err = checker.Revoked(ctx, x)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the checker recovers")
	require.Equal(t, auth.RevocationStatus{TokenRevoked: true}, got, "the first answer after the outage is fresh")

	st, err = checker.Revoked(ctx, auth.RevocationQuery{TokenID: z})
	require.NoError(t, err)
	require.True(t, st.TokenRevoked, "revocations made before the outage survive the restart")
	_, err = a.Authenticate(ctx, pair.AccessToken)
	require.NoError(t, err, "Authenticate recovers")
}

// TestSlowRedis pauses Redis: a check that needs Redis fails closed within
// about the timeout, and the store recovers when Redis resumes.
func TestSlowRedis(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	const timeout = 250 * time.Millisecond
	s := newStore(t, newClient(t, rueidis.ClientOption{}, srv.Addr()), WithTimeout(timeout))
	q := auth.RevocationQuery{TokenID: uuid.NewString()}
	_, err := s.Revoked(ctx, q)
	require.NoError(t, err)

	require.NoError(t, rawCommand(srv.Addr(), "CLIENT", "PAUSE", "4000", "ALL"))
	start := time.Now()
	_, err = s.Revoked(ctx, auth.RevocationQuery{TokenID: uuid.NewString()})
	elapsed := time.Since(start)
	requireUnavailable(t, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, elapsed, 2*time.Second, "cut short by the timeout, not waiting out the 4 s pause")

	start = time.Now()
	err = s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: q.TokenID, At: time.Now(), ExpiresAt: time.Now().Add(time.Minute)})
	requireUnavailable(t, err)
	require.Less(t, time.Since(start), 2*time.Second)

	require.Eventually(t, func() bool {
		st, err := s.Revoked(ctx, auth.RevocationQuery{TokenID: uuid.NewString()})
		return err == nil && st == auth.RevocationStatus{}
	}, 10*time.Second, 20*time.Millisecond, "recovers after the pause")
	// The timed-out Revoke may or may not have reached Redis: the caller
	// retries it, which is safe as the script is idempotent.
	require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: q.TokenID, At: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}))
	st, err := s.Revoked(ctx, q)
	require.NoError(t, err)
	require.True(t, st.TokenRevoked)
}

// TestUnreachable: a Store over a client whose server has gone fails
// closed; the cause goes to the log, at most once a second, and not into
// the error.
func TestUnreachable(t *testing.T) {
	srv := startRedis(t)
	c := newClient(t, rueidis.ClientOption{}, srv.Addr())
	srv.Shutdown()
	var logs countingHandler
	s, err := New(c, WithTimeout(50*time.Millisecond), WithLogger(slog.New(&logs)))
	require.NoError(t, err)
	for range 3 {
		_, err = s.Revoked(context.Background(), auth.RevocationQuery{TokenID: "a", SessionID: "b", UserID: "c"})
		requireUnavailable(t, err)
		require.NotContains(t, err.Error(), srv.Addr())
		err = s.Revoke(context.Background(), auth.Revocation{Kind: auth.RevocationUser, ID: "c", At: time.Now(), ExpiresAt: time.Now().Add(time.Minute)})
		requireUnavailable(t, err)
	}
	require.Equal(t, int64(1), logs.n.Load(), "one record for a burst of failures")
	// The log has the client's own cause: the failed dial (refused, or
	// timed out when the 50 ms budget ends mid-dial), naming the address
	// that the error kept out, or the budget itself when it ended while
	// the client waited to dial again. Which one is a matter of timing.
	cause := logs.last.Load().(string)
	if cause != context.DeadlineExceeded.Error() {
		require.Contains(t, cause, "dial tcp "+srv.Addr(), "the log has the cause")
	}
}

// countingHandler counts records and keeps the last one's error attribute.
type countingHandler struct {
	n    atomic.Int64
	last atomic.Value
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.n.Add(1)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" {
			h.last.Store(a.Value.String())
		}
		return true
	})
	return nil
}

// TestUnavailableKeepsContextCause: when rueidis' own deadline fires a
// moment before the context's timer, ctx.Err() is still nil; the error
// must still match context.DeadlineExceeded (and a cancellation that
// rueidis reports, context.Canceled).
func TestUnavailableKeepsContextCause(t *testing.T) {
	s := &Store{log: slog.New(slog.DiscardHandler)}
	live, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		cause error
		want  error
	}{
		{"rueidis deadline, context timer not fired", live, context.DeadlineExceeded, context.DeadlineExceeded},
		{"network deadline of the connection", live, os.ErrDeadlineExceeded, context.DeadlineExceeded},
		{"cancellation seen by rueidis first", live, context.Canceled, context.Canceled},
		{"deadline passed, timer not fired", expiredDeadline{}, errors.New("read: connection reset"), context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.unavailable(tc.ctx, "redisstore.Revoked", tc.cause)
			requireUnavailable(t, err)
			require.ErrorIs(t, err, tc.want)
		})
	}
	err := s.unavailable(live, "redisstore.Revoked", errors.New("connection refused"))
	requireUnavailable(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "a refused connection is not a timeout")
	require.NotContains(t, err.Error(), "refused", "the cause is logged, not returned")
}

// expiredDeadline is a context whose deadline has passed but whose Err is
// still nil, as a context.WithDeadline is between its deadline and the
// firing of its timer.
type expiredDeadline struct{ context.Context }

func (expiredDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }
func (expiredDeadline) Done() <-chan struct{}       { return nil }
func (expiredDeadline) Err() error                  { return nil }
func (expiredDeadline) Value(any) any               { return nil }
