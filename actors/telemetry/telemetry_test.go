package telemetry_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/actors/telemetry"
)

func TestSpansAreRecordedOnlyWhenSomeoneReceivesThem(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	quiet, err := telemetry.New(telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Shutdown(context.Background())
	_, span := quiet.Tracer("test").Start(context.Background(), "unseen")
	if quiet.Tracing() || span.IsRecording() {
		t.Errorf("with no span receiver: Tracing() = %v, span recording = %v; want both false", quiet.Tracing(), span.IsRecording())
	}
	span.End()

	rec := tracetest.NewSpanRecorder()
	tel, err := telemetry.New(telemetry.Options{SpanProcessors: []sdktrace.SpanProcessor{rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	_, span = tel.Tracer("test").Start(context.Background(), "seen")
	span.End()
	if !tel.Tracing() || len(rec.Ended()) != 1 || rec.Ended()[0].Name() != "seen" {
		t.Fatalf("with a recorder: Tracing() = %v, ended spans %v; want true and the span", tel.Tracing(), rec.Ended())
	}
}

// otlpCollector is an OTLP/HTTP trace receiver: it decodes what the real
// exporter sends.
type otlpCollector struct {
	mu    sync.Mutex
	names []string
	errs  []string
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.URL.Path != "/v1/traces" {
		c.errs = append(c.errs, "unexpected path "+r.URL.Path)
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			c.errs = append(c.errs, err.Error())
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		c.errs = append(c.errs, "decoding: "+err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.names = append(c.names, s.GetName())
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, spans reach an OTLP collector.
func TestSpansAreExportedOverOTLP(t *testing.T) {
	col := &otlpCollector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	tel, err := telemetry.New(telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !tel.Tracing() {
		t.Fatal("an OTLP endpoint is set, but Tracing() is false")
	}
	_, span := tel.Tracer("test").Start(context.Background(), "exported-task")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil { // flushes the batch
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.errs) > 0 || len(col.names) != 1 || col.names[0] != "exported-task" {
		t.Fatalf("collector got spans %v (errors %v), want [exported-task]", col.names, col.errs)
	}
}
