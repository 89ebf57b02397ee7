package auth

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"
)

// tokenCache remembers access tokens whose signature and claims were
// verified, keyed by the exact token string, so a repeat token skips the
// signature check (Envoy's jwt_authn keeps the same kind of cache). Whole
// strings cannot collide, and only correctly signed tokens ever become
// keys. An entry is only valid with the key set it was verified against,
// and exp is checked on every hit; revocation is never cached here.
// Memory is bounded by the entry count (each token at most MaxTokenBytes):
// each shard evicts its oldest insertion when full. Shards are chosen with
// a per-process random seed.
type tokenCache struct {
	seed   maphash.Seed
	shards [tokenCacheShards]tokenCacheShard
}

const tokenCacheShards = 16

type tokenCacheShard struct {
	mu      sync.RWMutex
	entries map[string]*tokenCacheEntry
	order   []string // insertion ring
	next    int
}

type tokenCacheEntry struct {
	ks     *KeySet
	claims Claims
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	per := max(1, size/tokenCacheShards)
	c := &tokenCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]*tokenCacheEntry, per)
		c.shards[i].order = make([]string, per)
	}
	return c
}

func (c *tokenCache) shard(token string) *tokenCacheShard {
	return &c.shards[maphash.String(c.seed, token)%tokenCacheShards]
}

// get returns a copy of the cached claims for token if they were verified
// with ks and have not expired at now (with skew).
func (c *tokenCache) get(ks *KeySet, token string, now time.Time, skew time.Duration) (*Claims, bool) {
	s := c.shard(token)
	s.mu.RLock()
	e, ok := s.entries[token]
	s.mu.RUnlock()
	if !ok || e.ks != ks || !now.Before(e.claims.ExpiresAt.Add(skew)) {
		return nil, false
	}
	cl := e.claims
	cl.Audience = slices.Clone(cl.Audience) // callers may not change the cached copy
	return &cl, true
}

func (c *tokenCache) put(ks *KeySet, token string, cl *Claims) {
	k := strings.Clone(token) // the key must not pin the caller's buffer
	s := c.shard(k)
	e := &tokenCacheEntry{ks: ks, claims: *cl}
	e.claims.Audience = slices.Clone(cl.Audience)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[k]; ok {
		s.entries[k] = e
		return
	}
	if len(s.entries) >= len(s.order) {
		delete(s.entries, s.order[s.next])
	}
	s.order[s.next] = k
	s.next = (s.next + 1) % len(s.order)
	s.entries[k] = e
}
