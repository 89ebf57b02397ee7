package redisstore

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// The tests in this file use the shared Redis (AUTH_TEST_REDIS_ADDR,
// default 127.0.0.1:6379) under a prefix unique to the run; they fail if it
// cannot be reached. Tests that stop, pause or kill Redis start their own.

// unavailableMsg is the only shape an unavailability error's message may
// take: no Redis, driver or network text.
var unavailableMsg = regexp.MustCompile(`^auth: service unavailable(: context (deadline exceeded|canceled))? \(redisstore\.(Revoke|Revoked)\)$`)

// requireUnavailable checks that err is a fail-closed unavailability error.
func requireUnavailable(t testing.TB, err error) {
	t.Helper()
	require.ErrorIs(t, err, auth.ErrUnavailable)
	require.Regexp(t, unavailableMsg, err.Error())
}

// cached reports whether Redis would not be asked for any key of q: it
// replays the DoMultiCache that Revoked issues and checks every answer
// came from the client-side cache. It may run outside the test goroutine.
func cached(t testing.TB, s *Store, q auth.RevocationQuery) bool {
	t.Helper()
	var k queryKeys
	s.queryKeys(&q, &k)
	var cmds [3]rueidis.CacheableTTL
	s.commands(&k, &cmds)
	res := s.client.DoMultiCache(context.Background(), cmds[:k.n]...)
	for i := range res {
		if err := res[i].Error(); err != nil && !rueidis.IsRedisNil(err) {
			t.Errorf("cache probe: %v", err)
			return false
		}
		if !res[i].IsCacheHit() {
			return false
		}
	}
	return true
}

func TestNew(t *testing.T) {
	c := newClient(t, rueidis.ClientOption{}, sharedAddr())
	s, err := New(c)
	require.NoError(t, err)
	require.Equal(t, DefaultPrefix, s.prefix)
	require.Equal(t, DefaultCacheTTL, s.cacheTTL)
	require.Equal(t, DefaultTimeout, s.timeout)
	require.True(t, s.pinSlot, "a standalone client pins a query to one connection")

	_, err = New(nil)
	require.ErrorContains(t, err, "redisstore: New:")
	for _, tc := range []struct {
		name, option string
		opt          Option
	}{
		{"hash tag in prefix", "WithPrefix", WithPrefix("auth:{x}:")},
		{"zero cache TTL", "WithCacheTTL", WithCacheTTL(0)},
		{"negative TTL", "WithCacheTTL", WithCacheTTL(-time.Second)},
		{"zero timeout", "WithTimeout", WithTimeout(0)},
		{"negative timeout", "WithTimeout", WithTimeout(-time.Second)},
	} {
		_, err := New(c, tc.opt)
		require.ErrorContains(t, err, "redisstore: "+tc.option+":", "the error names the option: "+tc.name)
	}
}

// TestSharedRedis runs the acceptance suites against the shared Redis:
// the RevocationStore contract, and every Authenticator flow with memstore
// for users, tenants and sessions and this store for revocations.
func TestSharedRedis(t *testing.T) {
	s := newStore(t, newClient(t, rueidis.ClientOption{}, sharedAddr()))
	t.Run("RevocationStore", func(t *testing.T) { authtest.TestRevocationStore(t, s) })
	t.Run("Limiter", func(t *testing.T) { authtest.TestLimiter(t, s) })
	t.Run("LimiterDuringUserStoreOutage", func(t *testing.T) {
		mem := memstore.New()
		t.Cleanup(func() { _ = mem.Close() })
		authtest.TestOutage(t, authtest.Stores{Users: mem, Tenants: mem, Sessions: mem, Revocations: s}, s, nil)
	})
	t.Run("Flows", func(t *testing.T) {
		mem := memstore.New()
		t.Cleanup(func() { _ = mem.Close() })
		authtest.TestFlows(t, authtest.Stores{Users: mem, Tenants: mem, Sessions: mem, Revocations: s})
	})
	t.Run("WithoutClientCache", func(t *testing.T) {
		s := newStore(t, newClient(t, rueidis.ClientOption{DisableCache: true}, sharedAddr()))
		authtest.TestRevocationStore(t, s)
	})
}

func TestRevokeInvalid(t *testing.T) {
	s := newStore(t, newClient(t, rueidis.ClientOption{}, sharedAddr()))
	ctx := context.Background()
	now := time.Now()
	long := string(make([]byte, MaxIDBytes+1))
	for name, r := range map[string]auth.Revocation{
		"unknown kind":       {Kind: 0, ID: "x", At: now, ExpiresAt: now.Add(time.Hour)},
		"kind out of range":  {Kind: auth.RevocationUser + 1, ID: "x", At: now, ExpiresAt: now.Add(time.Hour)},
		"empty ID":           {Kind: auth.RevocationToken, At: now, ExpiresAt: now.Add(time.Hour)},
		"long ID":            {Kind: auth.RevocationToken, ID: long, At: now, ExpiresAt: now.Add(time.Hour)},
		"no expiry":          {Kind: auth.RevocationSession, ID: "x", At: now},
		"expiry before 1970": {Kind: auth.RevocationSession, ID: "x", At: now, ExpiresAt: time.Unix(-1, 0)},
		"user without At":    {Kind: auth.RevocationUser, ID: "x", ExpiresAt: now.Add(time.Hour)},
	} {
		require.ErrorIs(t, s.Revoke(ctx, r), auth.ErrInvalidInput, name)
	}
	st, err := s.Revoked(ctx, auth.RevocationQuery{TokenID: "x", SessionID: "x", UserID: "x"})
	require.NoError(t, err)
	require.Equal(t, auth.RevocationStatus{}, st, "nothing was written")
}

// TestEntries checks the stored form: key names, values in Unix
// milliseconds, expiry at ExpiresAt, and the script keeping the later time
// and the later expiry.
func TestEntries(t *testing.T) {
	c := newClient(t, rueidis.ClientOption{}, sharedAddr())
	s := newStore(t, c)
	ctx := context.Background()
	get := func(key string) (string, time.Time) {
		t.Helper()
		v, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
		require.NoError(t, err)
		ms, err := c.Do(ctx, c.B().Pexpiretime().Key(key).Build()).AsInt64()
		require.NoError(t, err)
		return v, time.UnixMilli(ms)
	}
	at := time.Now().Truncate(time.Millisecond)
	exp := at.Add(time.Hour)

	uid := uuid.NewString()
	userKey := s.prefix + "revoked:user:{" + uid + "}"
	require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: uid, At: at, ExpiresAt: exp}))
	v, e := get(userKey)
	require.Equal(t, strconv.FormatInt(at.UnixMilli(), 10), v)
	require.Equal(t, exp.UnixMilli(), e.UnixMilli())

	// An earlier cutoff with a later expiry: the cutoff stays, the expiry moves.
	require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: uid, At: at.Add(-time.Minute), ExpiresAt: exp.Add(time.Hour)}))
	v, e = get(userKey)
	require.Equal(t, strconv.FormatInt(at.UnixMilli(), 10), v)
	require.Equal(t, exp.Add(time.Hour).UnixMilli(), e.UnixMilli())

	// A later cutoff with an earlier expiry: the cutoff moves, the expiry stays.
	require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: uid, At: at.Add(time.Minute), ExpiresAt: exp}))
	v, e = get(userKey)
	require.Equal(t, strconv.FormatInt(at.Add(time.Minute).UnixMilli(), 10), v)
	require.Equal(t, exp.Add(time.Hour).UnixMilli(), e.UnixMilli())

	// Tokens and sessions keep the later expiry too.
	sid := uuid.NewString()
	sessionKey := s.prefix + "revoked:session:{" + sid + "}"
	require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationSession, ID: sid, At: at, ExpiresAt: exp}))
	require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationSession, ID: sid, At: at, ExpiresAt: at.Add(time.Minute)}))
	_, e = get(sessionKey)
	require.Equal(t, exp.UnixMilli(), e.UnixMilli())

	jti := uuid.NewString()
	require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: jti, At: at, ExpiresAt: exp}))
	v, e = get(s.prefix + "revoked:token:{" + jti + "}")
	require.Equal(t, strconv.FormatInt(at.UnixMilli(), 10), v)
	require.Equal(t, exp.UnixMilli(), e.UnixMilli())

	// An entry whose expiry has passed is not kept.
	old := uuid.NewString()
	require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: old, At: at.Add(-time.Hour), ExpiresAt: at.Add(-time.Minute)}))
	st, err := s.Revoked(ctx, auth.RevocationQuery{TokenID: old})
	require.NoError(t, err)
	require.False(t, st.TokenRevoked)
}

// TestCache checks that a repeated query is answered from the client-side
// cache, and that a revocation through the same store is seen at once.
func TestCache(t *testing.T) {
	s := newStore(t, newClient(t, rueidis.ClientOption{}, sharedAddr()))
	ctx := context.Background()
	q := auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
	st, err := s.Revoked(ctx, q)
	require.NoError(t, err)
	require.Equal(t, auth.RevocationStatus{}, st)
	require.True(t, cached(t, s, q), "the second look-up is served from the cache")

	at := time.Now().Truncate(time.Millisecond)
	require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: q.UserID, At: at, ExpiresAt: at.Add(time.Hour)}))
	require.Eventually(t, func() bool {
		st, err := s.Revoked(ctx, q)
		return err == nil && st.UserCutoff.Equal(at)
	}, time.Second, time.Millisecond)
	// Caching resumes. One probe may miss: the write went over one of the
	// client's multiplexed connections (rueidis picks one at random) and
	// the invalidation reaches the caching one on its own schedule, so
	// the entry can be dropped once more after the read that saw the new
	// value; CI saw that once in many runs. Each probe caches again.
	require.Eventually(t, func() bool { return cached(t, s, q) }, time.Second, time.Millisecond,
		"the new answer is cached again")
	st, err = s.Revoked(ctx, q)
	require.NoError(t, err)
	require.True(t, st.UserCutoff.Equal(at), "and the cached answer is the new one")
}

// TestMalformedEntry: an entry the store cannot interpret fails closed.
func TestMalformedEntry(t *testing.T) {
	c := newClient(t, rueidis.ClientOption{}, sharedAddr())
	s := newStore(t, c)
	ctx := context.Background()
	uid, jti := uuid.NewString(), uuid.NewString()
	require.NoError(t, c.Do(ctx, c.B().Set().Key(s.userPrefix+uid+"}").Value("not a time").Ex(time.Minute).Build()).Error())
	_, err := s.Revoked(ctx, auth.RevocationQuery{TokenID: uuid.NewString(), UserID: uid})
	requireUnavailable(t, err)

	require.NoError(t, c.Do(ctx, c.B().Lpush().Key(s.tokenPrefix+jti+"}").Element("x").Build()).Error())
	require.NoError(t, c.Do(ctx, c.B().Expire().Key(s.tokenPrefix+jti+"}").Seconds(60).Build()).Error())
	_, err = s.Revoked(ctx, auth.RevocationQuery{TokenID: jti})
	requireUnavailable(t, err)
	err = s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: jti, At: time.Now(), ExpiresAt: time.Now().Add(time.Minute)})
	requireUnavailable(t, err)
}

// TestCanceled: a caller's cancelled context fails the check, closed.
func TestCanceled(t *testing.T) {
	s := newStore(t, newClient(t, rueidis.ClientOption{}, sharedAddr()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Revoked(ctx, auth.RevocationQuery{TokenID: uuid.NewString()})
	requireUnavailable(t, err)
	require.ErrorIs(t, err, context.Canceled)
	err = s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: uuid.NewString(), At: time.Now(), ExpiresAt: time.Now().Add(time.Minute)})
	requireUnavailable(t, err)
	require.ErrorIs(t, err, context.Canceled)
}

// TestNoGoroutineLeak: the store starts no goroutine; once the client is
// closed, every goroutine it started is gone.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{sharedAddr()}})
	require.NoError(t, err)
	s, err := New(c, WithPrefix(randomPrefix(t)))
	require.NoError(t, err)
	ctx := context.Background()
	for range 100 {
		q := auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
		require.NoError(t, s.Revoke(ctx, auth.Revocation{Kind: auth.RevocationToken, ID: q.TokenID, At: time.Now(), ExpiresAt: time.Now().Add(time.Second)}))
		_, err := s.Revoked(ctx, q)
		require.NoError(t, err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCallCtx(t *testing.T) {
	t.Run("DeadlineWithoutTimer", func(t *testing.T) {
		c := newCallCtx(context.Background(), 20*time.Millisecond)
		defer c.release()
		d, ok := c.Deadline()
		require.True(t, ok)
		require.WithinDuration(t, time.Now().Add(20*time.Millisecond), d, 10*time.Millisecond)
		require.NoError(t, c.Err())
		require.False(t, c.armed.Load(), "Err and Deadline arm nothing")
		time.Sleep(25 * time.Millisecond)
		require.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	})
	t.Run("DoneFiresAtDeadline", func(t *testing.T) {
		c := newCallCtx(context.Background(), 20*time.Millisecond)
		defer c.release()
		select {
		case <-c.Done():
		case <-time.After(time.Second):
			t.Fatal("Done did not close at the deadline")
		}
		require.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	})
	t.Run("ParentDeadlineWins", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		c := newCallCtx(parent, time.Hour)
		defer c.release()
		pd, _ := parent.Deadline()
		d, _ := c.Deadline()
		require.Equal(t, pd, d)
	})
	t.Run("ParentCancel", func(t *testing.T) {
		type key struct{}
		parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
		c := newCallCtx(parent, time.Hour)
		defer c.release()
		require.Equal(t, "v", c.Value(key{}))
		done := c.Done()
		require.Equal(t, "v", c.Value(key{}))
		cancel()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatal("Done did not close on parent cancellation")
		}
		require.ErrorIs(t, c.Err(), context.Canceled)
	})
	t.Run("ParentCanceledBeforeArm", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		cancel()
		c := newCallCtx(parent, time.Hour)
		defer c.release()
		require.ErrorIs(t, c.Err(), context.Canceled)
	})
	t.Run("Derived", func(t *testing.T) {
		c := newCallCtx(context.Background(), time.Hour)
		child, cancel := context.WithCancel(c)
		defer cancel()
		c.release()
		select {
		case <-child.Done():
		case <-time.After(time.Second):
			t.Fatal("release did not cancel a derived context")
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := newCallCtx(context.Background(), time.Hour)
		done := make(chan (<-chan struct{}), 8)
		for range 8 {
			go func() { _ = c.Err(); done <- c.Done() }()
		}
		first := <-done
		for range 7 {
			require.Equal(t, first, <-done, "one Done channel")
		}
		c.release()
		<-first
		require.True(t, errors.Is(c.Err(), context.Canceled))
	})
}

// TestLimiterAcrossInstances shows that two stores on separate clients,
// as two server instances would have, share one limit.
func TestLimiterAcrossInstances(t *testing.T) {
	a := newStore(t, newClient(t, rueidis.ClientOption{}, sharedAddr()))
	b, err := New(newClient(t, rueidis.ClientOption{}, sharedAddr()), WithPrefix(a.prefix))
	require.NoError(t, err)
	ctx := context.Background()
	key := "login:acct:" + uuid.NewString() + "@example.com"
	l := auth.Limit{Burst: 4, Period: time.Hour}
	allowed := 0
	for i := range 10 {
		s := a
		if i%2 == 1 {
			s = b
		}
		ok, retry, err := s.Allow(ctx, key, l)
		require.NoError(t, err)
		if ok {
			allowed++
		} else {
			require.InDelta(t, float64(15*time.Minute), float64(retry), float64(2*time.Second))
		}
	}
	require.Equal(t, 4, allowed)
	require.NoError(t, b.Reset(ctx, key))
	ok, _, err := a.Allow(ctx, key, l)
	require.NoError(t, err)
	require.True(t, ok, "a reset through one instance frees the key for all")

	_, _, err = a.Allow(ctx, "", l)
	require.ErrorIs(t, err, auth.ErrInvalidInput)
	_, _, err = a.Allow(ctx, key, auth.Limit{Burst: 1000, Period: time.Millisecond})
	require.ErrorIs(t, err, auth.ErrInvalidInput)
}

// TestCheckEvictionPolicy: a Redis that may evict keys is refused, since an
// evicted revocation reads as "not revoked".
func TestCheckEvictionPolicy(t *testing.T) {
	ctx := context.Background()
	require.NoError(t, newStore(t, newClient(t, rueidis.ClientOption{}, sharedAddr())).Check(ctx), "the shared Redis keeps what it is given")
	for _, policy := range []string{"volatile-lru", "allkeys-lru", "volatile-ttl"} {
		srv := startRedis(t, "--maxmemory", "64mb", "--maxmemory-policy", policy)
		err := newStore(t, newClient(t, rueidis.ClientOption{}, srv.Addr())).Check(ctx)
		require.ErrorContains(t, err, policy)
		require.ErrorContains(t, err, "noeviction")
	}
}
