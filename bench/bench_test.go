package bench

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/store/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// Every benchmark is named Benchmark<Level>/impl=<contender> so that
// benchstat prints one row per contender. Levels:
//
//   - Token: a function call per request, "verify the token (and check the
//     deny-list)", with the same EdDSA token for every contender.
//   - Middleware: the contender's net/http middleware wrapping a handler
//     that answers 204, driven with a prebuilt request and a fresh
//     httptest.ResponseRecorder per request; impl=none is that harness
//     alone.
//   - TokenParallel, MiddlewareParallel: the Redis-backed contenders under
//     b.RunParallel (GOMAXPROCS goroutines): ns/op is wall time over all
//     requests, the inverse of throughput.
//   - Redis: the network floor of a deny-list check, one GET (see
//     BenchmarkRedis).
//
// Our contenders: first-seen is the verified-token cache off (every
// request checks the signature) with the same token again and again, so
// the deny-list answer is the only thing that may be cached; new-token is
// a token never seen before on every request, with the default cache (it
// must be put in it) and, on redisstore, a client-side cache miss for the
// token's entry (one round trip to Redis); repeat is the default cache with
// the same token: no signature check, the deny-list answer from memory
// (memstore) or from rueidis' client-side cache (redisstore).

// oursCases are our Authenticator configurations.
var oursCases = []struct {
	name      string
	redis     bool
	replica   bool // redisstore.WithReplica
	cacheSize int  // Config.TokenCacheSize
	fresh     bool
}{
	{"ours-first-seen-memstore", false, false, -1, false},
	{"ours-first-seen-redisstore", true, false, -1, false},
	{"ours-first-seen-redisstore-replica", true, true, -1, false},
	{"ours-new-token-memstore", false, false, 0, true},
	{"ours-new-token-redisstore", true, false, 0, true},
	{"ours-new-token-redisstore-replica", true, true, 0, true},
	{"ours-repeat-memstore", false, false, 0, false},
	{"ours-repeat-redisstore", true, false, 0, false},
	{"ours-repeat-redisstore-replica", true, true, 0, false},
}

// oursFactory returns a constructor of Authenticators for an ours case.
// With a replica, every Authenticator shares one Store: its copy answers
// any key, so a new Store would only repeat the load.
func (f *fixture) oursFactory(b *testing.B, redis, replica bool, cacheSize int) func() (*auth.Authenticator, error) {
	var shared *redisstore.Store
	return func() (*auth.Authenticator, error) {
		var rev auth.RevocationStore = f.mem
		switch {
		case replica:
			if shared == nil {
				s, err := f.replicaStore()
				if err != nil {
					return nil, err
				}
				b.Cleanup(func() { _ = s.Close() })
				shared = s
			}
			rev = shared
		case redis:
			s, err := f.redisStore()
			if err != nil {
				return nil, err
			}
			rev = s
		}
		return f.ours(rev, cacheSize)
	}
}

// must returns the result of fn, failing b on error.
func must[T any](b *testing.B, fn func() (T, error)) T {
	b.Helper()
	v, err := fn()
	if err != nil {
		b.Fatal(err)
	}
	return v
}

func BenchmarkToken(b *testing.B) {
	f := env(b)
	ctx := context.Background()
	tok, _ := f.token(b)

	b.Run("impl=ed25519-verify", func(b *testing.B) {
		verify := ed25519Verify(f.pub, tok)
		b.ReportAllocs()
		for b.Loop() {
			if !verify() {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("impl=jwx-parse", func(b *testing.B) {
		j := newJWXParse(f)
		b.ReportAllocs()
		for b.Loop() {
			if err := j.parse(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=golang-jwt-parse", func(b *testing.B) {
		h := newHandWritten(f)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.parse(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=golang-jwt+redis-get", func(b *testing.B) {
		h := newHandWritten(f)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, oc := range oursCases {
		b.Run("impl="+oc.name, func(b *testing.B) {
			newAuth := f.oursFactory(b, oc.redis, oc.replica, oc.cacheSize)
			if oc.fresh {
				ft := newFreshTokens(f.tokenPool(b), newAuth)
				b.ReportAllocs()
				for b.Loop() {
					a, tok, err := ft.get()
					if err != nil {
						b.Fatal(err)
					}
					if _, err := a.Authenticate(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			a := must(b, newAuth)
			if _, err := a.Authenticate(ctx, tok); err != nil { // warm: caches as in steady state
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTokenParallel(b *testing.B) {
	f := env(b)
	ctx := context.Background()
	tok, _ := f.token(b)

	b.Run("impl=golang-jwt+redis-get", func(b *testing.B) {
		h := newHandWritten(f)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.authenticate(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for _, oc := range oursCases {
		if !oc.redis {
			continue
		}
		b.Run("impl="+oc.name, func(b *testing.B) {
			newAuth := f.oursFactory(b, oc.redis, oc.replica, oc.cacheSize)
			if oc.fresh {
				ft := newFreshTokens(f.tokenPool(b), newAuth)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						a, tok, err := ft.get()
						if err == nil {
							_, err = a.Authenticate(ctx, tok)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				return
			}
			a := must(b, newAuth)
			if _, err := a.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.Authenticate(ctx, tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// middlewareCases are the middleware contenders, each with its handler and
// request; redis tells whether it is Redis-backed (and so also run in
// parallel).
func (f *fixture) middlewareCases(b *testing.B, tok string, c *auth.Claims) []middlewareCase {
	pkgzTok := must(b, func() (string, error) { return f.pkgzToken(c) })
	cases := []middlewareCase{
		{"none", false, func() http.Handler { return final }, bearerRequest(tok)},
		{"golang-jwt+redis-get", true, func() http.Handler { return newHandWritten(f).middleware(final) }, bearerRequest(tok)},
		{"go-pkgz-auth", true, f.pkgzHandler, pkgzRequest(pkgzTok)},
	}
	for _, oc := range oursCases {
		if oc.fresh {
			continue // a middleware benchmark has one prebuilt request
		}
		newAuth := f.oursFactory(b, oc.redis, oc.replica, oc.cacheSize)
		cases = append(cases, middlewareCase{oc.name, oc.redis, func() http.Handler { return oursHandler(must(b, newAuth)) }, bearerRequest(tok)})
	}
	return cases
}

type middlewareCase struct {
	name    string
	redis   bool
	handler func() http.Handler
	req     *http.Request
}

func BenchmarkMiddleware(b *testing.B) {
	f := env(b)
	tok, c := f.token(b)
	for _, mc := range f.middlewareCases(b, tok, c) {
		b.Run("impl="+mc.name, func(b *testing.B) {
			h := mc.handler()
			if code := serve(h, mc.req); code != http.StatusNoContent { // warm
				b.Fatalf("status %d", code)
			}
			b.ReportAllocs()
			for b.Loop() {
				if code := serve(h, mc.req); code != http.StatusNoContent {
					b.Fatalf("status %d", code)
				}
			}
		})
	}
}

func BenchmarkMiddlewareParallel(b *testing.B) {
	f := env(b)
	tok, c := f.token(b)
	for _, mc := range f.middlewareCases(b, tok, c) {
		if !mc.redis {
			continue
		}
		b.Run("impl="+mc.name, func(b *testing.B) {
			h := mc.handler()
			if code := serve(h, mc.req); code != http.StatusNoContent {
				b.Fatalf("status %d", code)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := mc.req.Clone(context.Background())
				for pb.Next() {
					if code := serve(h, req); code != http.StatusNoContent {
						b.Errorf("status %d", code)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRedis is the deny-list's network floor: one GET of a key that
// does not exist (the "not revoked" answer), as the hand-written
// middleware sends it (go-redis) and as rueidis sends it without and with
// client-side caching. A cached miss is what redisstore pays the first
// time a connection sees a key (rueidis wraps the GET in CLIENT CACHING
// YES, MULTI, PTTL, GET, EXEC); a cached hit is what it pays after that.
func BenchmarkRedis(b *testing.B) {
	f := env(b)
	ctx := context.Background()
	key := f.prefix + "rt:absent"
	b.Run("impl=go-redis-get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f.rdb.Get(ctx, key).Err(); !errors.Is(err, redis.Nil) {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=rueidis-get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f.rc.Do(ctx, f.rc.B().Get().Key(key).Build()).Error(); !rueidis.IsRedisNil(err) {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=rueidis-cached-get-miss", func(b *testing.B) {
		prefix := f.prefix + "rt:miss:" + strconv.FormatInt(f.stores.Add(1), 10) + ":"
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			k := prefix + strconv.Itoa(i)
			if err := f.rc.DoCache(ctx, f.rc.B().Get().Key(k).Cache(), time.Minute).Error(); !rueidis.IsRedisNil(err) {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=rueidis-cached-get-hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f.rc.DoCache(ctx, f.rc.B().Get().Key(key).Cache(), time.Minute).Error(); !rueidis.IsRedisNil(err) {
				b.Fatal(err)
			}
		}
	})
}
