package dbtest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
)

// auditLog checks what the AuditLog suite leaves to the store: recording
// through audit.NewAsync, odd text, the subject-or-actor filter across
// pages, limits, cancellation, retention and failures.
func auditLog(t *testing.T, open Opener, st *bunstore.Store) {
	ctx := context.Background()
	all := func(t *testing.T, q auth.EventQuery) []auth.Event {
		t.Helper()
		q.Limit = bunstore.MaxAuditPageSize
		got, err := st.AuditEvents(ctx, q)
		require.NoError(t, err)
		return got
	}

	write := func(t *testing.T, es ...auth.Event) {
		t.Helper()
		require.NoError(t, st.WriteEvents(ctx, es))
	}

	t.Run("ThroughAsync", func(t *testing.T) {
		sink, err := audit.NewAsync(st, audit.AsyncConfig{Buffer: 512, Wait: -1, Logger: Logger()})
		require.NoError(t, err)
		tenant := newID()
		for i := range 300 {
			sink.Record(ctx, auth.Event{ID: newID(), Type: auth.EventLoginSucceeded, Time: time.Now(), TenantID: tenant, Reason: string(rune('a' + i%26))})
		}
		require.NoError(t, sink.Shutdown(ctx))
		require.Zero(t, sink.Dropped())
		require.Len(t, all(t, auth.EventQuery{TenantID: tenant}), 300, "every queued event is written by Shutdown")
	})

	t.Run("LargestBatch", func(t *testing.T) {
		tenant := newID()
		es := make([]auth.Event, bunstore.MaxAuditBatch)
		for i := range es {
			es[i] = auth.Event{ID: newID(), Type: auth.EventLogout, Time: time.Now(), TenantID: tenant}
		}
		write(t, es...)
		require.Len(t, all(t, auth.EventQuery{TenantID: tenant}), bunstore.MaxAuditBatch, "in one statement")
		require.ErrorIs(t, st.WriteEvents(ctx, append(es, auth.Event{ID: newID(), TenantID: tenant})), auth.ErrInvalidInput)
		require.ErrorIs(t, st.WriteEvents(ctx, []auth.Event{{ID: "not-a-uuid", TenantID: tenant}}), auth.ErrInvalidInput)
		require.Len(t, all(t, auth.EventQuery{TenantID: tenant}), bunstore.MaxAuditBatch, "a refused batch writes nothing")
	})

	t.Run("AwkwardText", func(t *testing.T) {
		tenant := "tenant 'x' ? $1 \\ not a uuid"
		e := auth.Event{
			Type: "custom.event", Time: time.Now().UTC().Truncate(time.Millisecond), TenantID: tenant, UserID: "user\x00id",
			SessionID: "s", IP: "::1", UserAgent: "Mozilla/5.0 'quoted' \xff\xfe ünïcødé 🎉", Reason: strings.Repeat("é", 1000),
		}
		write(t, e)
		got := all(t, auth.EventQuery{TenantID: tenant})
		require.Len(t, got, 1)
		require.Equal(t, "Mozilla/5.0 'quoted' \uFFFD ünïcødé 🎉", got[0].UserAgent, "invalid UTF-8 replaced")
		require.Equal(t, "user\uFFFDid", got[0].UserID, "NUL replaced")
		require.Equal(t, strings.Repeat("é", 512), got[0].Reason, "cut to 1 KiB at a character boundary")
		require.Equal(t, "s", got[0].SessionID)
		require.Empty(t, got[0].ActorID)
		require.True(t, e.Time.Equal(got[0].Time))
		require.Len(t, all(t, auth.EventQuery{TenantID: tenant, UserID: "user\x00id"}), 1, "found by the value it was recorded with")
		require.Len(t, all(t, auth.EventQuery{TenantID: tenant, Type: "custom.event"}), 1)
	})

	t.Run("SubjectAndActorAcrossPages", func(t *testing.T) {
		tenant, kate, admin := newID(), newID(), newID()
		var want []auth.EventType
		for i := range 30 {
			e := auth.Event{Type: auth.EventType("e" + string(rune('A'+i))), Time: time.Now(), TenantID: tenant}
			switch i % 5 {
			case 0: // kate acts on someone else
				e.UserID, e.ActorID = newID(), kate
			case 1: // kate is subject and actor: listed once
				e.UserID, e.ActorID = kate, kate
			case 2: // someone acts on kate
				e.UserID, e.ActorID = kate, admin
			case 3: // not about kate
				e.UserID, e.ActorID = admin, ""
			case 4: // kate, no actor
				e.UserID = kate
			}
			if i%5 != 3 {
				want = append([]auth.EventType{e.Type}, want...)
			}
			write(t, e)
		}
		var got []auth.EventType
		before := ""
		for {
			page, err := st.AuditEvents(ctx, auth.EventQuery{TenantID: tenant, UserID: kate, Before: before, Limit: 4})
			require.NoError(t, err)
			for _, e := range page {
				got = append(got, e.Type)
			}
			if len(page) < 4 {
				break
			}
			before = page[len(page)-1].ID
		}
		require.Equal(t, want, got, "newest first, each once, across pages")
		require.Len(t, all(t, auth.EventQuery{TenantID: tenant, UserID: admin}), 12)
		require.Len(t, all(t, auth.EventQuery{TenantID: tenant, UserID: kate, Type: "eB"}), 1)
	})

	t.Run("Limits", func(t *testing.T) {
		tenant := newID()
		for range bunstore.DefaultAuditPageSize + 5 {
			write(t, auth.Event{Type: auth.EventLogout, TenantID: tenant})
		}
		got, err := st.AuditEvents(ctx, auth.EventQuery{TenantID: tenant})
		require.NoError(t, err)
		require.Len(t, got, bunstore.DefaultAuditPageSize)
		for _, e := range got {
			require.WithinDuration(t, time.Now(), e.Time, time.Minute, "a zero time is the time of recording")
		}
		got, err = st.AuditEvents(ctx, auth.EventQuery{TenantID: tenant, Limit: 3})
		require.NoError(t, err)
		require.Len(t, got, 3)
	})

	t.Run("BadQueries", func(t *testing.T) {
		_, err := st.AuditEvents(ctx, auth.EventQuery{TenantID: auth.DefaultTenantID, Before: "x"})
		require.ErrorIs(t, err, auth.ErrInvalidInput)
		_, err = st.AuditEvents(ctx, auth.EventQuery{TenantID: auth.DefaultTenantID, Before: strings.ToUpper(newID())})
		require.ErrorIs(t, err, auth.ErrInvalidInput)
		got, err := st.AuditEvents(ctx, auth.EventQuery{})
		require.NoError(t, err)
		require.NotNil(t, got)
		require.Empty(t, got, "no tenant, no events")
	})

	t.Run("Retention", func(t *testing.T) {
		tenant := newID()
		write(t, auth.Event{Type: auth.EventUserRegistered, Time: time.Now(), TenantID: tenant})
		time.Sleep(5 * time.Millisecond)
		cut := time.Now()
		time.Sleep(5 * time.Millisecond)
		write(t, auth.Event{Type: auth.EventLogout, Time: time.Now(), TenantID: tenant})

		keep, err := bunstore.New(open(t), bunstore.WithSweepInterval(0), bunstore.WithLogger(Logger()))
		require.NoError(t, err)
		defer keep.Close()
		_, err = keep.Sweep(ctx, cut.Add(time.Millisecond))
		require.NoError(t, err)
		require.Len(t, all(t, auth.EventQuery{TenantID: tenant}), 2, "kept without a retention period")

		// (A short retention, so that the sweep deletes nothing else.)
		ret, err := bunstore.New(open(t), bunstore.WithSweepInterval(0), bunstore.WithAuditRetention(time.Millisecond), bunstore.WithLogger(Logger()))
		require.NoError(t, err)
		defer ret.Close()
		n, err := ret.Sweep(ctx, cut.Add(time.Millisecond))
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, 1)
		got := all(t, auth.EventQuery{TenantID: tenant})
		require.Len(t, got, 1, "events recorded before now minus the retention are deleted")
		require.Equal(t, auth.EventLogout, got[0].Type)
	})

	t.Run("ClosedDatabaseIsUnavailable", func(t *testing.T) {
		db := open(t)
		st2, err := bunstore.New(db, bunstore.WithSweepInterval(0), bunstore.WithLogger(Logger()))
		require.NoError(t, err)
		defer st2.Close()
		require.NoError(t, db.Close())
		RequireClean(t, st2.WriteEvents(ctx, []auth.Event{{Type: auth.EventLoginFailed, Time: time.Now(), TenantID: newID()}}), auth.ErrUnavailable)
	})
}

// lastQuery is a query hook that keeps the text of the last query.
type lastQuery struct {
	mu    sync.Mutex
	query string
}

func (h *lastQuery) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.query = e.Query
	return ctx
}

func (*lastQuery) AfterQuery(context.Context, *bun.QueryEvent) {}

// AuditQueries returns, by name, the SQL that AuditEvents sends for each
// of its query paths (a tenant's events, after a cursor, of a user, of a
// type, in a time window), captured with a query hook on a copy of db,
// so that a test can EXPLAIN it. The queries ask for a page of 50 events.
func AuditQueries(t testing.TB, db *bun.DB, tenant, user string, since, until time.Time) map[string]string {
	t.Helper()
	h := &lastQuery{}
	st, err := bunstore.New(db.WithQueryHook(h), bunstore.WithSweepInterval(0), bunstore.WithLogger(Logger()))
	require.NoError(t, err)
	defer st.Close()
	out := map[string]string{}
	for name, q := range map[string]auth.EventQuery{
		"tenant": {TenantID: tenant},
		"cursor": {TenantID: tenant, Before: newID()},
		"user":   {TenantID: tenant, UserID: user},
		"type":   {TenantID: tenant, Type: auth.EventLoginFailed},
		"time":   {TenantID: tenant, Since: since, Until: until},
	} {
		q.Limit = 51 // as auth.Authenticator.AuditEvents asks for a page of 50
		_, err := st.AuditEvents(context.Background(), q)
		require.NoError(t, err, name)
		h.mu.Lock()
		out[name] = h.query
		h.mu.Unlock()
	}
	return out
}
