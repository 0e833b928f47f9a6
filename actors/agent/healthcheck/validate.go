package healthcheck

import (
	"errors"
	"fmt"
	"slices"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// MaxPorts is the most ports a task may have: each gets an environment
// variable, and a WASM task a listener.
const MaxPorts = 100

// Ports lists a task's ports resources (of any role), lowest first.
func Ports(res resources.Resources) ([]uint16, error) {
	var ports []uint16
	for _, it := range res.Items() {
		if it.Name != resources.Ports {
			continue
		}
		for _, r := range it.Ranges {
			if r.End > 65535 {
				return nil, fmt.Errorf("ports resource [%d-%d] is not a range of TCP ports (at most 65535)", r.Begin, r.End)
			}
			if r.End-r.Begin+1 > MaxPorts || len(ports)+int(r.End-r.Begin+1) > MaxPorts {
				return nil, fmt.Errorf("the task asks for more than %d ports; ask for the few it listens on", MaxPorts)
			}
			for p := r.Begin; p <= r.End; p++ {
				ports = append(ports, uint16(p))
			}
		}
	}
	slices.Sort(ports)
	return ports, nil
}

// Validate says what is wrong with a task's health check, given its ports,
// so that the task is refused at launch (TASK_ERROR) rather than killed for
// failing a check that could never pass. A task without one is valid.
func Validate(task *kernelpb.TaskInfo, ports []uint16) error {
	c := task.GetHealthCheck()
	if c == nil {
		return nil
	}
	for name, v := range map[string]int64{"delay_ms": c.GetDelayMs(), "interval_ms": c.GetIntervalMs(), "timeout_ms": c.GetTimeoutMs(), "grace_period_ms": c.GetGracePeriodMs()} {
		if v < 0 {
			return fmt.Errorf("health check %s is %d: durations cannot be negative", name, v)
		}
	}
	switch c.GetType() {
	case kernelpb.HealthCheck_HTTP, kernelpb.HealthCheck_TCP:
		if c.GetPort() == 0 {
			return fmt.Errorf("%s health check has no port: set it to one of the task's ports (%s)", c.GetType(), portList(ports))
		}
		if c.GetPort() > 65535 || !slices.Contains(ports, uint16(c.GetPort())) {
			return fmt.Errorf("health check port %d is not one of the task's ports (%s): add it to the task's ports resources or check one of those", c.GetPort(), portList(ports))
		}
	case kernelpb.HealthCheck_COMMAND:
		if len(c.GetCommand()) == 0 {
			return errors.New("COMMAND health check has no command: set the argv to run")
		}
		if task.GetWasm() != nil {
			return errors.New("a WASM task cannot have a COMMAND health check (there is no process to run a command in next to a module): check one of its ports with HTTP or TCP")
		}
	default:
		return fmt.Errorf("health check type %d is unknown: use HTTP, TCP or COMMAND", c.GetType())
	}
	return nil
}

func portList(ports []uint16) string {
	if len(ports) == 0 {
		return "it has none"
	}
	return fmt.Sprint(ports)
}
