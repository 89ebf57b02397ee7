package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// replicaStore returns a Store with a replica over c (prefix unique to the
// test), closed at cleanup, once the replica has loaded.
func replicaStore(t *testing.T, c rueidis.Client, prefix string) *Store {
	t.Helper()
	s, err := New(c, WithPrefix(prefix), WithReplica(0))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	waitTrusted(t, s)
	return s
}

func waitTrusted(t testing.TB, s *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !s.rep.trusted.Load() {
		require.True(t, time.Now().Before(deadline), "the replica did not load")
		time.Sleep(5 * time.Millisecond)
	}
}

// fromReplica reports whether the replica alone answers q, and its answer.
func fromReplica(s *Store, q auth.RevocationQuery) (auth.RevocationStatus, bool) {
	var st auth.RevocationStatus
	ok := s.rep.lookup(&q, &st, time.Now().UnixMilli())
	return st, ok
}

// testReplica runs the replica's checks over client (standalone or
// Cluster); other is a second client, standing for another instance.
func testReplica(t *testing.T, client, other rueidis.Client) {
	ctx := context.Background()
	writer := newStore(t, other)
	// Entries written before the replica starts are loaded by its SCAN.
	exp := time.Now().Add(time.Hour)
	require.NoError(t, writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: "before", At: time.Now(), ExpiresAt: exp}))
	cut := time.Now().Truncate(time.Millisecond)
	require.NoError(t, writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: "u-before", At: cut, ExpiresAt: exp}))
	s := replicaStore(t, client, writer.prefix)

	st, ok := fromReplica(s, auth.RevocationQuery{TokenID: "before", SessionID: "s-none", UserID: "u-before"})
	require.True(t, ok, "the loaded replica answers")
	require.True(t, st.TokenRevoked)
	require.False(t, st.SessionRevoked)
	require.True(t, cut.Equal(st.UserCutoff))
	st, ok = fromReplica(s, auth.RevocationQuery{TokenID: "never-seen", UserID: "nobody"})
	require.True(t, ok, "a token never seen is answered too: no round trip for a first sighting")
	require.Equal(t, auth.RevocationStatus{}, st)

	// Another instance's revocation arrives by push, never read before.
	require.NoError(t, writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationSession, ID: "later", At: time.Now(), ExpiresAt: exp}))
	require.Eventually(t, func() bool {
		st, ok := fromReplica(s, auth.RevocationQuery{SessionID: "later"})
		return ok && st.SessionRevoked
	}, 5*time.Second, time.Millisecond, "a revocation by another instance reaches the replica")
	// Revoked answers it, from the replica or Redis, never "not revoked".
	got, err := s.Revoked(ctx, auth.RevocationQuery{SessionID: "later"})
	require.NoError(t, err)
	require.True(t, got.SessionRevoked)

	// An entry that expires on the server leaves the replica.
	require.NoError(t, writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: "short", At: time.Now(), ExpiresAt: time.Now().Add(300 * time.Millisecond)}))
	require.Eventually(t, func() bool {
		st, ok := fromReplica(s, auth.RevocationQuery{TokenID: "short"})
		return ok && st.TokenRevoked
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		st, ok := fromReplica(s, auth.RevocationQuery{TokenID: "short"})
		return ok && !st.TokenRevoked
	}, 5*time.Second, 5*time.Millisecond)

	// The acceptance suites pass with the replica on.
	t.Run("RevocationStore", func(t *testing.T) { authtest.TestRevocationStore(t, replicaStore(t, client, randomPrefix(t))) })
	t.Run("Flows", func(t *testing.T) {
		mem := memstore.New()
		t.Cleanup(func() { _ = mem.Close() })
		authtest.TestFlows(t, authtest.Stores{Users: mem, Tenants: mem, Sessions: mem, Revocations: replicaStore(t, client, randomPrefix(t))})
	})
}

func TestReplica(t *testing.T) {
	client := newClient(t, rueidis.ClientOption{}, sharedAddr())
	other := newClient(t, rueidis.ClientOption{}, sharedAddr())
	testReplica(t, client, other)
}

func TestReplicaCluster(t *testing.T) {
	addrs := startCluster(t)
	client := newClient(t, rueidis.ClientOption{ShuffleInit: true}, addrs...)
	other := newClient(t, rueidis.ClientOption{}, addrs...)
	testReplica(t, client, other)
}

// TestReplicaReconnects: when the tracking connection is killed, what
// Redis writes meanwhile is never pushed, so the replica stops answering
// (queries read Redis) and reloads; a revocation made in between is in
// the reloaded copy. With Redis stopped, checks fail closed.
func TestReplicaReconnects(t *testing.T) {
	ctx := context.Background()
	srv := startRedis(t)
	client := newClient(t, rueidis.ClientOption{}, srv.Addr())
	other := newClient(t, rueidis.ClientOption{}, srv.Addr())
	writer := newStore(t, other)
	s := replicaStore(t, client, writer.prefix)

	require.NoError(t, rawCommand(srv.Addr(), "CLIENT", "KILL", "TYPE", "normal"))
	require.NoError(t, writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: "during", At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	got, err := s.Revoked(ctx, auth.RevocationQuery{TokenID: "during"})
	require.NoError(t, err)
	require.True(t, got.TokenRevoked, "whatever the replica's state, the answer is right")
	require.Eventually(t, func() bool {
		st, ok := fromReplica(s, auth.RevocationQuery{TokenID: "during"})
		return ok && st.TokenRevoked
	}, 10*time.Second, 5*time.Millisecond, "the replica reloads after its connection was killed")

	srv.stop()
	require.Eventually(t, func() bool { return !s.rep.trusted.Load() }, 10*time.Second, 5*time.Millisecond, "a lost connection distrusts the replica")
	// A key rueidis' own cache does not hold must be read from Redis: down,
	// the check fails closed instead of trusting the stale copy.
	_, err = s.Revoked(ctx, auth.RevocationQuery{TokenID: "never", SessionID: "never-either"})
	requireUnavailable(t, err)
}

// TestReplicaLimit: past its limit the replica does not answer; queries
// read Redis.
func TestReplicaLimit(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, rueidis.ClientOption{}, sharedAddr())
	writer := newStore(t, client)
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: id, At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	}
	s, err := New(client, WithPrefix(writer.prefix), WithReplica(2))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	// Each load bumps the epoch: two mean the first, over the limit,
	// failed and was retried.
	require.Eventually(t, func() bool { return s.rep.epoch.Load() >= 2 }, 10*time.Second, time.Millisecond)
	require.False(t, s.rep.trusted.Load())
	got, err := s.Revoked(ctx, auth.RevocationQuery{TokenID: "c"})
	require.NoError(t, err)
	require.True(t, got.TokenRevoked)
}

// replicaPropagation measures, per round, how long a revocation written
// through one client takes to be answered by another Store's replica
// (from the copy itself, not the network fallback).
func replicaPropagation(t testing.TB, writerClient, checkerClient rueidis.Client, rounds int, loop func() bool) propagationStats {
	t.Helper()
	writer := newStore(t, writerClient)
	checker, err := New(checkerClient, WithPrefix(writer.prefix), WithReplica(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = checker.Close() })
	waitTrusted(t, checker)
	return propagate(t, writer, rounds, loop, nil, func(q auth.RevocationQuery, at time.Time) bool {
		var st auth.RevocationStatus
		return checker.rep.lookup(&q, &st, time.Now().UnixMilli()) && st.Revokes(at)
	})
}

// TestReplicaPropagation: every revocation reaches another instance's
// replica, single node and Cluster (figures logged; the bound is only a
// guard, BenchmarkReplicaPropagation measures).
func TestReplicaPropagation(t *testing.T) {
	t.Run("single node", func(t *testing.T) {
		w := newClient(t, rueidis.ClientOption{}, sharedAddr())
		c := newClient(t, rueidis.ClientOption{}, sharedAddr())
		p := replicaPropagation(t, w, c, 300, nil)
		require.Len(t, p.total, 300)
		p.log(t, "replica, single node")
	})
	t.Run("cluster", func(t *testing.T) {
		addrs := startCluster(t)
		w := newClient(t, rueidis.ClientOption{}, addrs...)
		c := newClient(t, rueidis.ClientOption{ShuffleInit: true}, addrs...)
		p := replicaPropagation(t, w, c, 300, nil)
		require.Len(t, p.total, 300)
		p.log(t, "replica, 3-primary cluster")
	})
}

// BenchmarkReplicaPropagation reports p50 and p99 from a Revoke on one
// client to the entry in another Store's replica (shared Redis).
func BenchmarkReplicaPropagation(b *testing.B) {
	w := newClient(b, rueidis.ClientOption{}, sharedAddr())
	c := newClient(b, rueidis.ClientOption{}, sharedAddr())
	replicaPropagation(b, w, c, 0, b.Loop).report(b)
}

// withTopologyEvery makes the replica check the primaries every d.
func withTopologyEvery(d time.Duration) Option {
	return func(s *Store) { s.replicaTopology = d }
}

// TestReplicaStaysLoaded: a replica whose primaries do not change serves
// from its copy across topology checks and does not reload. (It reloaded
// at every check, every 5 s, and a copy taking longer than that to load,
// about 10^6 entries, was never trusted: every check read Redis.)
func TestReplicaStaysLoaded(t *testing.T) {
	client := newClient(t, rueidis.ClientOption{}, sharedAddr())
	writer := newStore(t, client)
	require.NoError(t, writer.Revoke(context.Background(), auth.Revocation{Kind: auth.RevocationToken, ID: "a",
		At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	s, err := New(client, WithPrefix(writer.prefix), WithReplica(0), withTopologyEvery(10*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	waitTrusted(t, s)
	require.Eventually(t, func() bool { return s.rep.topologyChecks.Load() >= 5 }, 10*time.Second, time.Millisecond,
		"the topology is checked")
	require.Equal(t, uint64(1), s.rep.epoch.Load(), "one load, however many checks")
	require.True(t, s.ReplicaLoaded())
}
