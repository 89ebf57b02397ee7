package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/internal/errs"
	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

var _ auth.RevocationStore = (*Store)(nil)

// Defaults of the options.
const (
	// DefaultPrefix starts every key the Store writes or reads.
	DefaultPrefix = "auth:"
	// DefaultCacheTTL is the longest a Revoked answer is served from the
	// client-side cache without asking Redis again. Invalidations pushed by
	// Redis, not this TTL, keep the cache correct; the TTL bounds staleness
	// only if an invalidation were ever lost while its connection stayed up,
	// at the cost of one read per key and connection every 30 seconds.
	DefaultCacheTTL = 30 * time.Second
	// DefaultTimeout bounds every call to Redis.
	DefaultTimeout = 250 * time.Millisecond
	// MaxIDBytes is the longest token, session or user ID accepted.
	MaxIDBytes = 256
)

// Option configures a Store; pass options to New.
type Option func(*Store)

// WithPrefix sets the prefix of every key. It must not contain '{' or '}':
// a Redis Cluster hash tag in the prefix would put every key in one slot.
// Default: DefaultPrefix ("auth:").
func WithPrefix(prefix string) Option { return func(s *Store) { s.prefix = prefix } }

// WithCacheTTL sets the longest time a Revoked answer is served from
// rueidis' client-side cache; it must be positive. Entries also never
// outlive the key's remaining TTL in Redis, and an invalidation from Redis
// or a lost connection drops them at once. To disable client-side caching,
// create the client with rueidis.ClientOption.DisableCache. Default:
// DefaultCacheTTL (30 seconds).
func WithCacheTTL(d time.Duration) Option { return func(s *Store) { s.cacheTTL = d } }

// WithTimeout sets the deadline of each Revoke and Revoked call, including
// rueidis' retries; it must be positive. A caller's earlier deadline wins.
// Default: DefaultTimeout (250 ms).
func WithTimeout(d time.Duration) Option { return func(s *Store) { s.timeout = d } }

// WithLogger sets the logger that receives the cause of Redis failures
// (the returned errors do not carry it), at most one record per second.
// Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithMeterProvider sets where the store reports the counter
// auth.revocation_cache.lookups (attribute result = hit or miss: whether a
// key of a Revoked call was answered from the client-side cache). Default:
// otel.GetMeterProvider(), a no-op until an OpenTelemetry SDK is installed;
// while it is a no-op, counting costs nothing on the hot path.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(s *Store) { s.mp = mp } }

// Store is an auth.RevocationStore and auth.Limiter on Redis. It is safe for concurrent use,
// starts no goroutines and does not own the client: close the client after
// the last call. See the package documentation for keys, caching and
// failure behaviour.
type Store struct {
	client   rueidis.Client
	prefix   string
	cacheTTL time.Duration
	timeout  time.Duration
	log      *slog.Logger
	mp       metric.MeterProvider

	cacheLookups        metric.Int64Counter
	cacheHit, cacheMiss metric.AddOption
	replicaHit          metric.AddOption

	// Key prefixes per kind: prefix + "revoked:<kind>:{"; the key is
	// prefix + "revoked:<kind>:{" + ID + "}" (see the package doc). Rate
	// limits live under prefix + "limit:{" + key + "}".
	tokenPrefix, sessionPrefix, userPrefix, limitPrefix string

	// pinSlot sends the keys of one query over one connection when the
	// client is not a cluster client (see commands).
	pinSlot bool
	cmds    sync.Pool // *[3]rueidis.CacheableTTL, reused by Revoked

	// replicaOn and replicaLimit are WithReplica's; rep runs it.
	replicaOn    bool
	replicaLimit int
	rep          *replica
	// replicaTopology overrides topologyInterval (tests).
	replicaTopology time.Duration

	recent  recent // this Store's own recent writes, for read-your-writes
	script  *rueidis.Lua
	limit   *rueidis.Lua
	refund  *rueidis.Lua
	lastLog atomic.Int64 // unix nanoseconds of the last failure log record
}

// New returns a Store that keeps revocations in Redis through client,
// which must be a RESP3 client (the default) for client-side caching to
// apply. It returns an error if client is nil or an option is invalid.
func New(client rueidis.Client, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: New: the rueidis client is nil")
	}
	s := &Store{client: client, prefix: DefaultPrefix, cacheTTL: DefaultCacheTTL, timeout: DefaultTimeout}
	for _, o := range opts {
		o(s)
	}
	switch {
	case strings.ContainsAny(s.prefix, "{}"):
		return nil, errors.New("redisstore: WithPrefix: the prefix must not contain '{' or '}'")
	case s.cacheTTL <= 0:
		return nil, errors.New("redisstore: WithCacheTTL: the TTL must be positive")
	case s.timeout <= 0:
		return nil, errors.New("redisstore: WithTimeout: the timeout must be positive")
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.mp == nil {
		s.mp = otel.GetMeterProvider()
	}
	var err error
	s.cacheLookups, err = s.mp.Meter("github.com/maestro-ml/auth/store/redisstore").Int64Counter("auth.revocation_cache.lookups",
		metric.WithDescription("Revocation entries read by Revoked, by whether rueidis' client-side cache answered."), metric.WithUnit("{lookup}"))
	if err != nil {
		return nil, fmt.Errorf("redisstore: WithMeterProvider: creating instruments: %w", err)
	}
	s.cacheHit = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "hit")))
	s.cacheMiss = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "miss")))
	s.replicaHit = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "replica")))
	s.tokenPrefix = s.prefix + "revoked:token:{"
	s.sessionPrefix = s.prefix + "revoked:session:{"
	s.userPrefix = s.prefix + "revoked:user:{"
	s.limitPrefix = s.prefix + "limit:{"
	s.script = rueidis.NewLuaScriptRetryable(revokeScript)
	s.limit = rueidis.NewLuaScript(limitScript) // not idempotent: never retried
	s.refund = rueidis.NewLuaScript(refundScript)
	s.pinSlot = client.Mode() != rueidis.ClientModeCluster
	s.cmds.New = func() any { return new([3]rueidis.CacheableTTL) }
	if s.replicaOn {
		s.rep = newReplica(s)
	}
	return s, nil
}

// Close stops what the Store runs in the background (WithReplica's
// replica) and returns its connections; the rueidis client stays open, as
// the caller owns it. A Store without a replica needs no Close.
func (s *Store) Close() error {
	if s.rep != nil {
		s.rep.close()
	}
	return nil
}

// revokeScript records one revocation. It keeps the larger time and the
// later expiry of the stored and the requested entry, so a user cutoff only
// moves forward and no Revoke shortens an entry another one asked to keep;
// it writes nothing (and so invalidates no cache) when the stored entry
// already covers the request. It touches only KEYS[1] and is idempotent, so
// it is safe on Redis Cluster and safe to retry.
//
// KEYS[1]: the entry; ARGV[1]: time, Unix ms; ARGV[2]: expiry, Unix ms.
// Returns 1 if it wrote, 0 if not.
const revokeScript = `
local at, exp = ARGV[1], tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur then
  local c = tonumber(cur)
  local keepAt = c ~= nil and c >= tonumber(at)
  if keepAt then at = cur end
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then
    local t = redis.call('TIME')
    local curExp = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
    if curExp >= exp then
      if keepAt then return 0 end
      exp = curExp
    end
  end
end
redis.call('SET', KEYS[1], at, 'PXAT', string.format('%.0f', exp))
return 1
`

// Revoke records r until r.ExpiresAt, in one atomic, idempotent script
// call. For RevocationUser the stored cutoff only moves forward; for every kind
// the later of the stored and the requested expiry is kept. It returns nil
// only once Redis has acknowledged the write; errors wrap
// auth.ErrInvalidInput (unknown kind, empty ID or one longer than
// MaxIDBytes, zero ExpiresAt, or zero At for RevocationUser) or
// auth.ErrUnavailable (Redis unreachable, failing or slower than the
// timeout; the write may or may not have happened, and retrying is safe).
// Once it returns nil, Revoked on this Store reports the revocation, and
// Redis has already queued an invalidation for every connection, of any
// process, that has the entry in its client-side cache.
func (s *Store) Revoke(ctx context.Context, r auth.Revocation) error {
	var prefix string
	switch r.Kind {
	case auth.RevocationToken:
		prefix = s.tokenPrefix
	case auth.RevocationSession:
		prefix = s.sessionPrefix
	case auth.RevocationUser:
		if r.At.IsZero() {
			return invalid("user cutoff time is zero")
		}
		prefix = s.userPrefix
	default:
		return invalid("unknown revocation kind")
	}
	switch {
	case r.ID == "":
		return invalid("revocation ID is empty")
	case len(r.ID) > MaxIDBytes:
		return invalid("revocation ID is too long")
	case r.ExpiresAt.IsZero() || r.ExpiresAt.UnixMilli() <= 0:
		return invalid("revocation expiry is not set")
	}
	var at int64
	if !r.At.IsZero() {
		at = r.At.UnixMilli()
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	keys := []string{prefix + r.ID + "}"}
	args := []string{strconv.FormatInt(at, 10), strconv.FormatInt(r.ExpiresAt.UnixMilli(), 10)}
	if err := s.script.Exec(ctx, s.client, keys, args).Error(); err != nil {
		return s.unavailable(ctx, "redisstore.Revoke", err)
	}
	now := time.Now()
	until := now.Add(s.cacheTTL + s.timeout)
	if r.ExpiresAt.Before(until) {
		until = r.ExpiresAt
	}
	if until.After(now) {
		s.recent.add(keys[0], at, until, now, s.cacheTTL)
	}
	if s.rep != nil {
		s.rep.wrote(keys[0])
	}
	return nil
}

// Revoked reads the token, session and user entries of q in one
// DoMultiCache call, from rueidis' client-side cache where possible (no
// network round trip), else from Redis, which then tracks the keys and
// pushes an invalidation when any of them changes or expires. A missing key
// is not revoked; an empty field of q is not looked up. The three keys may
// live in different Cluster slots. Errors wrap auth.ErrUnavailable: Redis
// unreachable, failing, slower than the timeout, or holding an entry that
// is not a valid time; an unanswerable check is never reported as "not
// revoked".
func (s *Store) Revoked(ctx context.Context, q auth.RevocationQuery) (auth.RevocationStatus, error) {
	var st auth.RevocationStatus
	if q.TokenID == "" && q.SessionID == "" && q.UserID == "" {
		return st, nil
	}
	if s.rep != nil {
		// The replica holds this Store's writes once re-read; until then
		// they are pending, and the query goes the path below.
		if s.rep.lookup(&q, &st, time.Now().UnixMilli()) {
			if s.cacheLookups.Enabled(ctx) {
				s.cacheLookups.Add(ctx, 1, s.replicaHit)
			}
			return st, nil
		}
		st = auth.RevocationStatus{}
	}
	var k queryKeys
	s.queryKeys(&q, &k)
	cmds := s.cmds.Get().(*[3]rueidis.CacheableTTL)
	s.commands(&k, cmds)
	cctx := newCallCtx(ctx, s.timeout)
	defer cctx.release()
	res := s.client.DoMultiCache(cctx, cmds[:k.n]...)
	*cmds = [3]rueidis.CacheableTTL{} // rueidis recycles the commands
	s.cmds.Put(cmds)
	if s.cacheLookups.Enabled(ctx) {
		for i := range res {
			if res[i].IsCacheHit() {
				s.cacheLookups.Add(ctx, 1, s.cacheHit)
			} else {
				s.cacheLookups.Add(ctx, 1, s.cacheMiss)
			}
		}
	}
	for i := range res {
		r := &res[i]
		switch k.kinds[i] {
		case auth.RevocationToken, auth.RevocationSession:
			err := r.Error()
			if err != nil && !rueidis.IsRedisNil(err) {
				return auth.RevocationStatus{}, s.unavailable(cctx, "redisstore.Revoked", err)
			}
			if k.kinds[i] == auth.RevocationToken {
				st.TokenRevoked = err == nil
			} else {
				st.SessionRevoked = err == nil
			}
		case auth.RevocationUser:
			ms, err := r.AsInt64()
			switch {
			case err == nil:
				st.UserCutoff = time.UnixMilli(ms).UTC()
			case !rueidis.IsRedisNil(err):
				return auth.RevocationStatus{}, s.unavailable(cctx, "redisstore.Revoked", err)
			}
		}
	}
	s.recent.merge(&k, &st)
	return st, nil
}

// commands fills cmds with the cacheable GETs of k's keys.
//
// A standalone, sentinel or replica rueidis client spreads commands over
// several connections by key slot, each connection with its own cache, and
// DoMultiCache splits a batch that spans connections into goroutines. Outside
// Cluster, where slots mean nothing to the server, the three GETs are pinned
// to one slot derived from the first key, so one query uses one connection
// and a cache hit spawns no goroutine; different queries still spread over
// the connections. Each connection caches, and Redis tracks, exactly the
// keys it read, so invalidation stays exact; a user's key may be cached on
// several connections, each invalidated on its own.
func (s *Store) commands(k *queryKeys, cmds *[3]rueidis.CacheableTTL) {
	// The pin is the end of the first ID: a short string to hash that still
	// spreads queries over the connections.
	pin := k.keys[0][max(0, len(k.keys[0])-5):]
	for i := range k.n {
		c := s.client.B().Get().Key(k.keys[i]).Cache()
		if s.pinSlot {
			c = rueidis.Cacheable(rueidis.Completed(c).SetSlot(pin))
		}
		cmds[i] = rueidis.CT(c, s.cacheTTL)
	}
}

// queryKeys holds the keys of one query, in one allocation.
type queryKeys struct {
	keys  [3]string
	kinds [3]auth.RevocationKind
	n     int
}

// queryKeys fills k with the keys of q's non-empty fields. The three keys
// share one string allocation.
func (s *Store) queryKeys(q *auth.RevocationQuery, k *queryKeys) {
	var size int
	if q.TokenID != "" {
		size += len(s.tokenPrefix) + len(q.TokenID) + 1
	}
	if q.SessionID != "" {
		size += len(s.sessionPrefix) + len(q.SessionID) + 1
	}
	if q.UserID != "" {
		size += len(s.userPrefix) + len(q.UserID) + 1
	}
	if size == 0 {
		return
	}
	var b strings.Builder
	b.Grow(size)
	var ends [3]int
	add := func(kind auth.RevocationKind, prefix, id string) {
		if id == "" {
			return
		}
		b.WriteString(prefix)
		b.WriteString(id)
		b.WriteByte('}')
		k.kinds[k.n] = kind
		ends[k.n] = b.Len()
		k.n++
	}
	add(auth.RevocationToken, s.tokenPrefix, q.TokenID)
	add(auth.RevocationSession, s.sessionPrefix, q.SessionID)
	add(auth.RevocationUser, s.userPrefix, q.UserID)
	all, start := b.String(), 0
	for i := range k.n {
		k.keys[i] = all[start:ends[i]]
		start = ends[i]
	}
}

// unavailable logs err (at most once a second) and returns the error the
// caller sees when Redis cannot answer: it names the operation only, so
// that no Redis or network text reaches callers, and matches
// auth.ErrUnavailable and, for a timeout or cancellation, the context
// error. ctx is the call's context, deadline included.
func (s *Store) unavailable(ctx context.Context, op string, err error) error {
	now := time.Now().UnixNano()
	if last := s.lastLog.Load(); now-last >= int64(time.Second) && s.lastLog.CompareAndSwap(last, now) {
		s.log.WarnContext(ctx, "redisstore: cannot answer from Redis; failing closed", "op", op, "error", err)
	}
	if cerr := ctxCause(ctx, err); cerr != nil {
		return errs.Op(op, auth.ErrUnavailable, cerr)
	}
	return errs.Op(op, auth.ErrUnavailable)
}

// ctxCause returns the context error behind a failed call: ctx's own, or
// the one rueidis returned, or DeadlineExceeded once the call's deadline
// has passed. rueidis sets the connection's deadline from the context's,
// so its own timeout can fire a moment before the context's timer does,
// while ctx.Err() is still nil.
func ctxCause(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

func invalid(why string) error { return fmt.Errorf("%w: redisstore: %s", auth.ErrInvalidInput, why) }
