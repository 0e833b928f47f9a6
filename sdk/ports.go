package sdk

import (
	"fmt"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// HealthCheck is a task's health check, run by its agent next to it
// (kernelpb.HealthCheck; see docs/TASKS.md).
type HealthCheck = kernelpb.HealthCheck

// TakePorts picks n ports from avail (an offer's resources, or what is left
// of them), lowest first, and returns them as a ports resource (under the
// role they were offered with) and what remains of avail. A task asks for
// the ports it listens on; agents offer ports:[31000-32000] by default.
func TakePorts(avail Resources, n int) (ports, rest Resources, err error) {
	if n < 0 {
		return Resources{}, avail, fmt.Errorf("sdk: cannot take %d ports", n)
	}
	var taken []resources.Resource
	left := n
	for _, it := range avail.Items() {
		if it.Name != resources.Ports || left == 0 {
			continue
		}
		var rs []resources.Range
		for _, r := range it.Ranges {
			if left == 0 {
				break
			}
			end := min(r.End, r.Begin+uint64(left)-1)
			rs = append(rs, resources.Range{Begin: r.Begin, End: end})
			left -= int(end - r.Begin + 1)
		}
		taken = append(taken, resources.Resource{Name: resources.Ports, Role: it.Role, Ranges: rs})
	}
	if left > 0 {
		return Resources{}, avail, fmt.Errorf("sdk: %d ports wanted but the offer has %d (%s)", n, n-left, avail)
	}
	ports = resources.New(taken...)
	rest, err = avail.Subtract(ports)
	return ports, rest, err
}

// PortsOf lists the ports of a ports resource (a task's, or TakePorts'),
// lowest first: the task sees them as PORT0, PORT1, ...
func PortsOf(r Resources) []uint32 {
	var out []uint32
	for _, it := range r.Items() {
		if it.Name != resources.Ports {
			continue
		}
		for _, rg := range it.Ranges {
			for p := rg.Begin; p <= rg.End && len(out) < 65536; p++ {
				out = append(out, uint32(p))
			}
		}
	}
	return out
}

// HealthCheck sets the tasks' health check. An HTTP or TCP check whose
// Port is 0 checks the task's first port (PORT0), set by WithPorts.
func (b TaskBuilder) HealthCheck(hc *HealthCheck) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) { t.HealthCheck = kernelpb.CloneHealthCheck(hc) })
}

// WithPorts adds ports (from TakePorts) to the tasks' resources, and points
// a health check without a port at the first of them. Ports differ from
// task to task: call it for each task, before On.
func (b TaskBuilder) WithPorts(ports Resources) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) {
		res, err := resources.FromProto(t.GetResources())
		if err != nil {
			return // Check or the agent says what is wrong with them
		}
		t.Resources = res.Add(ports).ToProto()
		if hc := t.GetHealthCheck(); hc != nil && hc.GetPort() == 0 && hc.GetType() != kernelpb.HealthCheck_COMMAND {
			if ps := PortsOf(ports); len(ps) > 0 {
				hc.Port = ps[0]
			}
		}
	})
}

// HTTPCheck is an HTTP health check of path on the task's first port:
// healthy when GET answers 2xx or 3xx within timeout, checked every
// interval after a grace period; killed after maxFailures failures in a
// row (0: never).
func HTTPCheck(path string, interval, timeout, grace time.Duration, maxFailures uint32) *HealthCheck {
	return &HealthCheck{Type: kernelpb.HealthCheck_HTTP, Path: path, IntervalMs: interval.Milliseconds(),
		TimeoutMs: timeout.Milliseconds(), GracePeriodMs: grace.Milliseconds(), MaxConsecutiveFailures: maxFailures}
}

// TCPCheck is a TCP health check of the task's first port (a connection
// opens), with HTTPCheck's schedule.
func TCPCheck(interval, timeout, grace time.Duration, maxFailures uint32) *HealthCheck {
	return &HealthCheck{Type: kernelpb.HealthCheck_TCP, IntervalMs: interval.Milliseconds(),
		TimeoutMs: timeout.Milliseconds(), GracePeriodMs: grace.Milliseconds(), MaxConsecutiveFailures: maxFailures}
}

// CommandCheck is a health check that runs argv inside the task's
// container (exit 0: healthy), with HTTPCheck's schedule. WASM tasks
// cannot have one.
func CommandCheck(argv []string, interval, timeout, grace time.Duration, maxFailures uint32) *HealthCheck {
	return &HealthCheck{Type: kernelpb.HealthCheck_COMMAND, Command: argv, IntervalMs: interval.Milliseconds(),
		TimeoutMs: timeout.Milliseconds(), GracePeriodMs: grace.Milliseconds(), MaxConsecutiveFailures: maxFailures}
}
