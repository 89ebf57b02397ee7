package redisstore

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// propagationBound is how soon a revocation made through one client must
// be seen by another that had the entry cached: generous for CI, where
// the measured p99 is well under a millisecond.
const propagationBound = 100 * time.Millisecond

// propagationStats are the measurements of propagation, one per round.
type propagationStats struct {
	// total is from the start of the writer's Revoke to the checker seeing
	// the revocation; it includes the write's own round trip.
	total []time.Duration
	// after is from the writer's Revoke returning to the checker seeing
	// the revocation: the delay propagation adds to the write itself. The
	// invalidation leaves Redis when the write is applied, before the
	// writer gets its reply, so this is mostly zero.
	after []time.Duration
}

// propagation measures, over independent clients, how long a revocation
// takes to reach a checker that has the entry cached as not revoked: the
// writer revokes, then the checker checks again and again until it sees
// the revocation, which must happen within propagationBound of Revoke
// returning. Each round uses fresh IDs, cached by the checker first, and
// revokes the token, the session or the user in turn.
func propagation(t testing.TB, writerClient, checkerClient rueidis.Client, rounds int, loop func() bool) (p propagationStats) {
	t.Helper()
	ctx := context.Background()
	checker := newStore(t, checkerClient)
	writer, err := New(writerClient, WithPrefix(checker.prefix))
	require.NoError(t, err)
	prime := func(i int, q auth.RevocationQuery) {
		st, err := checker.Revoked(ctx, q)
		require.NoError(t, err)
		require.Equal(t, auth.RevocationStatus{}, st)
		require.True(t, cached(t, checker, q), "round %d: the checker has the entries cached", i)
	}
	seen := func(q auth.RevocationQuery, at time.Time) bool {
		st, err := checker.Revoked(ctx, q)
		require.NoError(t, err)
		return st.Revokes(at)
	}
	return propagate(t, writer, rounds, loop, prime, seen)
}

// propagate runs the rounds of a propagation measurement: prime (if set)
// readies the checker for a query of fresh IDs, the writer revokes the
// token, the session or the user in turn, and seen is polled until it
// reports the revocation, which must happen within propagationBound of
// Revoke returning.
func propagate(t testing.TB, writer *Store, rounds int, loop func() bool, prime func(int, auth.RevocationQuery), seen func(auth.RevocationQuery, time.Time) bool) (p propagationStats) {
	t.Helper()
	ctx := context.Background()
	for i := 0; rounds == 0 || i < rounds; i++ {
		if loop != nil && !loop() {
			break
		}
		q := auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
		if prime != nil {
			prime(i, q)
		}
		at := time.Now().Truncate(time.Millisecond)
		r := auth.Revocation{At: at, ExpiresAt: at.Add(time.Minute)}
		switch i % 3 {
		case 0:
			r.Kind, r.ID = auth.RevocationToken, q.TokenID
		case 1:
			r.Kind, r.ID = auth.RevocationSession, q.SessionID
		case 2:
			r.Kind, r.ID = auth.RevocationUser, q.UserID
		}
		start := time.Now()
		require.NoError(t, writer.Revoke(ctx, r))
		written := time.Now()
		for polls := 0; ; polls++ {
			if seen(q, at) {
				now := time.Now()
				p.total = append(p.total, now.Sub(start))
				p.after = append(p.after, now.Sub(written))
				break
			}
			if d := time.Since(written); d > propagationBound {
				t.Fatalf("round %d: %s revocation not seen by the checker %v after Revoke returned", i, r.Kind, d)
			}
			// Spin briefly, then sleep: a busy poller can starve the
			// client's reader goroutine (and Redis) of CPU on a small box.
			if polls < 100 {
				runtime.Gosched()
			} else {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	return p
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func (p propagationStats) log(t testing.TB, where string) {
	t.Helper()
	slices.Sort(p.total)
	slices.Sort(p.after)
	t.Logf("%s, %d rounds: revocation seen by the other client p50 %v, p99 %v, max %v after Revoke started; p50 %v, p99 %v, max %v after it returned",
		where, len(p.total),
		percentile(p.total, 0.50), percentile(p.total, 0.99), p.total[len(p.total)-1],
		percentile(p.after, 0.50), percentile(p.after, 0.99), p.after[len(p.after)-1])
}

// TestPropagation: on the shared Redis, two independent clients; the
// writer's revocations reach the checker's client-side cache within
// propagationBound, every round.
func TestPropagation(t *testing.T) {
	w := newClient(t, rueidis.ClientOption{}, sharedAddr())
	c := newClient(t, rueidis.ClientOption{}, sharedAddr())
	p := propagation(t, w, c, 1000, nil)
	require.Len(t, p.total, 1000)
	p.log(t, "single node")
}

// BenchmarkPropagation reports the p50 and p99 time from the start of a
// Revoke on one client to the revocation being seen through another
// client's cache (shared Redis), and the same from Revoke's return. One op
// is one round: cache, revoke, see.
func BenchmarkPropagation(b *testing.B) {
	w := newClient(b, rueidis.ClientOption{}, sharedAddr())
	c := newClient(b, rueidis.ClientOption{}, sharedAddr())
	propagation(b, w, c, 0, b.Loop).report(b)
}

// report reports p's percentiles as benchmark metrics.
func (p propagationStats) report(b *testing.B) {
	slices.Sort(p.total)
	slices.Sort(p.after)
	b.ReportMetric(float64(percentile(p.total, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(p.total, 0.99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(percentile(p.after, 0.50).Nanoseconds()), "p50-after-ns")
	b.ReportMetric(float64(percentile(p.after, 0.99).Nanoseconds()), "p99-after-ns")
}
