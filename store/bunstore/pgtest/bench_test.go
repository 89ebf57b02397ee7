package pgtest_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/maestro-ml/auth/store/bunstore/internal/dbtest"
	"github.com/stretchr/testify/require"
)

// benchStore returns a store over this run's PostgreSQL schema.
func benchStore(b *testing.B) *bunstore.Store {
	b.Helper()
	db := pg.Open(b)
	require.NoError(b, migrate.Up(context.Background(), db, migrate.WithLogger(dbtest.Logger())))
	st, err := bunstore.New(db, bunstore.WithSweepInterval(0), bunstore.WithLogger(dbtest.Logger()))
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	return st
}

func benchUser(b *testing.B, st *bunstore.Store) *auth.User {
	b.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := &auth.User{
		ID: uuid.Must(uuid.NewV7()).String(), TenantID: auth.DefaultTenantID, Email: "bench-" + uuid.NewString() + "@example.com",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		Name:         "Kate", Role: auth.RoleViewer, Active: true, CreatedAt: now, UpdatedAt: now, Meta: json.RawMessage(`{"plan":"pro"}`),
	}
	require.NoError(b, st.CreateUser(context.Background(), u))
	return u
}

func BenchmarkUserByEmail(b *testing.B) {
	st := benchStore(b)
	u := benchUser(b, st)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.UserByEmail(ctx, u.Email); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRotateSession(b *testing.B) {
	st := benchStore(b)
	u := benchUser(b, st)
	ctx := context.Background()
	now := time.Now().UTC()
	hash := func(i int) []byte {
		h := sha256.Sum256([]byte(u.ID + strconv.Itoa(i)))
		return h[:]
	}
	s := &auth.Session{
		ID: uuid.Must(uuid.NewV7()).String(), UserID: u.ID, TenantID: u.TenantID, RefreshHash: hash(0),
		CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour),
	}
	require.NoError(b, st.CreateSession(ctx, s))
	from := s.RefreshHash
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		to := hash(i)
		if _, err := st.RotateSession(ctx, s.ID, auth.Rotation{From: from, To: to, At: now, IdleExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		from = to
	}
}

func BenchmarkRevoked(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	now := time.Now()
	q := auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
	require.NoError(b, st.Revoke(ctx, auth.Revocation{Kind: auth.RevocationUser, ID: q.UserID, At: now, ExpiresAt: now.Add(time.Hour)}))
	b.ReportAllocs()
	for b.Loop() {
		st, err := st.Revoked(ctx, q)
		if err != nil || st.UserCutoff.IsZero() {
			b.Fatal(st, err)
		}
	}
}

// BenchmarkWriteEvents writes batches of 1 and of 256 events (one
// statement each); compare ns/event.
func BenchmarkWriteEvents(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	for _, n := range []int{1, 256} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			es := make([]auth.Event, n)
			b.ReportAllocs()
			for b.Loop() {
				for i := range es {
					es[i] = auth.Event{
						ID: uuid.Must(uuid.NewV7()).String(), Type: auth.EventLoginSucceeded, Time: time.Now(),
						TenantID: auth.DefaultTenantID, UserID: uuid.Must(uuid.NewV7()).String(),
						SessionID: uuid.Must(uuid.NewV7()).String(), IP: "203.0.113.7",
						UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
					}
				}
				if err := st.WriteEvents(ctx, es); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// BenchmarkAuditEvents reads a page of 50 (asking for 51, as
// auth.Authenticator.AuditEvents does) from a tenant of 3000 events by 30
// users, eight types and an administrator's action every 50th.
func BenchmarkAuditEvents(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	tenant, admin := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	users := make([]string, 30)
	for i := range users {
		users[i] = uuid.Must(uuid.NewV7()).String()
	}
	types := []auth.EventType{auth.EventLoginSucceeded, auth.EventLoginFailed, auth.EventTokenRefreshed, auth.EventLogout,
		auth.EventPasswordChanged, auth.EventRoleChanged, auth.EventSessionRevoked, auth.EventEmailVerified}
	start := time.Now().Add(-3000 * time.Minute)
	var batch []auth.Event
	for i := range 3000 {
		e := auth.Event{Type: types[i%len(types)], Time: start.Add(time.Duration(i) * time.Minute), TenantID: tenant,
			UserID: users[i%len(users)], IP: "203.0.113.7", UserAgent: "Mozilla/5.0"}
		if i%50 == 0 {
			e.ActorID = admin
		}
		if batch = append(batch, e); len(batch) == bunstore.MaxAuditBatch {
			require.NoError(b, st.WriteEvents(ctx, batch))
			batch = batch[:0]
		}
	}
	require.NoError(b, st.WriteEvents(ctx, batch))
	_, err := pg.Open(b).ExecContext(ctx, "ANALYZE auth_audit_events")
	require.NoError(b, err)
	first, err := st.AuditEvents(ctx, auth.EventQuery{TenantID: tenant, Limit: 51})
	require.NoError(b, err)
	for name, q := range map[string]auth.EventQuery{
		"Tenant":    {TenantID: tenant},
		"NextPage":  {TenantID: tenant, Before: first[49].ID},
		"User":      {TenantID: tenant, UserID: users[7]},
		"Actor":     {TenantID: tenant, UserID: admin},
		"Type":      {TenantID: tenant, Type: auth.EventLoginFailed},
		"OldWindow": {TenantID: tenant, Since: start.Add(100 * time.Minute), Until: start.Add(200 * time.Minute)},
	} {
		q.Limit = 51
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				evs, err := st.AuditEvents(ctx, q)
				if err != nil || len(evs) == 0 {
					b.Fatal(len(evs), err)
				}
			}
		})
	}
}

// BenchmarkActionToken creates a token and consumes it: a password reset's
// store work.
func BenchmarkActionToken(b *testing.B) {
	st := benchStore(b)
	u := benchUser(b, st)
	ctx := context.Background()
	now := time.Now().UTC()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		h := sha256.Sum256([]byte(u.ID + strconv.Itoa(i)))
		t := &auth.ActionToken{Hash: h[:], Purpose: auth.PurposeResetPassword, UserID: u.ID, Email: u.Email, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := st.CreateActionToken(ctx, t); err != nil {
			b.Fatal(err)
		}
		if _, err := st.ConsumeActionToken(ctx, t.Purpose, t.Hash, now); err != nil {
			b.Fatal(err)
		}
	}
}
