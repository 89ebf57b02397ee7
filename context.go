package auth

import (
	"context"
	"strings"
	"unicode"
)

type claimsKey struct{}

// NewContext returns a copy of ctx carrying the claims of an authenticated
// request.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims stored by NewContext, if any.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

type clientKey struct{}

// NewClientContext returns a copy of ctx carrying the client of the current
// request; events and sessions created under it record its IP and user
// agent. The middleware package sets it.
func NewClientContext(ctx context.Context, c ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFromContext returns the client stored by NewClientContext.
func ClientFromContext(ctx context.Context) (ClientInfo, bool) {
	c, ok := ctx.Value(clientKey{}).(ClientInfo)
	return c, ok
}

// ClientInfo describes the client of a login or refresh, kept on the session.
type ClientInfo struct {
	UserAgent string
	IP        string
}

// clientString makes client-supplied text safe to store: valid UTF-8,
// no control characters, at most n bytes.
func clientString(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") // drops a rune cut in half
	}
	return s
}
