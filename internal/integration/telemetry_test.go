package integration

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/maestro-ml/auth/store/redisstore"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The tests in this file read what the library reports to OpenTelemetry
// through the SDK's in-memory reader and span recorder.

const password = "correct horse battery staple"

func TestTelemetry(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil,
		auth.Config{MeterProvider: mp, TracerProvider: tp, RefreshGrace: -1, Events: audit.Nop{}})

	_, err := a.Register(ctx, auth.RegisterRequest{Email: "otel@example.com", Password: password})
	require.NoError(t, err)
	_, _, err = a.Login(ctx, auth.LoginRequest{Email: "otel@example.com", Password: "wrong password!"})
	require.Error(t, err)
	p, _, err := a.Login(ctx, auth.LoginRequest{Email: "otel@example.com", Password: password})
	require.NoError(t, err)
	for range 3 {
		_, err = a.Authenticate(ctx, p.AccessToken)
		require.NoError(t, err)
	}
	_, err = a.Authenticate(ctx, "garbage")
	require.Error(t, err)
	_, err = a.Refresh(ctx, auth.RefreshRequest{RefreshToken: p.RefreshToken})
	require.NoError(t, err)
	_, err = a.Refresh(ctx, auth.RefreshRequest{RefreshToken: p.RefreshToken})
	require.ErrorIs(t, err, auth.ErrRefreshReused)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	sums := map[string]map[string]int64{}
	hist := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					key := ""
					for _, kv := range dp.Attributes.ToSlice() {
						key = string(kv.Key) + "=" + kv.Value.AsString()
					}
					if sums[m.Name] == nil {
						sums[m.Name] = map[string]int64{}
					}
					sums[m.Name][key] += dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					v, _ := dp.Attributes.Value(attribute.Key("outcome"))
					hist[v.AsString()] += dp.Count
				}
			}
		}
	}
	require.Equal(t, map[string]int64{"outcome=success": 1, "outcome=bad_password": 1}, sums["auth.logins"])
	require.Equal(t, map[string]int64{"result=miss": 2, "result=hit": 2}, sums["auth.token_cache.lookups"])
	require.Equal(t, map[string]int64{"": 1}, sums["auth.refresh.reuse_detected"])
	require.Equal(t, map[string]uint64{"ok": 3, "invalid": 1}, hist)

	names := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		names[s.Name()] = s
	}
	for _, n := range []string{"auth.Register", "auth.Login", "auth.Refresh"} {
		require.Contains(t, names, n)
	}
	require.NotContains(t, names, "auth.Authenticate", "no span on the hot path without a sampled parent")
	require.Equal(t, codes.Error, names["auth.Refresh"].Status().Code, "the last refresh failed")

	pctx, parent := tp.Tracer("test").Start(ctx, "request")
	_, err = a.Authenticate(pctx, p.AccessToken)
	require.Error(t, err, "revoked by the reuse detection")
	parent.End()
	var found bool
	for _, s := range spans.Ended() {
		if s.Name() == "auth.Authenticate" {
			found = true
			require.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID())
		}
	}
	require.True(t, found, "a sampled request gets an Authenticate span")
}

// TestCacheHitMetric: redisstore counts revocation look-ups served by
// Redis and by the client-side cache.
func TestCacheHitMetric(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	s := redis(t, redisstore.WithMeterProvider(mp))
	ctx := context.Background()
	q := auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
	for range 3 {
		_, err := s.Revoked(ctx, q)
		require.NoError(t, err)
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "auth.revocation_cache.lookups" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("result")
				got[v.AsString()] += dp.Value
			}
		}
	}
	require.Equal(t, map[string]int64{"miss": 3, "hit": 6}, got, "the first check reads Redis, the next two the cache")
}
