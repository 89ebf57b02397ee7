package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func benchToken(b *testing.B) (*KeySet, string) {
	b.Helper()
	k, err := GenerateKey(EdDSA)
	if err != nil {
		b.Fatal(err)
	}
	ks, err := NewKeySet(k)
	if err != nil {
		b.Fatal(err)
	}
	now := testNow
	tok, err := signAccessToken(k, &Claims{
		UserID: "0190f1e2-0000-7000-8000-000000000001", TenantID: DefaultTenantID, SessionID: "0190f1e2-0000-7000-8000-000000000002",
		TokenID: "0190f1e2-0000-7000-8000-000000000003", Role: RoleEditor, Issuer: "https://issuer.example", Audience: []string{"api"},
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(15 * time.Minute),
	})
	if err != nil {
		b.Fatal(err)
	}
	return ks, tok
}

// BenchmarkEd25519Verify is the floor: one raw signature check of the same
// token, no parsing.
func BenchmarkEd25519Verify(b *testing.B) {
	ks, tok := benchToken(b)
	pub := ks.SigningKey().public.(ed25519.PublicKey)
	i := strings.LastIndexByte(tok, '.')
	msg := []byte(tok[:i])
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkParseAccessToken(b *testing.B) {
	ks, tok := benchToken(b)
	rules := testRules()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseAccessToken(ks, rules, tok, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignAccessToken(b *testing.B) {
	ks, _ := benchToken(b)
	c := &Claims{UserID: "u", TenantID: "t", SessionID: "s", TokenID: "j", Role: RoleViewer, Issuer: "i", Audience: []string{"a"}, IssuedAt: testNow, NotBefore: testNow, ExpiresAt: testNow.Add(time.Minute)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signAccessToken(ks.SigningKey(), c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	h, err := NewHasher(HasherConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
