package middleware

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ForwardedHeader names the request header in which trusted proxies
// report the addresses a request came through.
type ForwardedHeader int

const (
	// XForwardedFor is the de facto X-Forwarded-For header: a
	// comma-separated list of addresses, each proxy appending its peer.
	XForwardedFor ForwardedHeader = iota
	// Forwarded is the RFC 7239 Forwarded header; its for= parameters
	// are read, and obfuscated or "unknown" nodes end the search.
	Forwarded
)

// maxForwardedHops bounds how many entries of the header are examined.
const maxForwardedHops = 64

// maxForwardedBytes bounds the forwarding header lines read, checked
// before any parsing.
const maxForwardedBytes = maxForwardedHops * 64

// IPResolver finds the address of the client of a request behind zero or
// more reverse proxies. The zero value trusts no proxy and returns the
// connection's address. It is safe for concurrent use if not modified.
type IPResolver struct {
	// TrustedProxies are the addresses of your own reverse proxies and load
	// balancers. The forwarding header is read only when the connection
	// comes from one of them; anyone else can write any header.
	TrustedProxies []netip.Prefix
	// Header is the header your proxies append to. Configure the one they
	// actually maintain: a header they pass through untouched is written
	// entirely by the client. Zero: XForwardedFor.
	Header ForwardedHeader
}

// ParseTrustedProxies parses addresses ("10.0.0.1", "::1") and CIDR
// prefixes ("10.0.0.0/8", "fd00::/8") for IPResolver.TrustedProxies. It
// returns an error naming the first entry that is neither.
func ParseTrustedProxies(list ...string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("middleware: trusted proxy %q is neither an address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// unmappedBits converts the length of an IPv4-mapped IPv6 prefix to IPv4.
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// ClientIP returns the client's address. It is the connection's address
// (Request.RemoteAddr) unless that is a trusted proxy; then the forwarding
// header is read from right to left, skipping trusted proxies, and the
// first untrusted address is the client: the right-most untrusted address,
// the only one a client cannot forge, since every entry to its left is
// whatever the client sent (RFC 7239 §8.1). If an
// entry cannot be parsed, the last address vouched for is returned; if all
// are trusted, the left-most. IPv4-mapped IPv6 addresses are unmapped and
// zones dropped. The result is the zero Addr when RemoteAddr is not an IP
// address (a Unix socket).
func (p IPResolver) ClientIP(r *http.Request) netip.Addr {
	peer := parseNode(r.RemoteAddr)
	if !peer.IsValid() || !p.trusted(peer) {
		return peer
	}
	name := "X-Forwarded-For"
	if p.Header == Forwarded {
		name = "Forwarded"
	}
	lines := r.Header.Values(name)
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	if size > maxForwardedBytes {
		// More than maxForwardedHops entries could ever fill: only a client
		// padding the header sends that. Do not spend work on it, and trust
		// nobody beyond the proxy that passed it on.
		return peer
	}
	var hops []string
	if p.Header == Forwarded {
		hops = forwardedFor(lines)
	} else {
		for _, v := range lines {
			hops = append(hops, strings.Split(v, ",")...)
		}
	}
	ip := peer
	for i, n := len(hops)-1, 0; i >= 0 && n < maxForwardedHops; i, n = i-1, n+1 {
		h := parseNode(strings.TrimSpace(hops[i]))
		if !h.IsValid() {
			return ip
		}
		ip = h
		if !p.trusted(h) {
			return h
		}
	}
	return ip
}

func (p IPResolver) trusted(a netip.Addr) bool {
	for _, pr := range p.TrustedProxies {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// parseNode parses an address with or without a port, brackets and zone:
// "192.0.2.1", "192.0.2.1:80", "2001:db8::1", "[2001:db8::1]:80".
func parseNode(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
				a, err = netip.ParseAddr(s[1 : len(s)-1])
			}
			if err != nil {
				return netip.Addr{}
			}
		} else {
			a = ap.Addr()
		}
	}
	return a.Unmap().WithZone("")
}

// forwardedFor returns the for= node of each forwarded-element of the
// Forwarded header lines, in order; an element without one yields "".
// Parameter names are case-insensitive and values tokens or quoted strings
// (RFC 7239 §4).
func forwardedFor(lines []string) []string {
	var out []string
	for _, line := range lines {
		elems, ok := splitQuoted(line, ',')
		if !ok {
			// An unterminated quoted-string would swallow whatever a proxy
			// appended to the line (the client's own "for=..." would then
			// read as the right-most entry): the line is one unparseable
			// entry, which stops the walk at the last trusted address.
			out = append(out, "")
			continue
		}
		for _, elem := range elems {
			node := ""
			pairs, _ := splitQuoted(elem, ';')
			for _, pair := range pairs {
				name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(name), "for") {
					node = unquote(strings.TrimSpace(value))
				}
			}
			out = append(out, node)
		}
	}
	return out
}

// splitQuoted splits s at sep outside quoted strings; ok is false when a
// quoted string or an escape is left open at the end.
func splitQuoted(s string, sep byte) (parts []string, ok bool) {
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:]), !quoted && !escaped
}

// unquote returns the content of an RFC 9110 quoted-string, or s itself
// when it is not quoted.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
