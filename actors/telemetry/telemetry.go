package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
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
}

// Options configures New.
type Options struct {
	// SpanProcessors receive finished spans (e.g. an exporter, or a
	// recorder in tests). Without any, spans are still created and sampled
	// but go nowhere.
	SpanProcessors []sdktrace.SpanProcessor
}

// New sets up metrics and traces.
func New(opts Options) (*Telemetry, error) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	tpOpts := []sdktrace.TracerProviderOption{}
	for _, p := range opts.SpanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(p))
	}
	return &Telemetry{
		registry: reg,
		meters:   sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)),
		tracers:  sdktrace.NewTracerProvider(tpOpts...),
	}, nil
}

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
