package redisstore

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// Benchmarks run against the shared Redis (AUTH_TEST_REDIS_ADDR), with a
// unique key prefix:
//
//	go test -run '^$' -bench . -benchmem ./store/redisstore/

func benchStore(b *testing.B) *Store {
	b.Helper()
	return newStore(b, newClient(b, rueidis.ClientOption{}, sharedAddr()))
}

func newQuery() auth.RevocationQuery {
	return auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
}

// BenchmarkRevokedCached is the hot path: the same query again and again,
// answered from the client-side cache without a network round trip.
func BenchmarkRevokedCached(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	q := newQuery()
	_, err := s.Revoked(ctx, q)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Revoked(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRevokedCachedAfterRevokes is the hot path while the Store
// remembers its own recent revocations (read-your-writes), as it does for
// the cache TTL after any Revoke.
func BenchmarkRevokedCachedAfterRevokes(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for range 1000 {
		require.NoError(b, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: uuid.NewString(), At: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}))
	}
	q := newQuery()
	_, err := s.Revoked(ctx, q)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Revoked(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRevokedCachedParallel is the hot path under concurrency; each
// goroutine checks its own token of a shared session and user.
func BenchmarkRevokedCachedParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	base := newQuery()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		q := base
		q.TokenID = uuid.NewString()
		_, err := s.Revoked(ctx, q)
		require.NoError(b, err)
		for pb.Next() {
			if _, err := s.Revoked(ctx, q); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRevokedMiss checks new IDs every time: three keys read from Redis.
func BenchmarkRevokedMiss(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	qs := make([]auth.RevocationQuery, 0, 1<<16)
	for range cap(qs) {
		qs = append(qs, newQuery())
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Revoked(ctx, qs[i%len(qs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRevokedMissParallel is the miss path under concurrency, where
// rueidis pipelines the concurrent reads.
func BenchmarkRevokedMissParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		q := newQuery()
		for pb.Next() {
			q.TokenID = strconv.FormatInt(n.Add(1), 36) + q.SessionID // new token, same session and user
			if _, err := s.Revoked(ctx, q); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRevoke writes token revocations.
func BenchmarkRevoke(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: uuid.NewString(), At: time.Now(), ExpiresAt: exp}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRevokeParallel writes token revocations concurrently.
func BenchmarkRevokeParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: uuid.NewString(), At: time.Now(), ExpiresAt: exp}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCluster runs the hot path, the miss path, Revoke and
// propagation against a 3-primary cluster it starts itself.
func BenchmarkCluster(b *testing.B) {
	addrs := startCluster(b)
	client := newClient(b, rueidis.ClientOption{}, addrs...)
	s := newStore(b, client)
	ctx := context.Background()
	b.Run("RevokedCached", func(b *testing.B) {
		q := newQuery()
		_, err := s.Revoked(ctx, q)
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Revoked(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RevokedCachedParallel", func(b *testing.B) {
		base := newQuery()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			q := base
			q.TokenID = uuid.NewString()
			for pb.Next() {
				if _, err := s.Revoked(ctx, q); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("RevokedMiss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Revoked(ctx, newQuery()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Revoke", func(b *testing.B) {
		exp := time.Now().Add(time.Minute)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: uuid.NewString(), At: time.Now(), ExpiresAt: exp}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Propagation", func(b *testing.B) {
		other := newClient(b, rueidis.ClientOption{}, addrs...)
		p := propagation(b, client, other, 0, b.Loop)
		slices.Sort(p.total)
		slices.Sort(p.after)
		b.ReportMetric(float64(percentile(p.total, 0.50).Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(percentile(p.total, 0.99).Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(percentile(p.after, 0.50).Nanoseconds()), "p50-after-ns")
		b.ReportMetric(float64(percentile(p.after, 0.99).Nanoseconds()), "p99-after-ns")
	})
}

// BenchmarkRevokedReplica is a first-seen query (a new token every time)
// answered by WithReplica's in-process copy: no round trip even for a
// token no instance has checked before.
func BenchmarkRevokedReplica(b *testing.B) {
	c := newClient(b, rueidis.ClientOption{}, sharedAddr())
	s, err := New(c, WithPrefix(randomPrefix(b)), WithReplica(0))
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !s.rep.trusted.Load() {
		require.True(b, time.Now().Before(deadline))
		time.Sleep(time.Millisecond)
	}
	ctx := context.Background()
	qs := make([]auth.RevocationQuery, 1024)
	for i := range qs {
		qs[i] = newQuery()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Revoked(ctx, qs[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkReplicaMemory reports the heap bytes one replica entry costs
// (a session's UUID and its map slot), by loading 100,000 of them.
func BenchmarkReplicaMemory(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := &replica{}
		r.reset()
		for range n {
			r.entries[replicaSession][uuid.NewString()] = replicaEntry{value: time.Now().UnixMilli(), expires: time.Now().Add(time.Hour).UnixMilli()}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/entry")
		runtime.KeepAlive(r)
	}
}
