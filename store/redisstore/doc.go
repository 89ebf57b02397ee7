// Package redisstore implements auth.RevocationStore on Redis with
// github.com/redis/rueidis, for the per-request hot path of
// auth.Authenticator.Authenticate.
//
// # Usage
//
// The caller creates and owns the rueidis client; the Store never closes it.
// One address of a standalone server:
//
//	client, err := rueidis.NewClient(rueidis.ClientOption{
//		InitAddress: []string{"127.0.0.1:6379"},
//		// Optional, recommended: detect a silently dead connection (and so
//		// drop its client-side cache) within about two seconds.
//		ConnWriteTimeout: 2 * time.Second,
//	})
//	if err != nil { ... }
//	defer client.Close()
//	revocations, err := redisstore.New(client)
//	if err != nil { ... }
//	a, err := auth.New(auth.Config{..., Revocations: revocations})
//
// For Redis Cluster, list some or all of the primaries; rueidis discovers
// the rest of the cluster itself and routes every command by key slot:
//
//	client, err := rueidis.NewClient(rueidis.ClientOption{
//		InitAddress: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
//		ShuffleInit: true,
//	})
//
// Redis 6.2 or later (or a compatible server such as Valkey) is required:
// entries are written with SET ... PXAT, and client-side caching needs RESP3
// and CLIENT TRACKING.
//
// # Keys
//
// Every revocation is one string key holding a Unix time in milliseconds
// and expiring (PXAT) at the Revocation's ExpiresAt, so nothing accumulates:
//
//	<prefix>revoked:token:{<jti>}     the time the token was revoked
//	<prefix>revoked:session:{<sid>}   the time the session was revoked
//	<prefix>revoked:user:{<uid>}      the user's cutoff: tokens issued at or before it are revoked
//
// The prefix defaults to "auth:" (WithPrefix). The braces make the ID the
// Redis Cluster hash tag: the slot depends on the ID alone, which spreads
// entries over the cluster as well as the whole key would, and makes the
// client's slot hashing on the hot path cheaper. Writes go through one Lua
// script per key that keeps the later time and the later expiry, so a user
// cutoff only moves forward and an entry never expires earlier than any
// Revoke asked for. Each command touches one key, so the store works
// unchanged on Redis Cluster, where the three keys of one query usually
// live in different slots and on different nodes.
//
// # The hot path without any round trip: WithReplica
//
// With WithReplica the Store keeps a complete copy of the deny-list in the
// process, pushed by Redis (CLIENT TRACKING in broadcast mode on the
// entries' prefix), so that even a token no instance has checked before is
// answered without the network: about 0.1 µs and no allocation. While the
// copy cannot be trusted (loading, a tracking connection lost, over its
// limit) checks take the client-side cached path below, which fails closed.
// See WithReplica.
//
// # The hot path: client-side caching
//
// Revoked reads the three keys of a query in one DoMultiCache call, using
// rueidis' server-assisted client-side caching (RESP3 CLIENT TRACKING): the
// answer, including "not revoked" (a missing key), is kept in the process
// and Redis pushes an invalidation on the same connection as soon as any
// client changes or expires a key this connection has read. Repeated checks
// of a token therefore cost no network round trip, yet a revocation made by
// any process is seen everywhere within about one network round trip (see
// the propagation test and benchmark), as OWASP ASVS 5.0 V7.4.1 asks of
// self-contained tokens: terminated tokens, sessions and per-user cutoffs
// stop working at once.
//
// A cached entry lives at most as long as the key's remaining TTL on the
// server and at most WithCacheTTL (default DefaultCacheTTL). That maximum is
// defence in depth only: invalidations, not expiry, keep the cache correct.
// rueidis binds each cache to one connection and discards it whenever the
// connection closes (server restart, failover, CLIENT KILL, network error,
// ping timeout), so a cache can never outlive the invalidations it missed;
// a reconnected client starts empty and reads Redis again. A connection
// that dies silently (a partition with no TCP reset) is detected by
// rueidis' background PING within about Dialer.KeepAlive plus
// ConnWriteTimeout (11 s with rueidis defaults); WithCacheTTL bounds
// staleness even if that detection were slower.
//
// A Store reads its own writes: once Revoke returns, Revoked on the same
// Store reports the revocation. Without this, the same process could see
// the old answer for a few microseconds, because the invalidation travels
// apart from the reply to the write (on another connection, or after the
// reply on the same one). Other Stores and processes see a revocation when
// their invalidation arrives. Use one Store per client.
//
// A client created with rueidis.ClientOption.DisableCache reads Redis on
// every call instead; the Store works the same, one round trip slower.
//
// # Failure: fail closed
//
// Every call runs under a deadline (WithTimeout, default 250 ms, or the
// caller's earlier one). A Redis that is down, unreachable, slow, loading,
// read-only or otherwise unable to answer, or an entry that is not a valid
// time, yields an error wrapping auth.ErrUnavailable whose message carries
// no Redis or network text. The Authenticator then fails closed (CWE-636;
// OWASP ASVS 5.0 V16.5) unless auth.Config.FailOpen is set. Revoke never
// reports success unless Redis acknowledged the write. Its script is
// idempotent, so rueidis may retry it after a network error within the
// deadline, as it does reads. After Redis comes back, rueidis reconnects
// on the next call and the store recovers without intervention.
//
// The cause of a failure is logged through the configured slog.Logger
// (WithLogger) at most once per second, so an outage does not flood logs.
//
// # Rate limits
//
// Store also implements auth.Limiter for auth.Config.Limiter, so every
// instance of a service shares one set of login, registration and reset
// limits and one account lockout. Each Allow is one Lua script applying the
// generic cell rate algorithm to a single key (prefix + "limit:{" + key +
// "}") with the Redis server's clock, so instances with skewed clocks
// agree; the key expires once the allowance is full again.
//
// # Operating Redis
//
// Revocations are only as durable as Redis' data. Run it with
// maxmemory-policy noeviction (Store.Check refuses anything else: every
// entry has a TTL, so the volatile-* policies would evict revocations
// first, and an evicted revocation reads as "not revoked" without an
// error), preferably on a database or instance of its own rather than
// shared behind a prefix, and with the persistence or replication your
// revocation guarantees need: after a restart that lost data, tokens
// revoked before it are accepted again until they expire.
package redisstore
