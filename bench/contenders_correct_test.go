package bench

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/maestro-ml/auth"
)

// TestContenders checks that every contender of the benchmarks does the
// work it is timed for: it accepts the benchmarks' kind of token and
// rejects a revoked one on its next use (the verify-only contenders, which
// have no deny-list, reject a tampered one instead).
func TestContenders(t *testing.T) {
	f := env(t)
	ctx := context.Background()

	t.Run("verify-only", func(t *testing.T) {
		tok, _ := f.token(t)
		bad := tamper(tok)
		if !ed25519Verify(f.pub, tok)() || ed25519Verify(f.pub, bad)() {
			t.Error("ed25519.Verify: valid token refused or tampered token accepted")
		}
		j := newJWXParse(f)
		if err := j.parse(tok); err != nil {
			t.Errorf("jwx: %v", err)
		}
		if j.parse(bad) == nil {
			t.Error("jwx accepted a tampered token")
		}
		h := newHandWritten(f)
		if c, err := h.parse(tok); err != nil || c.SessionID == "" || c.Role == "" {
			t.Errorf("golang-jwt: %v (claims %+v)", err, c)
		}
		if _, err := h.parse(bad); err == nil {
			t.Error("golang-jwt accepted a tampered token")
		}
	})

	t.Run("golang-jwt+redis-get", func(t *testing.T) {
		h := newHandWritten(f)
		tok, c := f.token(t)
		handler := h.middleware(final)
		if _, err := h.authenticate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if code := serve(handler, bearerRequest(tok)); code != http.StatusNoContent {
			t.Fatalf("valid token: status %d", code)
		}
		if err := f.deny(ctx, c.TokenID); err != nil {
			t.Fatal(err)
		}
		if _, err := h.authenticate(ctx, tok); !errors.Is(err, errRevoked) {
			t.Errorf("revoked token: %v, want errRevoked", err)
		}
		if code := serve(handler, bearerRequest(tok)); code != http.StatusUnauthorized {
			t.Errorf("revoked token: status %d", code)
		}
		if code := serve(handler, bearerRequest(tamper(tok))); code != http.StatusUnauthorized {
			t.Errorf("tampered token: status %d", code)
		}
	})

	t.Run("go-pkgz-auth", func(t *testing.T) {
		_, c := f.token(t)
		tok, err := f.pkgzToken(c)
		if err != nil {
			t.Fatal(err)
		}
		handler := f.pkgzHandler()
		if code := serve(handler, pkgzRequest(tok)); code != http.StatusNoContent {
			t.Fatalf("valid token: status %d", code)
		}
		if err := f.deny(ctx, c.TokenID); err != nil {
			t.Fatal(err)
		}
		if code := serve(handler, pkgzRequest(tok)); code != http.StatusUnauthorized {
			t.Errorf("revoked token: status %d", code)
		}
	})

	for _, oc := range []struct {
		name      string
		redis     bool
		cacheSize int
	}{
		{"ours-first-seen-memstore", false, -1},
		{"ours-repeat-memstore", false, 0},
		{"ours-first-seen-redisstore", true, -1},
		{"ours-repeat-redisstore", true, 0},
	} {
		t.Run(oc.name, func(t *testing.T) {
			var rev auth.RevocationStore = f.mem
			if oc.redis {
				s, err := f.redisStore()
				if err != nil {
					t.Fatal(err)
				}
				rev = s
			}
			a, err := f.ours(rev, oc.cacheSize)
			if err != nil {
				t.Fatal(err)
			}
			handler := oursHandler(a)
			tok, _ := f.token(t)
			c, err := a.Authenticate(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Authenticate(ctx, tok); err != nil { // repeat: from the cache if any
				t.Fatal(err)
			}
			if code := serve(handler, bearerRequest(tok)); code != http.StatusNoContent {
				t.Fatalf("valid token: status %d", code)
			}
			if err := a.RevokeToken(ctx, c); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Authenticate(ctx, tok); !errors.Is(err, auth.ErrTokenRevoked) {
				t.Errorf("revoked token: %v, want ErrTokenRevoked", err)
			}
			if code := serve(handler, bearerRequest(tok)); code != http.StatusUnauthorized {
				t.Errorf("revoked token: status %d", code)
			}
		})
	}

	t.Run("fresh-tokens", func(t *testing.T) {
		toks, err := f.mint(3)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		ft := newFreshTokens(toks, func() (*auth.Authenticator, error) { n++; return f.ours(f.mem, 0) })
		seen := map[string]bool{}
		for range 7 {
			a, tok, err := ft.get()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Authenticate(ctx, tok); err != nil {
				t.Fatal(err)
			}
			seen[tok] = true
		}
		if len(seen) != 3 || n != 3 {
			t.Errorf("%d tokens over %d Authenticators, want 3 over 3", len(seen), n)
		}
	})
}

// tamper changes one character in the middle of the token's claims.
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
