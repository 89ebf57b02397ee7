package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDecideBurstThenRate(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var tat time.Time
	for i := range 5 {
		ok, next, _ := Decide(now, tat, 5, 15*time.Minute)
		require.True(t, ok, "attempt %d of the burst", i+1)
		tat = next
	}
	ok, _, retry := Decide(now, tat, 5, 15*time.Minute)
	require.False(t, ok)
	require.Equal(t, 3*time.Minute, retry, "then one attempt per period/burst")
	ok, _, _ = Decide(now.Add(3*time.Minute), tat, 5, 15*time.Minute)
	require.True(t, ok)
}

func TestTableAtMostLimitPerHour(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	tbl := New(0, func() time.Time { return now })
	allowed := 0
	for range 3600 { // one attempt per second for an hour
		if ok, _ := tbl.Allow("acct", 5, 15*time.Minute); ok {
			allowed++
		}
		now = now.Add(time.Second)
	}
	require.LessOrEqual(t, allowed, 25)
	require.GreaterOrEqual(t, allowed, 24)
	tbl.Reset("acct")
	ok, _ := tbl.Allow("acct", 5, 15*time.Minute)
	require.True(t, ok, "reset clears the key")
}

func TestTableBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	tbl := New(1024, func() time.Time { return now })
	for i := range 10_000 {
		tbl.Allow(fmt.Sprint("ip:", i), 10, time.Hour)
	}
	require.LessOrEqual(t, tbl.Len(), 1024)
}
