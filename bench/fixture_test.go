package bench

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pkgzauth "github.com/go-pkgz/auth/v2"
	"github.com/go-pkgz/auth/v2/provider"
	"github.com/go-pkgz/auth/v2/token"
	"github.com/golang-jwt/jwt/v5"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/maestro-ml/auth/store/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// The token every contender verifies: EdDSA, header {alg, kid, typ:
// at+jwt}, claims iss, sub, aud, exp, nbf, iat, jti, sid, tid and role, as
// this library issues it. go-pkgz/auth only does HS256, so it gets a token
// with the same registered claims and the rest in its user object.
const (
	issuer   = "https://issuer.example"
	audience = "api"
	keyID    = "bench-ed25519"
	email    = "bench@example.com"
	password = "correct horse battery staple"
	// pkgzProvider is the go-pkgz/auth provider name the tokens carry.
	pkgzProvider = "local"
	// poolSize is the number of distinct tokens the new-token benchmarks
	// cycle through before they switch to a fresh Authenticator.
	poolSize = 4096
)

var errRevoked = errors.New("bench: token revoked")

// fixture is shared by every test and benchmark of the process: built on
// first use, torn down by TestMain (the Redis keys under prefix deleted).
type fixture struct {
	pub  ed25519.PublicKey
	keys *auth.KeySet
	mem  *memstore.Store // users, tenants, sessions; the memstore deny-list

	// minter issues the tokens: its refresh token is rotated to mint new
	// access tokens (distinct jti, same user and session).
	mu      sync.Mutex
	minter  *auth.Authenticator
	refresh string
	pool    []string // poolSize tokens for the new-token benchmarks, minted on first use

	rc     rueidis.Client // redisstore's client (client-side caching on)
	rdb    *redis.Client  // go-redis, for the hand-written deny-list
	prefix string         // every Redis key of the run starts with it
	stores atomic.Int64   // redisstore prefixes handed out

	hsSecret string // go-pkgz/auth's HS256 secret
	pkgz     *pkgzauth.Service
}

var shared struct {
	once sync.Once
	f    *fixture
	err  error
}

// env returns the shared fixture, failing tb if it cannot be built (Redis
// missing included: like the library's integration tests, these fail
// rather than skip).
func env(tb testing.TB) *fixture {
	tb.Helper()
	shared.once.Do(func() { shared.f, shared.err = newFixture() })
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.f
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.f != nil {
		shared.f.close()
	}
	os.Exit(code)
}

func redisAddr() string { return cmp.Or(os.Getenv("AUTH_TEST_REDIS_ADDR"), "127.0.0.1:6379") }

var discard = slog.New(slog.DiscardHandler)

func newFixture() (_ *fixture, err error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	f := &fixture{prefix: "authbench:" + hex.EncodeToString(rnd[:]) + ":"}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	ctx := context.Background()

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	f.pub = priv.Public().(ed25519.PublicKey)
	k, err := auth.NewKey(keyID, priv)
	if err != nil {
		return nil, err
	}
	if f.keys, err = auth.NewKeySet(k); err != nil {
		return nil, err
	}
	f.mem = memstore.New()
	if f.minter, err = f.ours(f.mem, -1); err != nil {
		return nil, err
	}
	if _, err := f.minter.Register(ctx, auth.RegisterRequest{Email: email, Password: password}); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	p, _, err := f.minter.Login(ctx, auth.LoginRequest{Email: email, Password: password})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	f.refresh = p.RefreshToken

	addr := redisAddr()
	f.rc, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, Dialer: net.Dialer{Timeout: 2 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("cannot reach Redis at %s (set AUTH_TEST_REDIS_ADDR to use another server): %w", addr, err)
	}
	f.rdb = redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 2 * time.Second})
	if err := f.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("cannot reach Redis at %s with go-redis: %w", addr, err)
	}

	var secret [32]byte
	_, _ = rand.Read(secret[:])
	f.hsSecret = string(secret[:])
	f.pkgz = pkgzauth.NewService(pkgzauth.Opts{
		SecretReader:  token.SecretFunc(func(string) (string, error) { return f.hsSecret, nil }),
		TokenDuration: 15 * time.Minute,
		Issuer:        issuer,
		URL:           "http://127.0.0.1",
		DisableXSRF:   true, // the token comes in the X-JWT header, not a cookie
		// The deny-list check, as go-pkgz/auth lets one add it: a
		// Validator (no context, no error: a Redis failure rejects).
		Validator: token.ValidatorFunc(func(_ string, c token.Claims) bool {
			return f.checkDenyList(context.Background(), c.ID) == nil
		}),
	})
	f.pkgz.AddDirectProvider(pkgzProvider, provider.CredCheckerFunc(func(string, string) (bool, error) { return false, nil }))
	return f, nil
}

// close deletes the run's Redis keys and closes the clients and memstore.
func (f *fixture) close() {
	if f.rdb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		iter := f.rdb.Scan(ctx, 0, f.prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			f.rdb.Unlink(ctx, iter.Val())
		}
		cancel()
		_ = f.rdb.Close()
	}
	if f.rc != nil {
		f.rc.Close()
	}
	if f.mem != nil {
		_ = f.mem.Close()
	}
}

// ours returns an Authenticator over the shared key set and memstore with
// the deny-list rev. cacheSize is Config.TokenCacheSize: 0 is the default
// verified-token cache, -1 none.
func (f *fixture) ours(rev auth.RevocationStore, cacheSize int) (*auth.Authenticator, error) {
	return auth.New(auth.Config{
		Keys: f.keys, Users: f.mem, Tenants: f.mem, Sessions: f.mem, Revocations: rev,
		Issuer: issuer, Audience: audience, TokenCacheSize: cacheSize,
		Events: audit.Nop{}, Logger: discard,
	})
}

// redisStore returns a redisstore.Store under a key prefix of its own, so
// its client-side cache starts empty of its keys. Its timeout is raised
// from 250 ms to 5 s (go-redis waits 3 s): on a loaded 2-core machine a
// round trip can exceed 250 ms, and the store then fails closed, which
// would end the benchmark. The timeout costs the same whatever its value.
func (f *fixture) redisStore() (*redisstore.Store, error) {
	n := f.stores.Add(1)
	return redisstore.New(f.rc, redisstore.WithPrefix(f.prefix+"ours"+strconv.FormatInt(n, 10)+":"),
		redisstore.WithTimeout(5*time.Second), redisstore.WithLogger(discard))
}

// replicaStore is redisStore with redisstore.WithReplica, once its copy
// has loaded.
func (f *fixture) replicaStore() (*redisstore.Store, error) {
	n := f.stores.Add(1)
	s, err := redisstore.New(f.rc, redisstore.WithPrefix(f.prefix+"ours"+strconv.FormatInt(n, 10)+":"),
		redisstore.WithTimeout(5*time.Second), redisstore.WithLogger(discard), redisstore.WithReplica(0))
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); !s.ReplicaLoaded(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			_ = s.Close()
			return nil, errors.New("the replica did not load")
		}
	}
	return s, nil
}

// mint returns n new access tokens of the bench user's session.
func (f *fixture) mint(n int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, n)
	for range n {
		p, err := f.minter.Refresh(context.Background(), auth.RefreshRequest{RefreshToken: f.refresh})
		if err != nil {
			return nil, fmt.Errorf("minting a token: %w", err)
		}
		f.refresh = p.RefreshToken
		out = append(out, p.AccessToken)
	}
	return out, nil
}

// token mints one access token and returns it with its claims.
func (f *fixture) token(tb testing.TB) (string, *auth.Claims) {
	tb.Helper()
	toks, err := f.mint(1)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := f.minter.Authenticate(context.Background(), toks[0])
	if err != nil {
		tb.Fatal(err)
	}
	return toks[0], c
}

// tokenPool returns the poolSize tokens of the new-token benchmarks.
func (f *fixture) tokenPool(tb testing.TB) []string {
	tb.Helper()
	f.mu.Lock()
	have := f.pool != nil
	f.mu.Unlock()
	if !have {
		p, err := f.mint(poolSize)
		if err != nil {
			tb.Fatal(err)
		}
		f.mu.Lock()
		f.pool = p
		f.mu.Unlock()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pool
}

// denyKey is the hand-written deny-list's key for a token ID.
func (f *fixture) denyKey(jti string) string { return f.prefix + "denylist:" + jti }

// checkDenyList is the deny-list check people write by hand: one Redis GET
// of the token ID per request.
func (f *fixture) checkDenyList(ctx context.Context, jti string) error {
	err := f.rdb.Get(ctx, f.denyKey(jti)).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return nil
	case err == nil:
		return errRevoked
	default:
		return err
	}
}

// deny puts jti on the hand-written deny-list.
func (f *fixture) deny(ctx context.Context, jti string) error {
	return f.rdb.Set(ctx, f.denyKey(jti), "1", 15*time.Minute).Err()
}

// pkgzToken returns the go-pkgz/auth (HS256) token carrying c's claims.
func (f *fixture) pkgzToken(c *auth.Claims) (string, error) {
	return f.pkgz.TokenService().Token(token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.Issuer, Subject: c.UserID, Audience: jwt.ClaimStrings(c.Audience), ID: c.TokenID,
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt), NotBefore: jwt.NewNumericDate(c.NotBefore), IssuedAt: jwt.NewNumericDate(c.IssuedAt),
		},
		User: &token.User{
			ID: pkgzProvider + "_" + c.UserID, Name: "bench", Role: string(c.Role),
			Attributes: map[string]any{"sid": c.SessionID, "tid": c.TenantID},
		},
		AuthProvider: &token.AuthProvider{Name: pkgzProvider},
	})
}

// freshTokens hands out tokens the Authenticator in use has never seen: it
// cycles through the token pool and, each time the pool wraps, moves to a
// new Authenticator (empty verified-token cache) over a new deny-list (for
// redisstore a new key prefix, so rueidis' client-side cache holds none of
// its keys either). Only the token ID's look-up is new on each request;
// the session and user entries are cached after the first, as they would
// be in a service whose users come back.
type freshTokens struct {
	pool    []string
	newAuth func() (*auth.Authenticator, error)

	next   atomic.Int64
	mu     sync.Mutex
	epochs map[int64]*auth.Authenticator
}

func newFreshTokens(pool []string, newAuth func() (*auth.Authenticator, error)) *freshTokens {
	return &freshTokens{pool: pool, newAuth: newAuth, epochs: map[int64]*auth.Authenticator{}}
}

func (ft *freshTokens) get() (*auth.Authenticator, string, error) {
	i := ft.next.Add(1) - 1
	e, j := i/int64(len(ft.pool)), i%int64(len(ft.pool))
	ft.mu.Lock()
	defer ft.mu.Unlock()
	a, ok := ft.epochs[e]
	if !ok {
		var err error
		if a, err = ft.newAuth(); err != nil {
			return nil, "", err
		}
		ft.epochs[e] = a
		delete(ft.epochs, e-2) // keep memory bounded; e-1 may still be in use
	}
	return a, ft.pool[j], nil
}
