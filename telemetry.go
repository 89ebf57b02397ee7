package auth

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const instrumentationName = "github.com/maestro-ml/auth"

// telemetry holds the OpenTelemetry instruments. With the default global
// providers and no SDK installed every call is a no-op.
type telemetry struct {
	tracer      trace.Tracer
	logins      metric.Int64Counter
	rateLimited metric.Int64Counter
	reuse       metric.Int64Counter
	cache       metric.Int64Counter
	authDur     metric.Float64Histogram

	// Pre-built options, so recording on the hot path allocates nothing.
	cacheHit, cacheMiss metric.AddOption
	authOutcome         map[string]metric.RecordOption
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (*telemetry, error) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	t := &telemetry{tracer: tp.Tracer(instrumentationName)}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	t.logins, err = m.Int64Counter("auth.logins", metric.WithDescription("Login attempts by outcome."), metric.WithUnit("{attempt}"))
	add(err)
	t.rateLimited, err = m.Int64Counter("auth.rate_limited", metric.WithDescription("Attempts refused by a rate limit or an account lock, by limit."), metric.WithUnit("{attempt}"))
	add(err)
	t.reuse, err = m.Int64Counter("auth.refresh.reuse_detected", metric.WithDescription("Rotated refresh tokens presented again (sessions revoked)."), metric.WithUnit("{event}"))
	add(err)
	t.cache, err = m.Int64Counter("auth.token_cache.lookups", metric.WithDescription("Verified-token cache look-ups by result."), metric.WithUnit("{lookup}"))
	add(err)
	t.authDur, err = m.Float64Histogram("auth.authenticate.duration", metric.WithDescription("Time to authenticate an access token, revocation check included."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.25))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.cacheHit = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "hit")))
	t.cacheMiss = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "miss")))
	t.authOutcome = map[string]metric.RecordOption{}
	for _, o := range []string{"ok", "invalid", "expired", "revoked", "unavailable"} {
		t.authOutcome[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))
	}
	return t, nil
}

// recordAuthenticate records the duration and outcome of one Authenticate.
func (t *telemetry) recordAuthenticate(ctx context.Context, start time.Time, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrTokenRevoked):
		outcome = "revoked"
	case errors.Is(err, ErrTokenExpired):
		outcome = "expired"
	case errors.Is(err, ErrInvalidToken):
		outcome = "invalid"
	default:
		outcome = "unavailable"
	}
	t.authDur.Record(ctx, time.Since(start).Seconds(), t.authOutcome[outcome])
}

// recordEvent derives metrics from audit events.
func (t *telemetry) recordEvent(ctx context.Context, e Event) {
	switch e.Type {
	case EventLoginSucceeded:
		t.logins.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", "success")))
	case EventLoginFailed:
		t.logins.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", e.Reason)))
	case EventLoginLocked:
		t.logins.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", "locked")))
		t.rateLimited.Add(ctx, 1, metric.WithAttributes(attribute.String("limit", "login_account")))
	case EventRateLimited:
		if e.Reason == "login_ip" {
			t.logins.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", "rate_limited")))
		}
		t.rateLimited.Add(ctx, 1, metric.WithAttributes(attribute.String("limit", e.Reason)))
	case EventRefreshReused:
		t.reuse.Add(ctx, 1)
	}
}

// span starts a span for a flow; end records the error, if any, and ends
// it. Errors of this package carry no secrets, so their text is safe.
func (a *Authenticator) span(ctx context.Context, name string) (context.Context, func(*error)) {
	ctx, s := a.tel.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal))
	return ctx, func(err *error) {
		if err != nil && *err != nil {
			s.SetStatus(codes.Error, (*err).Error())
		}
		s.End()
	}
}
