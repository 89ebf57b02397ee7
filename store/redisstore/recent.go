package redisstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/maestro-ml/auth"
)

// recent remembers the revocations this Store wrote, so that Revoked reads
// its own writes. Redis sends the invalidation of a cached key after the
// reply to the write that changed it, and over another connection of the
// same client it can reach the cache after Revoke has returned: without
// recent, a Revoked right after a Revoke sees the old answer about one time
// in five (measured on localhost). An entry is kept as long as a cached
// answer read before the write could still be served (cache TTL plus the
// call timeout for a read in flight), or until its ExpiresAt if earlier;
// since revocations only ever add (a user cutoff only grows), merging it
// into Redis' answer is always sound.
type recent struct {
	n  atomic.Int64 // entries; Revoked skips the map while it is zero
	m  sync.Map     // key -> recentEntry
	mu sync.Mutex   // serialises writers and sweeps
	// next is when add next sweeps expired entries; under mu.
	next time.Time
}

type recentEntry struct {
	ms    int64 // revocation time (the user cutoff), Unix ms
	until int64 // Unix ns after which the entry is ignored and swept
}

// add records key; ms is the revocation time, until the end of the entry.
func (r *recent) add(key string, ms int64, until, now time.Time, sweepEvery time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !now.Before(r.next) {
		r.m.Range(func(k, v any) bool {
			if v.(recentEntry).until <= now.UnixNano() {
				r.m.Delete(k)
				r.n.Add(-1)
			}
			return true
		})
		r.next = now.Add(sweepEvery)
	}
	e := recentEntry{ms: ms, until: until.UnixNano()}
	if v, ok := r.m.Load(key); ok {
		old := v.(recentEntry)
		e.ms, e.until = max(e.ms, old.ms), max(e.until, old.until)
	} else {
		r.n.Add(1)
	}
	r.m.Store(key, e)
}

// merge adds to st what this Store revoked among k's keys.
func (r *recent) merge(k *queryKeys, st *auth.RevocationStatus) {
	if r.n.Load() == 0 {
		return
	}
	now := time.Now().UnixNano()
	for i := range k.n {
		v, ok := r.m.Load(k.keys[i])
		if !ok {
			continue
		}
		e := v.(recentEntry)
		if e.until <= now {
			continue
		}
		switch k.kinds[i] {
		case auth.RevocationToken:
			st.TokenRevoked = true
		case auth.RevocationSession:
			st.SessionRevoked = true
		case auth.RevocationUser:
			if st.UserCutoff.IsZero() || e.ms > st.UserCutoff.UnixMilli() {
				st.UserCutoff = time.UnixMilli(e.ms).UTC()
			}
		}
	}
}
