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
// independent, Reset clears a key, and concurrent attempts never exceed
// the burst (the check and the count are one atomic step).
func TestLimiter(t *testing.T, l auth.Limiter) {
	ctx := context.Background()
	lim := auth.Limit{Burst: 5, Period: time.Hour}

	t.Run("BurstThenRefuse", func(t *testing.T) {
		key := "test:" + newID()
		for i := range lim.Burst {
			ok, _, err := l.Allow(ctx, key, lim)
			require.NoError(t, err)
			require.True(t, ok, "attempt %d", i+1)
		}
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
