// Package authtest holds acceptance suites that every implementation of the
// store interfaces of package auth must pass, in the manner of
// testing/fstest.TestFS. A store package runs them from its own tests:
//
//	func TestStore(t *testing.T) {
//		st := mystore.New(...)
//		authtest.TestStores(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st})
//	}
//
// The suites create their own tenants, users and sessions with random IDs
// and emails, so they can share a database with other tests and run twice
// against the same store.
package authtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
)

// Stores are the stores under test. Users, Tenants and Sessions are needed
// by the user and session suites (sessions refer to users); Revocations by
// the revocation suite. TestStores runs every suite whose stores are set.
type Stores struct {
	Users       auth.UserStore
	Tenants     auth.TenantStore
	Sessions    auth.SessionStore
	Revocations auth.RevocationStore
	// ActionTokens, if set with Users, Tenants, Sessions and Revocations, is
	// checked by TestActionTokenStore and TestLifecycle.
	ActionTokens auth.ActionTokenStore
	// AuditLog, if set, is checked by TestAuditLog.
	AuditLog AuditStore
	// Limiter, if set, is checked by TestLimiter. NewAuthenticator does
	// not use it: each Authenticator it builds counts attempts on its own.
	Limiter auth.Limiter
}

// TestStores runs TestUserStore, TestSessionStore, TestRevocationStore,
// TestLimiter, TestAuditLog, TestFlows, TestOutage (simulated),
// TestActionTokenStore, TestLifecycle and TestMFA for the stores that are set.
func TestStores(t *testing.T, st Stores) {
	t.Helper()
	if st.Users != nil && st.Tenants != nil {
		t.Run("UserStore", func(t *testing.T) { TestUserStore(t, st) })
	}
	if st.Users != nil && st.Tenants != nil && st.Sessions != nil {
		t.Run("SessionStore", func(t *testing.T) { TestSessionStore(t, st) })
	}
	if st.Revocations != nil {
		t.Run("RevocationStore", func(t *testing.T) { TestRevocationStore(t, st.Revocations) })
	}
	if st.AuditLog != nil {
		t.Run("AuditLog", func(t *testing.T) { TestAuditLog(t, st.AuditLog) })
	}
	if st.Limiter != nil {
		t.Run("Limiter", func(t *testing.T) { TestLimiter(t, st.Limiter) })
	}
	if st.Users != nil && st.Tenants != nil && st.Sessions != nil && st.Revocations != nil {
		t.Run("Flows", func(t *testing.T) { TestFlows(t, st) })
		t.Run("Outage", func(t *testing.T) { TestOutage(t, st, st.Limiter, nil) })
		if st.ActionTokens != nil {
			t.Run("ActionTokenStore", func(t *testing.T) { TestActionTokenStore(t, st) })
			t.Run("Lifecycle", func(t *testing.T) { TestLifecycle(t, st) })
			t.Run("MFA", func(t *testing.T) { TestMFA(t, st) })
		}
	}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func randomEmail() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "user-" + hex.EncodeToString(b[:]) + "@example.com"
}

func randomSlug() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t-" + hex.EncodeToString(b[:])
}

func randomHash() []byte {
	var b [32]byte
	_, _ = rand.Read(b[:])
	h := sha256.Sum256(b[:])
	return h[:]
}

// now returns the current time at millisecond precision, which every store
// must round-trip.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
