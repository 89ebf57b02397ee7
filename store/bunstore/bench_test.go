package bunstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
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
	require.NoError(b, st.Revoke(ctx, auth.Revocation{Kind: auth.RevokeUser, ID: q.UserID, At: now, ExpiresAt: now.Add(time.Hour)}))
	b.ReportAllocs()
	for b.Loop() {
		st, err := st.Revoked(ctx, q)
		if err != nil || st.UserCutoff.IsZero() {
			b.Fatal(st, err)
		}
	}
}
