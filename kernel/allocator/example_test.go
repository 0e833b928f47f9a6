package allocator_test

import (
	"fmt"
	"time"

	"github.com/pandodc/pando/kernel/allocator"
	"github.com/pandodc/pando/kernel/resources"
)

// Two frameworks share two agents: each round gives every agent with free
// resources, whole, to the framework with the lowest dominant share.
func Example() {
	a := allocator.New(allocator.Config{})
	a.AddAgent("agent-1", resources.MustParse("cpus:4;mem:8GiB"), nil)
	a.AddAgent("agent-2", resources.MustParse("cpus:2;mem:4GiB"), nil)
	a.AddFramework("batch", nil, nil)
	a.AddFramework("web", nil, nil)
	a.SetWeight("*", 1)

	now := time.Unix(0, 0)
	for _, o := range a.Round(now) {
		fmt.Printf("%s gets %s on %s\n", o.FrameworkID, o.Resources, o.AgentID)
	}

	// web declines its offer for 10s; nothing is free for anyone now.
	for _, fw := range []string{"batch", "web"} {
		fmt.Printf("%s: share %.2f\n", fw, a.Share(fw))
	}
	a.Recover(now, "web", "agent-1", a.Largest(resources.CPUs), 10*time.Second)
	a.Round(now.Add(time.Second))
	fmt.Println("web:", a.Why("web"))
	// Output:
	// batch gets cpus:2;mem:4096 on agent-2
	// web gets cpus:4;mem:8192 on agent-1
	// batch: share 0.33
	// web: share 0.67
	// web: every agent with free resources is filtered by this framework's declines (earliest filter ends in 9s)
}
