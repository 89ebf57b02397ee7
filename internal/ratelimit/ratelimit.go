// Package ratelimit implements the generic cell rate algorithm (GCRA) over
// an in-memory table, for the default in-process limiter and memstore.
package ratelimit

import (
	"crypto/sha256"
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

const (
	shards = 64
	// sample is how many entries an eviction or a background sweep step
	// looks at: constant work per call, never a scan of the table.
	sample = 16
)

// Table is a concurrency-safe in-memory GCRA table with a bounded number of
// keys, sharded so that concurrent flows rarely share a lock. Keys are kept
// as 16-byte SHA-256 digests, so their size and content cannot be used
// against the table. An entry whose tat has passed is equivalent to no
// entry: such entries are dropped as they are met. When a shard is full,
// the entry with the earliest tat among a small random sample is evicted:
// that is the entry closest to being forgotten anyway, while a locked-out
// account (tat far in the future) is the last to go.
type Table struct {
	shards  [shards]shard
	perMax  int
	nowFunc func() time.Time
}

type shard struct {
	mu  sync.Mutex
	m   map[[16]byte]int64 // digest -> tat, Unix ns
	ops int
}

// New returns a table holding about maxKeys keys at most (at least 1024).
func New(maxKeys int, now func() time.Time) *Table {
	if now == nil {
		now = time.Now
	}
	t := &Table{perMax: max(maxKeys, 1024) / shards, nowFunc: now}
	for i := range t.shards {
		t.shards[i].m = map[[16]byte]int64{}
	}
	return t
}

func (t *Table) locate(key string) (*shard, [16]byte) {
	sum := sha256.Sum256([]byte(key))
	var d [16]byte
	copy(d[:], sum[:16])
	return &t.shards[d[0]%shards], d
}

// Allow counts one attempt for key; see Decide.
func (t *Table) Allow(key string, burst int, period time.Duration) (bool, time.Duration) {
	now := t.nowFunc()
	s, d := t.locate(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	var tat time.Time
	cur, exists := s.m[d]
	if exists {
		tat = time.Unix(0, cur)
	}
	ok, next, retry := Decide(now, tat, burst, period)
	if ok {
		if !exists && len(s.m) >= t.perMax {
			s.evict(now)
		}
		s.m[d] = next.UnixNano()
	}
	if s.ops++; s.ops%256 == 0 {
		s.sweepStep(now)
	}
	return ok, retry
}

// evict removes the expired entries of a sample or, if none, the sampled
// entry with the earliest tat.
func (s *shard) evict(now time.Time) {
	var victim [16]byte
	oldest, n, freed := int64(0), 0, false
	for k, tat := range s.m {
		if tat <= now.UnixNano() {
			delete(s.m, k)
			freed = true
		} else if n == 0 || tat < oldest {
			victim, oldest = k, tat
		}
		if n++; n >= sample {
			break
		}
	}
	if !freed && n > 0 {
		delete(s.m, victim)
	}
}

// sweepStep drops the expired entries of one random sample.
func (s *shard) sweepStep(now time.Time) {
	n := 0
	for k, tat := range s.m {
		if tat <= now.UnixNano() {
			delete(s.m, k)
		}
		if n++; n >= sample {
			return
		}
	}
}

// Refund gives back one attempt counted for key under burst and period:
// the key's tat moves back by one emission interval, and the entry is
// dropped when that leaves it in the past. A missing key is left alone, so
// a refund never grants more than an untouched key has.
func (t *Table) Refund(key string, burst int, period time.Duration) {
	if burst <= 0 || period <= 0 {
		return
	}
	now := t.nowFunc().UnixNano()
	s, d := t.locate(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.m[d]
	if !ok {
		return
	}
	if tat -= int64(period / time.Duration(burst)); tat <= now {
		delete(s.m, d)
		return
	}
	s.m[d] = tat
}

// Reset forgets key.
func (t *Table) Reset(key string) {
	s, d := t.locate(key)
	s.mu.Lock()
	delete(s.m, d)
	s.mu.Unlock()
}

// Len returns the number of keys held.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
