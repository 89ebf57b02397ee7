package audit_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

// faultyWriter writes to a memstore, failing as told: down answers
// ErrUnavailable without writing; lostReplies writes and then answers
// ErrUnavailable, as a connection lost after the commit would; refuse
// turns events of that type down for good.
type faultyWriter struct {
	st *memstore.Store

	mu          sync.Mutex
	down        bool
	lostReplies int
	refuse      auth.EventType
	delay       time.Duration
	sizes       []int
}

var errDown = errors.Join(errors.New("audit store down"), auth.ErrUnavailable)

func (w *faultyWriter) WriteEvents(ctx context.Context, es []auth.Event) error {
	w.mu.Lock()
	w.sizes = append(w.sizes, len(es))
	down, delay := w.down, w.delay
	lost := w.lostReplies > 0
	if lost {
		w.lostReplies--
	}
	w.mu.Unlock()
	time.Sleep(delay)
	if down {
		return errDown
	}
	for _, e := range es {
		if e.Type == w.refuse && w.refuse != "" {
			return auth.ErrInvalidInput
		}
	}
	if err := w.st.WriteEvents(ctx, es); err != nil {
		return err
	}
	if lost {
		return errDown
	}
	return nil
}

func (w *faultyWriter) set(f func(w *faultyWriter)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w)
}

func (w *faultyWriter) calls() (n, largest int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.sizes {
		largest = max(largest, s)
	}
	return len(w.sizes), largest
}

func newFaultyWriter(t *testing.T) *faultyWriter {
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	return &faultyWriter{st: st}
}

// stored returns how many times each event ID is stored for tenant.
func stored(t *testing.T, st *memstore.Store, tenant string) map[string]int {
	t.Helper()
	got, err := st.AuditEvents(context.Background(), auth.EventQuery{TenantID: tenant, Limit: 1 << 20})
	require.NoError(t, err)
	ids := map[string]int{}
	for _, e := range got {
		ids[e.ID]++
	}
	return ids
}

func events(tenant string, n int) []auth.Event {
	out := make([]auth.Event, n)
	for i := range out {
		out[i] = auth.Event{ID: newUUID(), Type: auth.EventLoginSucceeded, Time: time.Now(), TenantID: tenant}
	}
	return out
}

func newUUID() string { return uuid.Must(uuid.NewV7()).String() }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestAsyncOutage: events recorded while the store is down are kept,
// retried with backoff, and written exactly once when it is back, even
// after a write whose reply was lost; flows never wait on a failing store.
func TestAsyncOutage(t *testing.T) {
	ctx := context.Background()
	w := newFaultyWriter(t)
	sink, err := audit.NewAsync(w, audit.AsyncConfig{MaxBackoff: 20 * time.Millisecond, Logger: quiet()})
	require.NoError(t, err)
	tenant := newUUID()
	es := events(tenant, 300)

	for _, e := range es[:100] {
		sink.Record(ctx, e)
	}
	w.set(func(w *faultyWriter) { w.down = true })
	start := time.Now()
	for _, e := range es[100:250] {
		sink.Record(ctx, e)
	}
	require.Less(t, time.Since(start), 5*time.Second, "a failing store does not hold the flows (at most one Wait)")
	w.set(func(w *faultyWriter) { w.down, w.lostReplies = false, 2 })
	for _, e := range es[250:] {
		sink.Record(ctx, e)
	}
	require.NoError(t, sink.Shutdown(ctx))
	require.Zero(t, sink.Dropped())
	ids := stored(t, w.st, tenant)
	require.Len(t, ids, len(es), "every event is stored")
	for _, e := range es {
		require.Equal(t, 1, ids[e.ID], "exactly once")
	}
	n, _ := w.calls()
	require.Greater(t, n, 3, "retried")
}

// TestAsyncWaitsForTheWrite: while the store is healthy an event is
// stored when Record returns, so a crash right after an answer loses
// nothing.
func TestAsyncWaitsForTheWrite(t *testing.T) {
	ctx := context.Background()
	w := newFaultyWriter(t)
	w.delay = 10 * time.Millisecond
	sink, err := audit.NewAsync(w, audit.AsyncConfig{Logger: quiet()})
	require.NoError(t, err)
	defer func() { require.NoError(t, sink.Shutdown(ctx)) }()
	tenant := newUUID()
	for _, e := range events(tenant, 5) {
		sink.Record(ctx, e)
		require.Equal(t, 1, stored(t, w.st, tenant)[e.ID], "stored before Record returns")
	}

	// Concurrent flows share a write.
	var wg sync.WaitGroup
	for _, e := range events(tenant, 50) {
		wg.Go(func() { sink.Record(ctx, e) })
	}
	wg.Wait()
	require.Len(t, stored(t, w.st, tenant), 55)
	n, largest := w.calls()
	require.Less(t, n, 55, "queued events are written together")
	require.Greater(t, largest, 1)
}

// TestAsyncBatches: a burst of queued events is written several per
// call, never more than Batch.
func TestAsyncBatches(t *testing.T) {
	ctx := context.Background()
	w := newFaultyWriter(t)
	w.delay = 2 * time.Millisecond
	sink, err := audit.NewAsync(w, audit.AsyncConfig{Batch: 64, Wait: -1, Logger: quiet()})
	require.NoError(t, err)
	tenant := newUUID()
	for _, e := range events(tenant, 2000) {
		sink.Record(ctx, e)
	}
	require.NoError(t, sink.Shutdown(ctx))
	require.Len(t, stored(t, w.st, tenant), 2000)
	n, largest := w.calls()
	require.LessOrEqual(t, largest, 64)
	require.Less(t, n, 2000/4, "several events per write")
}

// TestAsyncRefusedEvent: an event the store refuses for good costs
// only itself; the rest of its batch is written.
func TestAsyncRefusedEvent(t *testing.T) {
	ctx := context.Background()
	w := newFaultyWriter(t)
	w.refuse = "bad.event"
	sink, err := audit.NewAsync(w, audit.AsyncConfig{Wait: -1, Logger: quiet()})
	require.NoError(t, err)
	tenant := newUUID()
	es := events(tenant, 20)
	es[7].Type = "bad.event"
	for _, e := range es {
		sink.Record(ctx, e)
	}
	require.NoError(t, sink.Shutdown(ctx))
	require.Equal(t, uint64(1), sink.Dropped())
	require.Len(t, stored(t, w.st, tenant), 19)
}

func TestAsyncConfig(t *testing.T) {
	_, err := audit.NewAsync(nil, audit.AsyncConfig{})
	require.Error(t, err)
	_, err = audit.NewAsync(newFaultyWriter(t), audit.AsyncConfig{Buffer: -1})
	require.Error(t, err)
}
