package sdk

import (
	"errors"
	"fmt"

	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk/client"
)

// ErrNeverFits says that no agent of the cluster could ever hold a
// request, however long it waits: a framework refuses it at once.
var ErrNeverFits = errors.New("no agent can ever hold it")

// NeverFits says whether a task needing need (of runtime "wasm" or
// "container"; "" for any) could never run on the cluster's agents, for a
// framework to refuse it when it is submitted rather than let it wait
// forever. It returns nil when some active agent's unreserved total holds
// need and it has the runtime, and also when no agent could be judged yet
// (none registered, or none with the runtime: one may come, and the
// request waits for it). Otherwise the error wraps ErrNeverFits and names
// the largest agent and what it lacks, as "no agent can ever hold it: the
// largest agent (big) lacks mem 64GiB (has 19GiB)".
func NeverFits(agents []client.Agent, need Resources, runtime string) error {
	var largest *client.Agent
	var largestTotal resources.Resources
	for i := range agents {
		a := &agents[i]
		total, err := resources.Parse(a.Total)
		if !a.Active || err != nil {
			continue
		}
		if runtime != "" && !ListHas(a.Attributes[RuntimesAttribute], runtime) {
			continue
		}
		total = total.Unreserved() // tasks ask for unreserved resources
		if total.Contains(need) {
			return nil
		}
		if largest == nil || bigger(total, largestTotal) {
			largest, largestTotal = a, total
		}
	}
	if largest == nil {
		return nil
	}
	name := largest.Hostname
	if name == "" {
		name = largest.ID
	}
	return fmt.Errorf("%w: the largest agent (%s) lacks %s", ErrNeverFits, name, largestTotal.Shortfall(need))
}

// bigger orders agents by memory, then CPUs: the one a user would call
// the largest.
func bigger(a, b resources.Resources) bool {
	if a.Get(resources.Mem) != b.Get(resources.Mem) {
		return a.Get(resources.Mem) > b.Get(resources.Mem)
	}
	return a.Get(resources.CPUs) > b.Get(resources.CPUs)
}
