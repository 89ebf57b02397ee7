// Package ratelimit implements the generic cell rate algorithm (GCRA) over
// an in-memory table, for the default in-process limiter and memstore.
package ratelimit

import (
	"sync"
	"time"
)

// Decide applies GCRA for one attempt at now, given the key's theoretical
// arrival time tat (zero if none), a burst and the period over which burst
// attempts are replenished. It returns whether the attempt is allowed, the
// new tat to store (unchanged when refused) and, when refused, how long
// until an attempt would be allowed.
func Decide(now, tat time.Time, burst int, period time.Duration) (ok bool, newTAT time.Time, retryAfter time.Duration) {
	interval := period / time.Duration(burst)
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	allowAt := next.Add(-period)
	if now.Before(allowAt) {
		return false, tat, allowAt.Sub(now)
	}
	return true, next, 0
}

// Table is a concurrency-safe in-memory GCRA table with a bounded number of
// keys. Entries whose tat has passed are equivalent to absent and are swept
// lazily; when the table is full after a sweep, arbitrary entries are
// dropped (limits weaken, memory stays bounded).
type Table struct {
	mu      sync.Mutex
	tats    map[string]time.Time
	max     int
	ops     int
	nowFunc func() time.Time
}

// New returns a table holding at most maxKeys keys (at least 1024).
func New(maxKeys int, now func() time.Time) *Table {
	if now == nil {
		now = time.Now
	}
	return &Table{tats: map[string]time.Time{}, max: max(maxKeys, 1024), nowFunc: now}
}

// Allow counts one attempt for key; see Decide.
func (t *Table) Allow(key string, burst int, period time.Duration) (bool, time.Duration) {
	now := t.nowFunc()
	t.mu.Lock()
	defer t.mu.Unlock()
	ok, tat, retry := Decide(now, t.tats[key], burst, period)
	if ok {
		if _, exists := t.tats[key]; !exists && len(t.tats) >= t.max {
			t.sweepLocked(now)
		}
		t.tats[key] = tat
	}
	if t.ops++; t.ops >= 4096 {
		t.ops = 0
		t.sweepLocked(now)
	}
	return ok, retry
}

// Reset forgets key.
func (t *Table) Reset(key string) {
	t.mu.Lock()
	delete(t.tats, key)
	t.mu.Unlock()
}

// Len returns the number of keys held.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.tats)
}

func (t *Table) sweepLocked(now time.Time) {
	for k, tat := range t.tats {
		if !tat.After(now) {
			delete(t.tats, k)
		}
	}
	for k := range t.tats {
		if len(t.tats) < t.max {
			break
		}
		delete(t.tats, k)
	}
}
