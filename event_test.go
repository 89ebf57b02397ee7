package auth_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

type recorder struct {
	mu     sync.Mutex
	events []auth.Event
}

func (r *recorder) Record(_ context.Context, e auth.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// take returns the events recorded since the last call.
func (r *recorder) take() []auth.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func eventAuthenticator(t *testing.T, sink auth.EventSink) (*auth.Authenticator, *authtest.Clock) {
	t.Helper()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	clock := authtest.NewClock(time.Now().Truncate(time.Millisecond))
	return authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, clock, auth.Config{Events: sink, RefreshGrace: -1}), clock
}

// TestEvents performs every audited action once and checks that exactly one
// event of the right type, with the right fields, is recorded for it.
func TestEvents(t *testing.T) {
	rec := &recorder{}
	a, clock := eventAuthenticator(t, rec)
	client := auth.ClientInfo{IP: "192.0.2.10", UserAgent: "test-agent"}
	ctx := auth.NewClientContext(context.Background(), client)
	one := func(want auth.EventType) auth.Event {
		t.Helper()
		got := rec.take()
		require.Len(t, got, 1, "exactly one event for %s: %+v", want, got)
		require.Equal(t, want, got[0].Type)
		require.Equal(t, clock.Now(), got[0].Time)
		require.Equal(t, client.IP, got[0].IP)
		require.Equal(t, client.UserAgent, got[0].UserAgent)
		return got[0]
	}

	u, err := a.Register(ctx, auth.RegisterRequest{Email: "ev@example.com", Password: pw, Client: client})
	require.NoError(t, err)
	e := one(auth.EventUserRegistered)
	require.Equal(t, u.ID, e.UserID)
	require.Equal(t, u.TenantID, e.TenantID)

	_, _, err = a.Login(ctx, auth.LoginRequest{Email: "ev@example.com", Password: "wrong password!", Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	e = one(auth.EventLoginFailed)
	require.Equal(t, "bad_password", e.Reason)
	require.Equal(t, u.ID, e.UserID)

	_, _, err = a.Login(ctx, auth.LoginRequest{Email: "nobody@example.com", Password: pw, Client: client})
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	e = one(auth.EventLoginFailed)
	require.Equal(t, "unknown_user", e.Reason)
	require.Empty(t, e.UserID)

	p, _, err := a.Login(ctx, auth.LoginRequest{Email: "ev@example.com", Password: pw, Client: client})
	require.NoError(t, err)
	e = one(auth.EventLoginSucceeded)
	require.Equal(t, u.ID, e.UserID)
	require.Equal(t, p.SessionID, e.SessionID)

	p2, err := a.Refresh(ctx, auth.RefreshRequest{RefreshToken: p.RefreshToken, Client: client})
	require.NoError(t, err)
	e = one(auth.EventTokenRefreshed)
	require.Equal(t, p.SessionID, e.SessionID)

	_, err = a.Refresh(ctx, auth.RefreshRequest{RefreshToken: p.RefreshToken, Client: client})
	require.ErrorIs(t, err, auth.ErrRefreshReused)
	e = one(auth.EventRefreshReused)
	require.Equal(t, p.SessionID, e.SessionID)
	require.Equal(t, u.ID, e.UserID)
	require.Equal(t, p.SessionID, p2.SessionID)

	p3, _, err := a.Login(ctx, auth.LoginRequest{Email: "ev@example.com", Password: pw, Client: client})
	require.NoError(t, err)
	rec.take()
	c3, err := a.Authenticate(ctx, p3.AccessToken)
	require.NoError(t, err)
	require.Empty(t, rec.take(), "authenticating a request is not an audit event")

	require.NoError(t, a.RevokeToken(ctx, c3))
	require.Equal(t, c3.SessionID, one(auth.EventTokenRevoked).SessionID)

	require.NoError(t, a.Logout(ctx, c3))
	e = one(auth.EventLogout)
	require.Equal(t, c3.SessionID, e.SessionID)

	p4, _, err := a.Login(ctx, auth.LoginRequest{Email: "ev@example.com", Password: pw, Client: client})
	require.NoError(t, err)
	rec.take()
	require.NoError(t, a.RevokeSession(ctx, u.ID, p4.SessionID))
	require.Equal(t, p4.SessionID, one(auth.EventSessionRevoked).SessionID)

	require.NoError(t, a.RevokeOtherSessions(ctx, u.ID, p4.SessionID))
	require.Equal(t, "all_others", one(auth.EventSessionRevoked).Reason)

	require.NoError(t, a.LogoutAll(ctx, u.ID))
	require.Equal(t, u.TenantID, one(auth.EventLogoutAll).TenantID)

	// Administrative actions record the actor from the context's claims.
	admin, err := a.CreateUser(ctx, auth.CreateUserRequest{Email: "boss@example.com", Password: pw, Role: auth.RoleAdmin})
	require.NoError(t, err)
	require.Equal(t, "role admin", one(auth.EventUserCreated).Reason)
	actx := auth.NewContext(ctx, &auth.Claims{UserID: admin.ID, TenantID: admin.TenantID, Role: auth.RoleAdmin})
	editor, off, yes := auth.RoleEditor, false, true
	_, err = a.UpdateUser(actx, u.TenantID, u.ID, auth.UpdateUserRequest{Role: &editor})
	require.NoError(t, err)
	e = one(auth.EventRoleChanged)
	require.Equal(t, admin.ID, e.ActorID)
	require.Equal(t, u.ID, e.UserID)
	require.Equal(t, "viewer->editor", e.Reason)
	_, err = a.UpdateUser(actx, u.TenantID, u.ID, auth.UpdateUserRequest{Verified: &yes})
	require.NoError(t, err)
	require.Equal(t, "administrator", one(auth.EventEmailVerified).Reason)
	_, err = a.UpdateUser(actx, u.TenantID, u.ID, auth.UpdateUserRequest{Active: &off})
	require.NoError(t, err)
	require.Equal(t, "deactivated", one(auth.EventActivationChanged).Reason)
	_, err = a.UpdateUser(actx, u.TenantID, u.ID, auth.UpdateUserRequest{Role: &editor})
	require.NoError(t, err)
	require.Empty(t, rec.take(), "no change, no event")

	_, _, err = a.Login(ctx, auth.LoginRequest{Email: "ev@example.com", Password: pw, Client: client})
	require.ErrorIs(t, err, auth.ErrUserInactive)
	require.Equal(t, "inactive", one(auth.EventLoginFailed).Reason)

	for range 5 {
		_, _, _ = a.Login(ctx, auth.LoginRequest{Email: "boss@example.com", Password: "wrong password!", Client: client})
	}
	rec.take()
	_, _, err = a.Login(ctx, auth.LoginRequest{Email: "boss@example.com", Password: pw, Client: client})
	require.ErrorIs(t, err, auth.ErrRateLimited)
	e = one(auth.EventLoginLocked)
	require.Equal(t, admin.ID, e.UserID)
	require.NoError(t, a.Unlock(actx, "boss@example.com"))
	require.Equal(t, admin.ID, one(auth.EventUnlocked).UserID)

	k, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	ks, err := auth.NewKeySet(k, a.Keys().SigningKey())
	require.NoError(t, err)
	require.NoError(t, a.SetKeys(ks))
	got := rec.take()
	require.Len(t, got, 1)
	require.Equal(t, auth.EventKeysRotated, got[0].Type)
	require.Contains(t, got[0].Reason, k.ID())
}

type panickingSink struct{}

func (panickingSink) Record(context.Context, auth.Event) { panic("sink down") }

// blockingWriter is an audit store that hangs until released.
type blockingWriter struct{ release chan struct{} }

func (b blockingWriter) WriteEvents(ctx context.Context, _ []auth.Event) error {
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestFailingSinkNeverFailsTheAction(t *testing.T) {
	ctx := context.Background()
	a, _ := eventAuthenticator(t, panickingSink{})
	_, err := a.Register(ctx, auth.RegisterRequest{Email: "p@example.com", Password: pw})
	require.NoError(t, err)
	_, _, err = a.Login(ctx, auth.LoginRequest{Email: "p@example.com", Password: pw})
	require.NoError(t, err)

	slow := blockingWriter{release: make(chan struct{})}
	async, err := audit.NewAsync(slow, audit.AsyncConfig{Buffer: 2, Wait: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	b, _ := eventAuthenticator(t, async)
	done := make(chan error, 1)
	go func() {
		_, err := b.Register(ctx, auth.RegisterRequest{Email: "s@example.com", Password: pw})
		if err == nil {
			for range 5 {
				_, _, err = b.Login(ctx, auth.LoginRequest{Email: "s@example.com", Password: pw})
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("a blocked sink delayed the flows")
	}
	require.Positive(t, async.Dropped(), "events beyond the buffer are dropped, not waited for")
	close(slow.release)
	require.NoError(t, async.Shutdown(ctx))
}

func TestAuditEvents(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil, auth.Config{Events: st, AuditLog: st})
	u, err := a.Register(ctx, auth.RegisterRequest{Email: "audit@example.com", Password: pw})
	require.NoError(t, err)
	for range 3 {
		_, _, err = a.Login(ctx, auth.LoginRequest{Email: "audit@example.com", Password: pw})
		require.NoError(t, err)
	}
	page, next, err := a.AuditEvents(ctx, auth.EventQuery{TenantID: u.TenantID, Limit: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	require.Equal(t, auth.EventLoginSucceeded, page[0].Type)
	require.NotEmpty(t, next)
	rest, next, err := a.AuditEvents(ctx, auth.EventQuery{TenantID: u.TenantID, Before: next})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, rest, 2)
	require.Equal(t, auth.EventUserRegistered, rest[1].Type, "who did what, and when: the whole history")

	other, _, err := a.AuditEvents(ctx, auth.EventQuery{TenantID: "00000000-0000-0000-0000-000000000099"})
	require.NoError(t, err)
	require.Empty(t, other, "scoped to the tenant")
	_, _, err = a.AuditEvents(ctx, auth.EventQuery{TenantID: u.TenantID, Limit: 500})
	require.ErrorIs(t, err, auth.ErrInvalidInput)

	plain := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil, auth.Config{})
	_, _, err = plain.AuditEvents(ctx, auth.EventQuery{TenantID: u.TenantID})
	require.ErrorIs(t, err, auth.ErrNotConfigured)
}

// TestDefaultEventSink: with neither Config.Logger nor Config.Events set,
// events go to slog.Default() (this test swaps it for a buffer).
func TestDefaultEventSink(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	key, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	keys, err := auth.NewKeySet(key)
	require.NoError(t, err)
	a, err := auth.New(auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st})
	require.NoError(t, err)
	_, err = a.Register(context.Background(), auth.RegisterRequest{Email: "default@example.com", Password: pw})
	require.NoError(t, err)
	require.Contains(t, buf.String(), "event=user.registered")
	require.NotContains(t, buf.String(), "panicked")
}
