// Package bench compares the hot path of github.com/maestro-ml/auth
// ("verify the access token, then check the deny-list", on every request)
// with what Go services use instead, in one run on one machine:
//
//   - a raw ed25519.Verify of the same token (the floor);
//   - github.com/lestrrat-go/jwx/v3 jwt.Parse;
//   - github.com/golang-jwt/jwt/v5, alone and with the deny-list check
//     people write by hand: a Redis GET of the token ID per request through
//     github.com/redis/go-redis/v9;
//   - the middleware of github.com/go-pkgz/auth/v2 (HS256 only), with the
//     same Redis GET in its Validator;
//   - this library's Authenticate and middleware.Authenticate, on memstore
//     and on redisstore (rueidis client-side caching).
//
// The package holds only tests: a correctness test that every contender
// accepts a valid token and rejects a revoked (or, for the verify-only
// ones, a tampered) one, and the benchmarks. Benchmarks and tests use the
// Redis at 127.0.0.1:6379 (AUTH_TEST_REDIS_ADDR overrides it) under a key
// prefix unique to the run, deleted when the run ends.
//
// run.sh runs everything with -count 10, writes the raw output, the
// benchstat tables and the pprof profiles to results/; BENCHMARKS.md at
// the repository root discusses them.
//
// It is its own module so that the peers' dependencies never enter the
// library's go.mod.
package bench
