package integration

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// downWriter is an audit store that is always down.
type downWriter struct{}

func (downWriter) WriteEvents(context.Context, []auth.Event) error {
	return errors.Join(errors.New("audit store down"), auth.ErrUnavailable)
}

// events returns n login events of one new tenant.
func events(n int) []auth.Event {
	tenant := uuid.Must(uuid.NewV7()).String()
	out := make([]auth.Event, n)
	for i := range out {
		out[i] = auth.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: auth.EventLoginSucceeded, Time: time.Now(), TenantID: tenant}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAsyncDropsAreCounted: a full buffer drops events, and each drop
// is counted in Dropped, in auth.audit.dropped and in a log line with the
// count; Shutdown past its deadline reports what it could not write.
func TestAsyncDropsAreCounted(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	var logs syncBuffer
	sink, err := audit.NewAsync(downWriter{}, audit.AsyncConfig{Buffer: 10, MaxBackoff: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), MeterProvider: mp})
	require.NoError(t, err)
	for _, e := range events(100) {
		sink.Record(ctx, e)
	}
	full := sink.Dropped()
	require.GreaterOrEqual(t, full, uint64(100-10-1), "beyond the buffer (and the batch in hand)")

	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = sink.Shutdown(sctx)
	require.ErrorIs(t, err, auth.ErrUnavailable)
	require.Regexp(t, `^audit: [0-9]+ events not written: auth: service unavailable: context deadline exceeded$`, err.Error())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, uint64(100), sink.Dropped(), "all of them, once the deadline passed")
	sink.Record(ctx, events(1)[0])
	require.Equal(t, uint64(101), sink.Dropped(), "after Shutdown, Record drops")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	var counted int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "auth.audit.dropped" {
				for _, dp := range d.DataPoints {
					counted += dp.Value
				}
			}
		}
	}
	require.Equal(t, int64(101), counted)
	require.Contains(t, logs.String(), "auth: audit events dropped")
	require.Contains(t, logs.String(), "count=")
	require.Less(t, bytes.Count([]byte(logs.String()), []byte("audit events dropped")), 50, "one line per batch of drops, not one per event")
}
