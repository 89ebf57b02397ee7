package auth

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokenCache(t *testing.T) {
	k, err := GenerateKey(EdDSA)
	require.NoError(t, err)
	ks, err := NewKeySet(k)
	require.NoError(t, err)
	c := newTokenCache(32)
	cl := &Claims{UserID: "u", TokenID: "j", Audience: []string{"api"}, ExpiresAt: testNow.Add(time.Minute)}
	c.put(ks, "tok", cl)

	got, ok := c.get(ks, "tok", testNow, 0)
	require.True(t, ok)
	require.Equal(t, cl, got)
	require.NotSame(t, cl, got, "callers get a copy")
	got.Audience[0] = "changed"
	again, _ := c.get(ks, "tok", testNow, 0)
	require.Equal(t, []string{"api"}, again.Audience, "a caller changing its claims does not change the cache")
	require.Equal(t, []string{"api"}, cl.Audience, "nor the claims it was filled from")

	_, ok = c.get(ks, "tok2", testNow, 0)
	require.False(t, ok, "only the exact token string")
	_, ok = c.get(ks, "tok", testNow.Add(time.Minute), 0)
	require.False(t, ok, "exp is checked on every hit")
	_, ok = c.get(ks, "tok", testNow.Add(time.Minute), time.Second)
	require.True(t, ok, "with the configured skew")
	other, err := NewKeySet(k)
	require.NoError(t, err)
	_, ok = c.get(other, "tok", testNow, 0)
	require.False(t, ok, "entries are tied to the key set they were verified with")

	for i := range 1000 {
		c.put(ks, fmt.Sprint("t", i), cl)
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].entries)
	}
	require.LessOrEqual(t, n, 32, "bounded")
	require.Nil(t, newTokenCache(0))
}
