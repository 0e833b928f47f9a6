package agent

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/pandodc/pando/sdk/client"
)

// maxUsageSeries bounds how many tasks the usage gauges report per
// collection: past it, the rest are summed into one series with task
// "other", so a busy agent cannot flood a metrics backend.
const maxUsageSeries = 1000

// RegisterUsageMetrics reports the usage of running tasks as OpenTelemetry
// gauges labelled with task, framework and agent. The gauges are
// asynchronous: each collection asks the monitor for the tasks running
// now, so a finished task's series ends with it, and a million finished
// tasks leave no million series behind.
func RegisterUsageMetrics(meter metric.Meter, m *Monitor) error {
	type gauge struct {
		name, unit, desc string
		value            func(u client.TaskUsage) float64
		inst             metric.Float64ObservableGauge
	}
	gauges := []*gauge{
		{name: "pando.task.cpu", unit: "s", desc: "CPU time a running task has used", value: func(u client.TaskUsage) float64 { return u.CPUSeconds }},
		{name: "pando.task.memory", unit: "By", desc: "Memory a running task uses now", value: func(u client.TaskUsage) float64 { return float64(u.MemBytes) }},
		{name: "pando.task.memory.limit", unit: "By", desc: "Memory limit of a running task", value: func(u client.TaskUsage) float64 { return float64(u.MemLimitBytes) }},
		{name: "pando.task.network.rx", unit: "By", desc: "Bytes a running task has received", value: func(u client.TaskUsage) float64 { return float64(u.NetRxBytes) }},
		{name: "pando.task.network.tx", unit: "By", desc: "Bytes a running task has sent", value: func(u client.TaskUsage) float64 { return float64(u.NetTxBytes) }},
		{name: "pando.task.io.read", unit: "By", desc: "Bytes a running task has read from block devices", value: func(u client.TaskUsage) float64 { return float64(u.IOReadBytes) }},
		{name: "pando.task.io.write", unit: "By", desc: "Bytes a running task has written to block devices", value: func(u client.TaskUsage) float64 { return float64(u.IOWriteBytes) }},
	}
	insts := make([]metric.Observable, 0, len(gauges))
	for _, g := range gauges {
		var err error
		if g.inst, err = meter.Float64ObservableGauge(g.name, metric.WithUnit(g.unit), metric.WithDescription(g.desc)); err != nil {
			return fmt.Errorf("agent metrics: %s: %w", g.name, err)
		}
		insts = append(insts, g.inst)
	}
	_, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		usage := m.Usage(ctx)
		var other client.TaskUsage
		for i, u := range usage {
			if i >= maxUsageSeries {
				other.CPUSeconds += u.CPUSeconds
				other.MemBytes += u.MemBytes
				other.MemLimitBytes += u.MemLimitBytes
				other.NetRxBytes += u.NetRxBytes
				other.NetTxBytes += u.NetTxBytes
				other.IOReadBytes += u.IOReadBytes
				other.IOWriteBytes += u.IOWriteBytes
				continue
			}
			attrs := metric.WithAttributes(attribute.String("task", u.TaskID), attribute.String("framework", u.FrameworkID), attribute.String("agent", u.AgentID))
			for _, g := range gauges {
				o.ObserveFloat64(g.inst, g.value(u), attrs)
			}
		}
		if len(usage) > maxUsageSeries {
			attrs := metric.WithAttributes(attribute.String("task", "other"))
			for _, g := range gauges {
				o.ObserveFloat64(g.inst, g.value(other), attrs)
			}
		}
		return nil
	}, insts...)
	if err != nil {
		return fmt.Errorf("agent metrics: %w", err)
	}
	return nil
}
