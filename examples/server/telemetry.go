package main

import (
	"context"
	"errors"
	"io"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// telemetry holds the OpenTelemetry providers given to the Authenticator
// (nil for OTEL_EXPORTER=none: the library then costs nothing extra).
type telemetry struct {
	tracer *sdktrace.TracerProvider
	meter  *sdkmetric.MeterProvider
}

// newTelemetry sets up the exporter named by OTEL_EXPORTER: "stdout"
// writes spans and metrics as JSON to w, "otlp" sends them over OTLP/HTTP
// to OTEL_EXPORTER_OTLP_ENDPOINT (the exporters read that and the other
// standard OTEL_EXPORTER_OTLP_* variables themselves). OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES are honoured; the service name defaults to
// "auth-example".
func newTelemetry(ctx context.Context, exporter string, w io.Writer) (*telemetry, error) {
	var (
		spans   sdktrace.SpanExporter
		metrics sdkmetric.Exporter
		err     error
	)
	switch exporter {
	case "none":
		return &telemetry{}, nil
	case "stdout":
		if spans, err = stdouttrace.New(stdouttrace.WithWriter(w)); err != nil {
			return nil, err
		}
		if metrics, err = stdoutmetric.New(stdoutmetric.WithWriter(w)); err != nil {
			return nil, err
		}
	case "otlp":
		if spans, err = otlptracehttp.New(ctx); err != nil {
			return nil, err
		}
		if metrics, err = otlpmetrichttp.New(ctx); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("OTEL_EXPORTER: unknown exporter " + exporter)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "auth-example")),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, err
	}
	return &telemetry{
		tracer: sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans), sdktrace.WithResource(res)),
		meter:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics)), sdkmetric.WithResource(res)),
	}, nil
}

// tracerProvider returns the provider for auth.Config, or nil (the
// library's default, a no-op unless a global SDK is installed).
func (t *telemetry) tracerProvider() trace.TracerProvider {
	if t.tracer == nil {
		return nil
	}
	return t.tracer
}

// meterProvider returns the provider for auth.Config, or nil.
func (t *telemetry) meterProvider() metric.MeterProvider {
	if t.meter == nil {
		return nil
	}
	return t.meter
}

// Shutdown flushes and stops the providers.
func (t *telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.tracer != nil {
		errs = append(errs, t.tracer.Shutdown(ctx))
	}
	if t.meter != nil {
		errs = append(errs, t.meter.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
