package authtest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// TestLimiter checks the Limiter contract: a burst is allowed and the next
// attempt refused with a retry delay of about Period/Burst, keys are
// independent, Reset clears a key, Refund gives back one attempt and never
// more than an unused key has, and concurrent attempts never exceed
// the burst (the check and the count are one atomic step).
func TestLimiter(t *testing.T, l auth.Limiter) {
	ctx := context.Background()
	lim := auth.Limit{Burst: 5, Period: time.Hour}
	spend := func(t *testing.T, key string, n int) {
		t.Helper()
		for i := range n {
			ok, _, err := l.Allow(ctx, key, lim)
			require.NoError(t, err)
			require.True(t, ok, "attempt %d", i+1)
		}
	}

	t.Run("BurstThenRefuse", func(t *testing.T) {
		key := "test:" + newID()
		spend(t, key, lim.Burst)
		ok, retry, err := l.Allow(ctx, key, lim)
		require.NoError(t, err)
		require.False(t, ok)
		require.InDelta(t, float64(12*time.Minute), float64(retry), float64(5*time.Second), "one attempt per Period/Burst")

		other := "test:" + newID()
		ok, _, err = l.Allow(ctx, other, lim)
		require.NoError(t, err)
		require.True(t, ok, "keys are independent")

		require.NoError(t, l.Reset(ctx, key))
		ok, _, err = l.Allow(ctx, key, lim)
		require.NoError(t, err)
		require.True(t, ok, "reset clears the key")
	})

	t.Run("Refund", func(t *testing.T) {
		key := "test:" + newID()
		spend(t, key, lim.Burst)
		require.NoError(t, l.Refund(ctx, key, lim))
		ok, _, err := l.Allow(ctx, key, lim)
		require.NoError(t, err)
		require.True(t, ok, "a refunded attempt can be made again")
		ok, _, err = l.Allow(ctx, key, lim)
		require.NoError(t, err)
		require.False(t, ok, "but only the one refunded")

		for range 2 * lim.Burst {
			require.NoError(t, l.Refund(ctx, key, lim))
		}
		missing := "test:" + newID()
		require.NoError(t, l.Refund(ctx, missing, lim), "refunding a missing key is a no-op")
		for _, k := range []string{key, missing} {
			spend(t, k, lim.Burst)
			ok, _, err := l.Allow(ctx, k, lim)
			require.NoError(t, err)
			require.False(t, ok, "refunds never grant more than an unused key has")
		}
	})

	t.Run("Refill", func(t *testing.T) {
		key := "test:" + newID()
		fast := auth.Limit{Burst: 2, Period: 400 * time.Millisecond}
		for range 2 {
			ok, _, err := l.Allow(ctx, key, fast)
			require.NoError(t, err)
			require.True(t, ok)
		}
		ok, retry, err := l.Allow(ctx, key, fast)
		require.NoError(t, err)
		require.False(t, ok)
		time.Sleep(retry + 50*time.Millisecond)
		ok, _, err = l.Allow(ctx, key, fast)
		require.NoError(t, err)
		require.True(t, ok, "allowed again after the retry delay")
	})

	t.Run("AtomicUnderConcurrency", func(t *testing.T) {
		key := "test:" + newID()
		var allowed atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 50 {
			wg.Go(func() {
				<-start
				ok, _, err := l.Allow(ctx, key, lim)
				require.NoError(t, err)
				if ok {
					allowed.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(lim.Burst), allowed.Load())
	})
}
