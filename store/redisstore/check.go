package redisstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Check verifies, on every node the client knows, that Redis keeps what the
// store writes: its maxmemory-policy must be noeviction. Under any other
// policy Redis may evict revocation entries (all of them carry a TTL, so the
// volatile-* policies, AWS ElastiCache's default among them, pick them
// first) and a revoked token would then read as "not revoked" with no
// error: a silent fail-open that no timeout can catch. Call it at start-up
// and refuse to serve on an error; it also fails when the policy cannot be
// read (INFO refused), so a deployment that knowingly accepts eviction must
// skip it explicitly. Errors wrap auth.ErrUnavailable when Redis cannot be
// reached. Persistence or replication matching the revocation
// requirements (revocations survive as long as Redis' data does) is the
// operator's to choose.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 4*s.timeout)
	defer cancel()
	nodes := s.client.Nodes()
	addrs := make([]string, 0, len(nodes))
	for a := range nodes {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		c := nodes[addr]
		info, err := c.Do(ctx, c.B().Info().Section("memory").Build()).ToString()
		if err != nil {
			return s.unavailable(ctx, "redisstore.Check", err)
		}
		policy := ""
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
				policy = v
			}
		}
		if policy != "noeviction" {
			return fmt.Errorf("redisstore: Redis at %s has maxmemory-policy %q, which can evict revocations and lockouts; set maxmemory-policy noeviction", addr, policy)
		}
	}
	return nil
}
