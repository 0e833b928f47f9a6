package master

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/pandodc/pando/actors/telemetry"
	"github.com/pandodc/pando/kernel/kernelpb"
	kmaster "github.com/pandodc/pando/kernel/master"
)

// Metrics turns the master's events into OpenTelemetry metrics and one span
// per task, from its launch on an accepted offer to its terminal state. It
// is used only from the master actor's goroutine. A nil *Metrics records
// nothing.
type Metrics struct {
	tracer      trace.Tracer
	offers      metric.Int64Counter
	taskStates  metric.Int64Counter
	membership  metric.Int64Counter
	roundTime   metric.Float64Histogram
	spans       map[spanKey]trace.Span
	stateAttrs  map[kernelpb.TaskState]metric.MeasurementOption
	eventAttrs  map[kmaster.EventKind]metric.MeasurementOption
	backgroundC context.Context
	tracing     bool // spans go somewhere: build them
}

type spanKey struct{ framework, task string }

// NewMetrics registers the master's instruments.
func NewMetrics(t *telemetry.Telemetry) (*Metrics, error) {
	meter := t.Meter("pando/master")
	m := &Metrics{
		tracer:      t.Tracer("pando/master"),
		spans:       map[spanKey]trace.Span{},
		stateAttrs:  map[kernelpb.TaskState]metric.MeasurementOption{},
		eventAttrs:  map[kmaster.EventKind]metric.MeasurementOption{},
		backgroundC: context.Background(),
		tracing:     t.Tracing(),
	}
	var err error
	if m.offers, err = meter.Int64Counter("pando.master.offers", metric.WithDescription("Offers by event: made, accepted, declined, rescinded")); err != nil {
		return nil, err
	}
	if m.taskStates, err = meter.Int64Counter("pando.master.task_states", metric.WithDescription("Task state transitions seen by the master, by state")); err != nil {
		return nil, err
	}
	if m.membership, err = meter.Int64Counter("pando.master.membership", metric.WithDescription("Agents and frameworks added, removed, disconnected")); err != nil {
		return nil, err
	}
	if m.roundTime, err = meter.Float64Histogram("pando.master.allocation_round", metric.WithUnit("s"), metric.WithDescription("Time of one allocation round")); err != nil {
		return nil, err
	}
	// Attribute sets are built once: the hot path must not allocate them.
	for s := range kernelpb.TaskState_name {
		state := kernelpb.TaskState(s)
		m.stateAttrs[state] = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", state.String())))
	}
	for k := kmaster.EventTaskState; k.String() != "unknown"; k++ {
		m.eventAttrs[k] = metric.WithAttributeSet(attribute.NewSet(attribute.String("event", k.String())))
	}
	return m, nil
}

func (m *Metrics) allocationRound(d time.Duration) {
	if m == nil {
		return
	}
	m.roundTime.Record(m.backgroundC, d.Seconds())
}

func (m *Metrics) record(events []kmaster.Event) {
	if m == nil {
		return
	}
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case kmaster.EventTaskState:
			m.taskStates.Add(m.backgroundC, 1, m.stateAttrs[e.State])
			if m.tracing {
				m.traceTask(e)
			}
		case kmaster.EventOffersMade, kmaster.EventOffersAccepted, kmaster.EventOffersDeclined, kmaster.EventOffersRescinded:
			m.offers.Add(m.backgroundC, int64(max(e.Count, 1)), m.eventAttrs[e.Kind])
		default:
			m.membership.Add(m.backgroundC, 1, m.eventAttrs[e.Kind])
		}
	}
}

func (m *Metrics) traceTask(e *kmaster.Event) {
	key := spanKey{e.FrameworkID, e.TaskID}
	span, ok := m.spans[key]
	if !ok {
		_, span = m.tracer.Start(m.backgroundC, "task",
			trace.WithTimestamp(e.At),
			trace.WithAttributes(
				attribute.String("pando.task_id", e.TaskID),
				attribute.String("pando.framework_id", e.FrameworkID),
				attribute.String("pando.agent_id", e.AgentID),
			))
		m.spans[key] = span
	}
	span.AddEvent(e.State.String(), trace.WithTimestamp(e.At))
	if kernelpb.IsTerminal(e.State) {
		span.SetAttributes(attribute.String("pando.state", e.State.String()), attribute.String("pando.reason", e.Reason.String()))
		span.End(trace.WithTimestamp(e.At))
		delete(m.spans, key)
	}
}
