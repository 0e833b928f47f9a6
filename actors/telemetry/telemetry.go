package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry holds one process's meter and tracer providers.
type Telemetry struct {
	registry *prometheus.Registry
	meters   *sdkmetric.MeterProvider
	tracers  *sdktrace.TracerProvider
	tracing  bool
}

// Options configures New.
type Options struct {
	// SpanProcessors receive finished spans (e.g. an exporter, or a
	// recorder in tests).
	SpanProcessors []sdktrace.SpanProcessor
	// OTLP exports spans over OTLP/HTTP, configured by the standard
	// variables (OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, headers, timeout...). New turns
	// it on when one of those endpoints is set.
	OTLP bool
}

// OTLPFromEnv reports whether the environment names an OTLP endpoint.
func OTLPFromEnv() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// New sets up metrics and traces.
func New(opts Options) (*Telemetry, error) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	processors := opts.SpanProcessors
	if opts.OTLP || OTLPFromEnv() {
		spans, err := otlptracehttp.New(context.Background())
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP span exporter (see OTEL_EXPORTER_OTLP_ENDPOINT): %w", err)
		}
		processors = append(processors, sdktrace.NewBatchSpanProcessor(spans))
	}
	// Spans nobody receives are not recorded at all: at thousands of
	// tasks a second, recording them for nothing costs a few percent.
	sampler := sdktrace.NeverSample()
	if len(processors) > 0 {
		sampler = sdktrace.AlwaysSample()
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(sampler)}
	for _, p := range processors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(p))
	}
	return &Telemetry{
		registry: reg,
		meters:   sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)),
		tracers:  sdktrace.NewTracerProvider(tpOpts...),
		tracing:  len(processors) > 0,
	}, nil
}

// Tracing reports whether spans go anywhere; without it, callers can skip
// building them.
func (t *Telemetry) Tracing() bool { return t.tracing }

// Meter returns a named meter.
func (t *Telemetry) Meter(name string) metric.Meter { return t.meters.Meter(name) }

// Tracer returns a named tracer.
func (t *Telemetry) Tracer(name string) trace.Tracer { return t.tracers.Tracer(name) }

// MeterProvider exposes the provider, e.g. for protoactor's own metrics.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.meters }

// Handler serves the metrics in Prometheus text format.
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes and stops both providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.tracers.Shutdown(ctx), t.meters.Shutdown(ctx))
}

// Attr is shorthand for a string attribute.
func Attr(key, value string) attribute.KeyValue { return attribute.String(key, value) }
