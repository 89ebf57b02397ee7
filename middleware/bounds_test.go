package middleware_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/middleware"
	"github.com/stretchr/testify/require"
)

// occupy keeps the only slot of h (MaxConcurrent 1) taken until the test
// ends: a goroutine verifies passwords against a stored hash whose cost
// (t=64, 32 times the default) makes each verification hold the slot for
// hundreds of milliseconds. It returns wait, which returns once the slot
// is certainly held: a probe of its own gets auth.ErrBusy.
func occupy(t *testing.T, h *auth.Hasher) (wait func()) {
	t.Helper()
	salt, key := make([]byte, 16), make([]byte, 32)
	_, _ = rand.Read(salt)
	_, _ = rand.Read(key)
	enc := base64.RawStdEncoding
	heavy := "$argon2id$v=19$m=19456,t=64,p=1$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			_, _, _ = h.Verify(ctx, "x", heavy)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return func() {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; {
			if _, err := h.Hash(ctx, "probe"); errors.Is(err, auth.ErrBusy) {
				return
			}
			require.True(t, time.Now().Before(deadline), "the hasher never got busy")
		}
	}
}

// With every hashing slot taken, requests that need a hash fail fast with
// 503 busy and Retry-After (fail closed, bounded memory: ASVS 5.0 V6.3),
// and requests whose body is over the limit get 413 without waiting for
// a slot: the size is checked before any hashing.
func TestHashingBoundsAndBodyLimit(t *testing.T) {
	h, err := auth.NewHasher(auth.HasherConfig{MaxConcurrent: 1, QueueTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	e := newEnvWith(t, envConfig{cfg: auth.Config{Hasher: h}, lifecycle: true})
	u, pair := e.user(auth.RoleViewer, "")
	wait := occupy(t, h)

	big := strings.Repeat("x", middleware.DefaultBodyLimit)
	for _, tc := range []struct {
		path, token string
		body        map[string]string
	}{
		{"/login", "", map[string]string{"email": u.Email, "password": big}},
		{"/register", "", map[string]string{"email": newEmail(), "password": big}},
		{"/password/reset", "", map[string]string{"token": strings.Repeat("A", 43), "password": big}},
		{"/password/change", pair.AccessToken, map[string]string{"current_password": password, "new_password": big}},
		{"/email/change", pair.AccessToken, map[string]string{"password": big, "new_email": newEmail()}},
	} {
		wait() // a handler that hashed first would get 503 busy
		problem(t, e.call("POST", prefix+tc.path, tc.token, tc.body), 413, "body_too_large")
	}

	// A request that needs a hash while the slot stays taken: 503 busy.
	// The occupant holds the slot for hundreds of milliseconds and the
	// request follows the probe at once; should the slot be free in
	// between all the same, the next attempt finds it taken.
	busy := func(do func() *httptest.ResponseRecorder) *httptest.ResponseRecorder {
		var rec *httptest.ResponseRecorder
		for range 5 {
			wait()
			if rec = do(); rec.Code == http.StatusServiceUnavailable {
				break
			}
		}
		return rec
	}
	for name, do := range map[string]func() *httptest.ResponseRecorder{
		"login": func() *httptest.ResponseRecorder {
			return e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password})
		},
		"register": func() *httptest.ResponseRecorder {
			return e.call("POST", prefix+"/register", "", map[string]string{"email": newEmail(), "password": password})
		},
		"change password": func() *httptest.ResponseRecorder {
			return e.call("POST", prefix+"/password/change", pair.AccessToken, map[string]string{"current_password": password, "new_password": password + "!"})
		},
	} {
		rec := busy(do)
		problem(t, rec, 503, "busy")
		require.Equal(t, "1", rec.Header().Get("Retry-After"), name)
	}
}

// perRequest serves r on h n times and returns the average number of heap
// allocations and bytes allocated per request.
func perRequest(h http.Handler, r *http.Request, n int) (allocs, bytes float64) {
	h.ServeHTTP(httptest.NewRecorder(), r) // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(n), float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// A huge token is refused before any work proportional to its size: no
// copy, split or decode of it. Allocation counts, not timings, so the
// check is deterministic.
func TestHugeTokensRefusedCheaply(t *testing.T) {
	f := newForger(t)
	e := newEnvWith(t, envConfig{cfg: auth.Config{Keys: f.keys}})
	_, pair := e.user(auth.RoleViewer, "")
	f.useClaims(pair.AccessToken)
	quiet := middleware.WithLogger(slog.New(slog.DiscardHandler))
	h := newHandler(t, e.a, quiet).Authenticate(http.HandlerFunc(whoami))
	serve := func(token string) *httptest.ResponseRecorder {
		r := req("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	request := func(token string) *http.Request {
		r := req("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return r
	}

	// The baseline: a small invalid token.
	baseAllocs, baseBytes := perRequest(h, request("a.b.c"), 50)
	// A validly signed token of 256 KiB (32 times the cap): parsing it
	// would decode its signature input and payload, hundreds of KiB.
	big := f.forge(f.header, with(f.claims, map[string]any{"pad": strings.Repeat("x", 256<<10)}), f.edSign)
	dots := strings.Repeat(".", 100_000)
	for _, tc := range []struct{ name, token string }{{"100,000 dots", dots}, {"256 KiB signed token", big}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(tc.token)
			problem(t, rec, 401, "invalid_token")
			require.Equal(t, `Bearer error="invalid_token"`, rec.Header().Get("WWW-Authenticate"))
			allocs, bytes := perRequest(h, request(tc.token), 50)
			t.Logf("%d bytes: %.1f allocs, %.0f bytes per request (baseline %.1f allocs, %.0f bytes)",
				len(tc.token), allocs, bytes, baseAllocs, baseBytes)
			require.Less(t, bytes, baseBytes+4096, "work proportional to the token's size")
			require.Less(t, allocs, baseAllocs+8)
		})
	}
	// Just under the cap, a valid token is accepted: the cap is the only
	// thing refusing the big one.
	pad := (auth.DefaultMaxTokenBytes-len(f.valid()))*3/4 - 32 // base64 grows it by 4/3
	fits := f.forge(f.header, with(f.claims, map[string]any{"pad": strings.Repeat("x", pad)}), f.edSign)
	require.LessOrEqual(t, len(fits), auth.DefaultMaxTokenBytes)
	require.Greater(t, len(fits), auth.DefaultMaxTokenBytes-64)
	require.Equal(t, 200, serve(fits).Code)
}
