package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// TestCluster runs the suites against a 3-primary Redis Cluster that it
// starts (and stops) itself: the RevocationStore contract, the
// Authenticator flows, propagation between two clients, and a query whose
// three keys live on three different nodes.
func TestCluster(t *testing.T) {
	addrs := startCluster(t)
	client := newClient(t, rueidis.ClientOption{ShuffleInit: true}, addrs...)
	require.Equal(t, rueidis.ClientModeCluster, client.Mode())
	s := newStore(t, client)
	require.False(t, s.pinSlot, "a cluster client routes each key by its own slot")

	t.Run("Check", func(t *testing.T) { require.NoError(t, s.Check(context.Background()), "every node") })
	t.Run("RevocationStore", func(t *testing.T) { authtest.TestRevocationStore(t, s) })
	t.Run("Limiter", func(t *testing.T) { authtest.TestLimiter(t, s) })
	t.Run("Flows", func(t *testing.T) {
		mem := memstore.New()
		t.Cleanup(func() { _ = mem.Close() })
		authtest.TestFlows(t, authtest.Stores{Users: mem, Tenants: mem, Sessions: mem, Revocations: s})
	})
	t.Run("CrossSlot", func(t *testing.T) { testCrossSlot(t, s, addrs) })
	t.Run("Propagation", func(t *testing.T) {
		other := newClient(t, rueidis.ClientOption{}, addrs...)
		p := propagation(t, client, other, 1000, nil)
		require.Len(t, p.total, 1000)
		p.log(t, "3-primary cluster")
	})
}

// owner returns the address of the cluster node that serves key: the
// others answer EXISTS with a MOVED redirection.
func owner(t testing.TB, addrs []string, key string) string {
	t.Helper()
	var found string
	for _, a := range addrs {
		_, err := rawCommandString(a, "EXISTS", key)
		if err == nil {
			require.Empty(t, found, "two nodes serve %s", key)
			found = a
		} else {
			require.True(t, strings.HasPrefix(err.Error(), "MOVED "), "unexpected reply: %v", err)
		}
	}
	require.NotEmpty(t, found, "no node serves %s", key)
	return found
}

// testCrossSlot checks queries whose token, session and user keys hash to
// three slots on three different nodes: one Revoked call still answers
// all three, from Redis first and then from the client-side cache, and
// sees each revocation.
func testCrossSlot(t *testing.T, s *Store, addrs []string) {
	ctx := context.Background()
	var q auth.RevocationQuery
	var k queryKeys
	for range 1000 {
		q = auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
		k = queryKeys{}
		s.queryKeys(&q, &k)
		nodes := map[string]bool{}
		for _, key := range k.keys {
			nodes[owner(t, addrs, key)] = true
		}
		if len(nodes) == 3 {
			break
		}
	}
	slots := map[uint16]bool{}
	nodes := map[string]bool{}
	for _, key := range k.keys {
		cmd := s.client.B().Get().Key(key).Build()
		slots[cmd.Slot()] = true
		nodes[owner(t, addrs, key)] = true
	}
	require.Len(t, slots, 3, "three slots")
	require.Len(t, nodes, 3, "three nodes")

	want := auth.RevocationStatus{}
	at := time.Now().UTC().Truncate(time.Millisecond)
	for _, r := range []auth.Revocation{
		{},
		{Kind: auth.RevocationSession, ID: q.SessionID, At: at, ExpiresAt: at.Add(time.Hour)},
		{Kind: auth.RevocationUser, ID: q.UserID, At: at, ExpiresAt: at.Add(time.Hour)},
		{Kind: auth.RevocationToken, ID: q.TokenID, At: at, ExpiresAt: at.Add(time.Hour)},
	} {
		switch r.Kind {
		case auth.RevocationSession:
			want.SessionRevoked = true
		case auth.RevocationUser:
			want.UserCutoff = at
		case auth.RevocationToken:
			want.TokenRevoked = true
		}
		if r.Kind != 0 {
			require.NoError(t, s.Revoke(ctx, r))
		}
		st, err := s.Revoked(ctx, q)
		require.NoError(t, err)
		require.Equal(t, want, st)
		require.Eventually(t, func() bool { return cached(t, s, q) }, time.Second, time.Millisecond,
			"all three answers are cached, across nodes")
		st, err = s.Revoked(ctx, q)
		require.NoError(t, err)
		require.Equal(t, want, st, "from the cache")
	}
	// Each key lives on its node only.
	for _, key := range k.keys {
		n, err := rawCommandString(owner(t, addrs, key), "EXISTS", key)
		require.NoError(t, err)
		require.Equal(t, "1", n)
	}
}
