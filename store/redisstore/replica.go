package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/redis/rueidis"
)

// DefaultReplicaLimit is the most entries WithReplica keeps by default.
const DefaultReplicaLimit = 1_000_000

// WithReplica keeps a complete copy of the live deny-list in the process,
// so that Revoked answers every query, a token's first as well as its
// repeats, without a network round trip.
//
// On every Redis primary the Store holds one dedicated connection with
// CLIENT TRACKING in broadcast mode on the entries' key prefix: Redis then
// pushes the name of every entry that is written, deleted or expires,
// whether or not this process ever read it. The Store loads the entries
// with SCAN after tracking is on (so nothing written during the load is
// missed), then re-reads each pushed key off the hot path. A key pushed
// and not yet re-read is answered from Redis, as is every query while the
// copy cannot be trusted: before the first load completes, after a
// tracking connection closes (a restart, a failover, a network error:
// what Redis wrote meanwhile was never pushed), while it reloads, or when
// it holds more than limit entries (zero: DefaultReplicaLimit). Those
// answers come from the client-side cached path, which fails closed when
// Redis cannot answer: the copy never says "not revoked" on its own when
// it may be stale.
//
// Entries are few: only revoked tokens and sessions within the access
// token's lifetime, and users' cutoffs. Each costs 100 to 170 bytes of
// heap (the ID and a map slot: BenchmarkReplicaMemory, and bench/cmd/scale
// for a loaded copy), so the default limit is about 170 MB; 10^6 entries
// load in about 8 s. A check answered by the copy costs 0.1 to 1.2 µs (the
// larger the map, the more cache misses) and no allocation, a first
// sighting included (BenchmarkRevokedReplica). It
// needs Redis 7.0 or later (PEXPIRETIME). Close stops the replica's
// goroutines and returns its connections.
func WithReplica(limit int) Option {
	return func(s *Store) {
		s.replicaOn = true
		s.replicaLimit = limit
	}
}

// ReplicaLoaded reports whether the Store answers checks from its replica
// now (WithReplica; false without one): loaded, tracking every primary,
// within its limit. For readiness probes and tests.
func (s *Store) ReplicaLoaded() bool { return s.rep != nil && s.rep.trusted.Load() }

// replicaEntry is one live deny-list entry: its value (a Unix time in ms)
// and its expiry (Unix ms; 0: none).
type replicaEntry struct {
	value, expires int64
}

// replica is the in-process copy of the deny-list (WithReplica).
type replica struct {
	s     *Store
	limit int

	trusted atomic.Bool
	// epoch numbers the loads: a tracking connection of an earlier load
	// closing (load drops them) is no reason to reload again.
	epoch atomic.Uint64

	// entries and pending are by kind (replicaKind) and by ID, so that a
	// check looks up the query's IDs without building key names.
	mu      sync.RWMutex
	entries [3]map[string]replicaEntry
	// pending holds the entries Redis pushed (or this Store wrote) and the
	// worker has not re-read, with a generation bumped by every push: a
	// re-read applies only if no newer push came while it was in flight.
	pending [3]map[string]uint64
	gen     uint64

	queue  chan string   // pushed keys, for the worker
	resync chan struct{} // a tracking connection failed: reload
	stop   chan struct{}
	wg     sync.WaitGroup

	trackersMu sync.Mutex
	trackers   []func() // cancels of the dedicated tracking connections
	masters    []string

	// topologyEvery is how often the set of primaries is checked;
	// topologyChecks counts the checks that found it unchanged.
	topologyEvery  time.Duration
	topologyChecks atomic.Int64
}

// topologyInterval is how often a replica checks the set of primaries.
const topologyInterval = 5 * time.Second

func newReplica(s *Store) *replica {
	limit := s.replicaLimit
	if limit <= 0 {
		limit = DefaultReplicaLimit
	}
	r := &replica{
		s: s, limit: limit, topologyEvery: s.replicaTopology,
		queue: make(chan string, 1<<16), resync: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	r.reset()
	r.wg.Add(2)
	go r.run()
	go r.work()
	return r
}

// close stops the goroutines and the tracking connections.
func (r *replica) close() {
	close(r.stop)
	r.wg.Wait()
	r.dropTrackers()
}

// Kinds of entries, indexing entries and pending.
const (
	replicaToken = iota
	replicaSession
	replicaUser
)

// reset empties the copy.
func (r *replica) reset() {
	for i := range r.entries {
		r.entries[i] = map[string]replicaEntry{}
		r.pending[i] = map[string]uint64{}
	}
}

// size is the number of entries; under mu.
func (r *replica) size() int {
	return len(r.entries[0]) + len(r.entries[1]) + len(r.entries[2])
}

// parse splits a key of the deny-list into its kind and ID.
func (r *replica) parse(key string) (int, string, bool) {
	for kind, prefix := range [3]string{r.s.tokenPrefix, r.s.sessionPrefix, r.s.userPrefix} {
		if len(key) > len(prefix)+1 && key[:len(prefix)] == prefix && key[len(key)-1] == '}' {
			return kind, key[len(prefix) : len(key)-1], true
		}
	}
	return 0, "", false
}

// lookup answers q from the copy at now, or reports false when the copy
// cannot answer it (untrusted, or an entry of q pending re-read). It
// builds no key and allocates nothing.
func (r *replica) lookup(q *auth.RevocationQuery, st *auth.RevocationStatus, now int64) bool {
	if !r.trusted.Load() {
		return false
	}
	ids := [3]string{q.TokenID, q.SessionID, q.UserID}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for kind, id := range ids {
		if id == "" {
			continue
		}
		if _, ok := r.pending[kind][id]; ok {
			return false
		}
		e, ok := r.entries[kind][id]
		if !ok || (e.expires != 0 && e.expires <= now) {
			continue
		}
		switch kind {
		case replicaToken:
			st.TokenRevoked = true
		case replicaSession:
			st.SessionRevoked = true
		case replicaUser:
			st.UserCutoff = time.UnixMilli(e.value).UTC()
		}
	}
	return r.trusted.Load() // a failure while reading: ask Redis
}

// wrote marks an entry this Store just wrote as pending, so that checks
// read it from Redis (and the Store's recent writes) until the worker has
// re-read it: a re-read in flight from an earlier push must not hide the
// write, even for a moment.
func (r *replica) wrote(key string) {
	r.invalidated([]string{key})
}

// invalidated records keys Redis pushed (on a connection's reader
// goroutine: it must not block) and queues them for the worker.
func (r *replica) invalidated(keys []string) {
	r.mu.Lock()
	for _, key := range keys {
		if kind, id, ok := r.parse(key); ok {
			r.gen++
			r.pending[kind][id] = r.gen
		}
	}
	r.mu.Unlock()
	for _, key := range keys {
		select {
		case r.queue <- key:
		default: // the worker is far behind: reload rather than lose a push
			r.distrust()
			return
		}
	}
}

// distrust stops answering from the copy and asks for a reload.
func (r *replica) distrust() {
	r.trusted.Store(false)
	select {
	case r.resync <- struct{}{}:
	default:
	}
}

// run loads the copy, then reloads it whenever it is distrusted or the
// set of primaries changes, until close.
func (r *replica) run() {
	defer r.wg.Done()
	backoff := 50 * time.Millisecond
	every := r.topologyEvery
	if every <= 0 {
		every = topologyInterval
	}
	topology := time.NewTicker(every)
	defer topology.Stop()
	for {
		err := r.load()
		if err == nil {
			backoff = 50 * time.Millisecond
			// Serve from the copy until a tracking connection fails or
			// the primaries change. (An unchanged topology must keep
			// waiting here: going round the outer loop would reload, and
			// a load longer than the interval would never be trusted.)
		wait:
			for {
				select {
				case <-r.stop:
					return
				case <-r.resync:
					break wait
				case <-topology.C:
					if !r.sameMasters() {
						break wait
					}
					r.topologyChecks.Add(1)
				}
			}
			r.trusted.Store(false)
			continue
		}
		r.s.log.Warn("redisstore: the revocation replica cannot load; checks read Redis", "error", err)
		select {
		case <-r.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// sameMasters reports whether the primaries are those the copy tracks.
func (r *replica) sameMasters() bool {
	ms, err := r.masterAddrs()
	if err != nil {
		return false
	}
	r.trackersMu.Lock()
	defer r.trackersMu.Unlock()
	if len(ms) != len(r.masters) {
		return false
	}
	for i := range ms {
		if ms[i] != r.masters[i] {
			return false
		}
	}
	return true
}

// masterAddrs returns the addresses of the primaries, sorted.
func (r *replica) masterAddrs() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []string
	for addr, n := range r.s.client.Nodes() {
		role, err := n.Do(ctx, n.B().Role().Build()).ToArray()
		if err != nil {
			return nil, err
		}
		if len(role) == 0 {
			return nil, errors.New("ROLE: empty answer")
		}
		if name, _ := role[0].ToString(); name == "master" {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	return out, nil
}

// load replaces the copy: tracking first, on every primary, then a full
// SCAN; the copy is trusted once both are done on all of them.
func (r *replica) load() error {
	r.trusted.Store(false)
	epoch := r.epoch.Add(1)
	r.dropTrackers()
	select { // a reload is starting: earlier requests are served by it
	case <-r.resync:
	default:
	}
	r.mu.Lock()
	r.reset()
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	masters, err := r.masterAddrs()
	if err != nil {
		return err
	}
	nodes := r.s.client.Nodes()
	prefix := r.s.prefix + "revoked:"
	for _, addr := range masters {
		n, ok := nodes[addr]
		if !ok {
			return errors.New("a primary left while loading")
		}
		dc, cancelDC := n.Dedicate()
		r.trackersMu.Lock()
		r.trackers = append(r.trackers, cancelDC)
		r.trackersMu.Unlock()
		// Pool connections track in OPTIN mode; broadcast mode needs
		// tracking switched off first.
		if err := dc.Do(ctx, dc.B().Arbitrary("CLIENT", "TRACKING", "OFF").Build()).Error(); err != nil {
			return err
		}
		closed := dc.SetOnInvalidations(func(ms []rueidis.RedisMessage) {
			if ms == nil { // the connection closed, or the database was flushed
				if r.epoch.Load() == epoch {
					r.distrust()
				}
				return
			}
			keys := make([]string, 0, len(ms))
			for _, m := range ms {
				if key, err := m.ToString(); err == nil {
					keys = append(keys, key)
				}
			}
			r.invalidated(keys)
		})
		if err := dc.Do(ctx, dc.B().Arbitrary("CLIENT", "TRACKING", "ON", "PREFIX", prefix, "BCAST").Build()).Error(); err != nil {
			return err
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			select {
			case <-closed:
				if r.epoch.Load() == epoch {
					r.distrust()
				}
			case <-r.stop:
			}
		}()
	}
	r.trackersMu.Lock()
	r.masters = masters
	r.trackersMu.Unlock()
	for _, addr := range masters {
		if err := r.scan(ctx, nodes[addr], prefix+"*"); err != nil {
			return err
		}
	}
	r.mu.RLock()
	size := r.size()
	r.mu.RUnlock()
	if size > r.limit {
		return errors.New("the deny-list holds more entries than the replica's limit (" + strconv.Itoa(r.limit) + ")")
	}
	r.trusted.Store(true)
	return nil
}

// scan copies the entries of one primary.
func (r *replica) scan(ctx context.Context, n rueidis.Client, match string) error {
	var cursor uint64
	for {
		e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match(match).Count(1000).Type("string").Build()).AsScanEntry()
		if err != nil {
			return err
		}
		if len(e.Elements) > 0 {
			if err := r.fetch(ctx, n, e.Elements); err != nil {
				return err
			}
		}
		if e.Cursor == 0 {
			return nil
		}
		cursor = e.Cursor
	}
}

// fetch reads keys' values and expiries through n and stores them, except
// keys pushed since (their own re-read is queued).
func (r *replica) fetch(ctx context.Context, n rueidis.Client, keys []string) error {
	cmds := make(rueidis.Commands, 0, 2*len(keys))
	for _, k := range keys {
		cmds = append(cmds, n.B().Get().Key(k).Build(), n.B().Pexpiretime().Key(k).Build())
	}
	res := n.DoMulti(ctx, cmds...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, k := range keys {
		kind, id, ok := r.parse(k)
		if !ok {
			continue
		}
		if _, ok := r.pending[kind][id]; ok {
			continue
		}
		e, present, err := entryOf(res[2*i], res[2*i+1])
		if err != nil {
			return err
		}
		if present {
			r.entries[kind][id] = e
		}
	}
	if r.size() > r.limit {
		return errors.New("the deny-list holds more entries than the replica's limit (" + strconv.Itoa(r.limit) + ")")
	}
	return nil
}

// entryOf decodes the answers to GET and PEXPIRETIME of one key.
func entryOf(get, exp rueidis.RedisResult) (replicaEntry, bool, error) {
	v, err := get.AsInt64()
	if rueidis.IsRedisNil(err) {
		return replicaEntry{}, false, nil
	}
	if err != nil {
		return replicaEntry{}, false, err
	}
	at, err := exp.AsInt64()
	if err != nil {
		return replicaEntry{}, false, err
	}
	if at < 0 { // -1: no expiry; -2: gone since the GET
		if at == -2 {
			return replicaEntry{}, false, nil
		}
		at = 0
	}
	return replicaEntry{value: v, expires: at}, true, nil
}

// work re-reads pushed keys until close.
func (r *replica) work() {
	defer r.wg.Done()
	ctx := context.Background()
	for {
		select {
		case <-r.stop:
			return
		case key := <-r.queue:
			kind, id, ok := r.parse(key)
			if !ok {
				continue
			}
			r.mu.RLock()
			gen, ok := r.pending[kind][id]
			r.mu.RUnlock()
			if !ok {
				continue // already applied by a later push's re-read
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c := r.s.client
			res := c.DoMulti(cctx, c.B().Get().Key(key).Build(), c.B().Pexpiretime().Key(key).Build())
			cancel()
			e, present, err := entryOf(res[0], res[1])
			if err != nil {
				r.distrust()
				continue
			}
			r.mu.Lock()
			if r.pending[kind][id] == gen {
				delete(r.pending[kind], id)
				if present {
					r.entries[kind][id] = e
				} else {
					delete(r.entries[kind], id)
				}
			}
			over := r.size() > r.limit
			r.mu.Unlock()
			if over {
				r.distrust()
			}
		}
	}
}

// dropTrackers returns the tracking connections.
func (r *replica) dropTrackers() {
	r.trackersMu.Lock()
	ts := r.trackers
	r.trackers = nil
	r.trackersMu.Unlock()
	for _, cancel := range ts {
		cancel()
	}
}
