package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/maestro-ml/auth/store/redisstore"
)

// replicaResult is the revocation replica at one number of live entries.
type replicaResult struct {
	entries   int
	fill      time.Duration // writing the entries through Revoke
	load      time.Duration // a new Store's replica, from New to loaded
	bytes     float64       // heap per entry the loaded replica holds
	checkHit  time.Duration // a Revoked answered "revoked", per call
	checkMiss time.Duration // a Revoked answered "not revoked", per call
}

// heap returns the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// measureReplica writes n token revocations under a prefix of its own,
// times a new Store's replica loading them, measures the heap it holds
// and the cost of a check, and deletes the keys.
func measureReplica(ctx context.Context, client rueidis.Client, n, samples int) (r replicaResult, err error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "auth-scale-" + hex.EncodeToString(b[:]) + ":"
	defer func() {
		if derr := deletePrefix(context.WithoutCancel(ctx), client, prefix); derr != nil && err == nil {
			err = derr
		}
	}()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	// A replica's own cost (connections, buffers, goroutines): an empty
	// one, measured first and subtracted, so that the figure is per entry.
	base, _, err := loadReplica(client, prefix, 1, discard)
	if err != nil {
		return r, err
	}
	writer, err := redisstore.New(client, redisstore.WithPrefix(prefix), redisstore.WithLogger(discard))
	if err != nil {
		return r, err
	}
	ids := make([]string, n)
	for i := range ids {
		_, _ = rand.Read(b[:])
		ids[i] = fmt.Sprintf("%08x-0000-4000-8000-%s", i, hex.EncodeToString(b[:]))
	}
	start := time.Now()
	at := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if err := writer.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: ids[i], At: at, ExpiresAt: at.Add(time.Hour)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return r, err
	}
	r = replicaResult{entries: n, fill: time.Since(start)}

	held, s, err := loadReplica(client, prefix, n, discard)
	if err != nil {
		return r, err
	}
	defer s.Close()
	r.load = s.loaded
	r.bytes = (float64(held) - float64(base)) / float64(n)

	per := func(q func(i int) auth.RevocationQuery, want bool) (time.Duration, error) {
		start := time.Now()
		for i := range samples {
			st, err := s.Revoked(ctx, q(i))
			if err != nil {
				return 0, err
			}
			if st.TokenRevoked != want {
				return 0, fmt.Errorf("check %d: revoked %v, want %v", i, st.TokenRevoked, want)
			}
		}
		return time.Since(start) / time.Duration(samples), nil
	}
	if r.checkHit, err = per(func(i int) auth.RevocationQuery { return auth.RevocationQuery{TokenID: ids[(i*7919)%n]} }, true); err != nil {
		return r, err
	}
	absent := fmt.Sprintf("ffffffff-0000-4000-8000-%s", hex.EncodeToString(b[:]))
	r.checkMiss, err = per(func(int) auth.RevocationQuery { return auth.RevocationQuery{TokenID: absent} }, false)
	return r, err
}

// loadedStore is a Store with a loaded replica, and how long it took.
type loadedStore struct {
	*redisstore.Store
	loaded time.Duration
}

// loadReplica makes a Store with a replica of the prefix's entries (limit
// n), waits until it is loaded, and returns the heap it holds. With n = 1
// and no entries it returns the empty replica's cost, the Store closed.
func loadReplica(client rueidis.Client, prefix string, n int, log *slog.Logger) (uint64, loadedStore, error) {
	before := heap()
	start := time.Now()
	s, err := redisstore.New(client, redisstore.WithPrefix(prefix), redisstore.WithLogger(log), redisstore.WithReplica(n))
	if err != nil {
		return 0, loadedStore{}, err
	}
	for !s.ReplicaLoaded() {
		if time.Since(start) > 5*time.Minute {
			_ = s.Close()
			return 0, loadedStore{}, fmt.Errorf("the replica did not load %d entries in 5 minutes", n)
		}
		time.Sleep(time.Millisecond)
	}
	ls := loadedStore{Store: s, loaded: time.Since(start)}
	after := heap()
	held := after - min(after, before)
	if n == 1 {
		return held, ls, s.Close()
	}
	return held, ls, nil
}

// deletePrefix removes every key under prefix.
func deletePrefix(ctx context.Context, client rueidis.Client, prefix string) error {
	var cursor uint64
	for {
		e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(prefix+"*").Count(10000).Build()).AsScanEntry()
		if err != nil {
			return err
		}
		if len(e.Elements) > 0 {
			if err := client.Do(ctx, client.B().Unlink().Key(e.Elements...).Build()).Error(); err != nil {
				return err
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return nil
		}
	}
}

// renderReplica writes the replica's table.
func renderReplica(rs []replicaResult, samples int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Redis revocation replica (redisstore.WithReplica), %d checks per kind and size\n\n", samples)
	b.WriteString("| live entries | written in | replica loaded in | heap per entry | check, revoked | check, not revoked |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		per := fmt.Sprintf("%.0f B", r.bytes)
		if r.entries < 10000 {
			per = "below the noise" // a few hundred kB against the heap's own jitter
		}
		fmt.Fprintf(&b, "| %s | %v | %v | %s | %.2f µs | %.2f µs |\n", count(r.entries), r.fill.Round(time.Millisecond),
			r.load.Round(time.Millisecond), per, float64(r.checkHit)/1e3, float64(r.checkMiss)/1e3)
	}
	return b.String()
}

// tokenCacheResult is the verified-token cache after many distinct tokens.
type tokenCacheResult struct {
	tokens, bound int
	bytes         uint64  // heap the verifying Authenticator holds at the end
	perToken      float64 // bytes per cached token, the cache being full
	took          time.Duration
}

// measureTokenCache authenticates n distinct tokens (minted by another
// Authenticator with the same keys, a batch at a time, so that they are
// not all held at once) through an Authenticator whose cache has the
// default bound, and measures the heap that Authenticator holds at the
// end: the cache must stay within its bound however many tokens pass.
func measureTokenCache(ctx context.Context, n int) (r tokenCacheResult, err error) {
	key, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		return r, err
	}
	keys, err := auth.NewKeySet(key)
	if err != nil {
		return r, err
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	mintStore := memstore.New(memstore.WithSweepInterval(0))
	defer mintStore.Close()
	minter, err := auth.New(auth.Config{Keys: keys, Users: mintStore, Tenants: mintStore, Sessions: mintStore,
		Revocations: mintStore, Logger: discard, Limits: auth.Limits{RefreshPerIP: auth.Limit{Burst: -1}}})
	if err != nil {
		return r, err
	}
	if _, err := minter.EnsureDefaultTenant(ctx); err != nil {
		return r, err
	}
	if _, err := minter.Register(ctx, auth.RegisterRequest{Email: "cache@scale.test", Password: password}); err != nil {
		return r, err
	}
	pair, _, err := minter.Login(ctx, auth.LoginRequest{Email: "cache@scale.test", Password: password})
	if err != nil {
		return r, err
	}
	refresh := pair.RefreshToken

	empty := memstore.New(memstore.WithSweepInterval(0))
	defer empty.Close()
	verifier, err := auth.New(auth.Config{Keys: keys, Users: empty, Tenants: empty, Sessions: empty, Revocations: empty, Logger: discard})
	if err != nil {
		return r, err
	}
	start := time.Now()
	for i := 0; i < n; {
		batch := make([]string, 0, 1000)
		for ; len(batch) < cap(batch) && i < n; i++ {
			p, err := minter.Refresh(ctx, auth.RefreshRequest{RefreshToken: refresh})
			if err != nil {
				return r, fmt.Errorf("minting token %d: %w", i, err)
			}
			refresh = p.RefreshToken
			batch = append(batch, p.AccessToken)
		}
		for _, tok := range batch {
			if _, err := verifier.Authenticate(ctx, tok); err != nil {
				return r, err
			}
		}
	}
	// What the verifier holds: the heap with it, less the heap once it is
	// unreachable (the minter's state is in both).
	with := heap()
	runtime.KeepAlive(verifier)
	without := heap()
	r = tokenCacheResult{tokens: n, bound: 10000, bytes: with - min(with, without)}
	r.perToken = float64(r.bytes) / float64(r.bound)
	r.took = time.Since(start)
	return r, nil
}

// renderTokenCache writes the token cache's line.
func renderTokenCache(r tokenCacheResult) string {
	return fmt.Sprintf("Verified-token cache (auth.Config.TokenCacheSize, default bound %s): after %s distinct tokens "+
		"(%v), the verifying Authenticator holds %.1f MB, %.0f B per cached token.\n",
		count(r.bound), count(r.tokens), r.took.Round(time.Second), float64(r.bytes)/1e6, r.perToken)
}
