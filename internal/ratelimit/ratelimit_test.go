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

// TestTableKeepsLockoutsUnderFlood: junk keys filling the table evict each
// other, not an account that is locked (tat far ahead).
func TestTableKeepsLockoutsUnderFlood(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	tbl := New(1024, func() time.Time { return now })
	for range 6 {
		tbl.Allow("login:acct:victim@example.com", 5, 15*time.Minute)
	}
	ok, _ := tbl.Allow("login:acct:victim@example.com", 5, 15*time.Minute)
	require.False(t, ok, "locked")
	for i := range 100_000 {
		tbl.Allow(fmt.Sprint("login:acct:junk", i, "@example.com"), 5, 15*time.Minute)
	}
	require.LessOrEqual(t, tbl.Len(), 1024)
	ok, _ = tbl.Allow("login:acct:victim@example.com", 5, 15*time.Minute)
	require.False(t, ok, "still locked after 100k junk keys")
}

// BenchmarkTableFull measures an insert into a full table: constant work,
// however large the table.
func BenchmarkTableFull(b *testing.B) {
	now := time.Unix(1_000_000, 0)
	tbl := New(1<<20, func() time.Time { return now })
	for i := range 1 << 20 {
		tbl.Allow(fmt.Sprint("ip:", i), 20, time.Minute)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		tbl.Allow(fmt.Sprint("new:", i), 20, time.Minute)
	}
}

func TestTableRefund(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	tbl := New(0, func() time.Time { return now })
	for range 5 {
		ok, _ := tbl.Allow("acct", 5, 15*time.Minute)
		require.True(t, ok)
	}
	ok, _ := tbl.Allow("acct", 5, 15*time.Minute)
	require.False(t, ok, "burst spent")

	tbl.Refund("acct", 5, 15*time.Minute)
	ok, _ = tbl.Allow("acct", 5, 15*time.Minute)
	require.True(t, ok, "a refunded attempt can be made again")
	ok, _ = tbl.Allow("acct", 5, 15*time.Minute)
	require.False(t, ok, "but only one")

	for range 10 {
		tbl.Refund("acct", 5, 15*time.Minute)
	}
	require.Equal(t, 0, tbl.Len(), "refunding past empty drops the key")
	tbl.Refund("other", 5, 15*time.Minute)
	require.Equal(t, 0, tbl.Len(), "a missing key is not created")
	for range 5 {
		ok, _ := tbl.Allow("acct", 5, 15*time.Minute)
		require.True(t, ok)
	}
	ok, _ = tbl.Allow("acct", 5, 15*time.Minute)
	require.False(t, ok, "over-refunding grants no more than a fresh key")
}
