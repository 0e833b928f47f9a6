package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk"
)

// BenchmarkServiceColdStart measures a service instance's cold start: from
// the framework's Accept to the update that first reports it healthy (an
// HTTP GET /health by its agent, every 5ms from the moment it runs), for a
// WASM webserver (examples/wasm/webserver, its module compiled once before)
// next to a busybox httpd container (its image imported once before), one
// instance at a time through a whole dev cluster with a real containerd.
// It reports the median of each and how many times faster the WASM
// instance is.
func BenchmarkServiceColdStart(b *testing.B) {
	dev, module, image := serviceDev(b, 2)
	fw := startServices(b, dev)
	check := func() *sdk.HealthCheck {
		return sdk.HTTPCheck("/health", 5*time.Millisecond, 2*time.Second, time.Minute, 0)
	}
	kinds := []struct {
		name string
		tb   sdk.TaskBuilder
	}{
		{"wasm", webserverTask(module).HealthCheck(check())},
		{"container", httpdTask(image).HealthCheck(check())},
	}
	n := 0
	coldStart := func(tb sdk.TaskBuilder) time.Duration {
		n++
		id := fmt.Sprint("svc-", n)
		fw.launch(instance{id, tb})
		var took time.Duration
		waitFor(b, time.Minute, id+" healthy", func() bool {
			fw.mu.Lock()
			defer fw.mu.Unlock()
			d, ok := fw.healthyIn[id]
			took = d
			return ok
		})
		fw.kill(id) // and wait, so that its port is free for the next one
		waitFor(b, time.Minute, id+" to end", func() bool { return kernelpb.IsTerminal(fw.last(id).GetState()) })
		return took
	}
	for _, k := range kinds {
		coldStart(k.tb) // compiles the module, imports the image: outside the figures
	}
	const per = 5
	samples := map[string][]time.Duration{}
	b.ResetTimer()
	for range b.N {
		for range per {
			for _, k := range kinds {
				samples[k.name] = append(samples[k.name], coldStart(k.tb))
			}
		}
	}
	b.StopTimer()
	wasm, ctr := percentile(samples["wasm"], 0.5), percentile(samples["container"], 0.5)
	b.ReportMetric(float64(wasm.Microseconds())/1000, "wasm-ms/healthy")
	b.ReportMetric(float64(ctr.Microseconds())/1000, "container-ms/healthy")
	b.ReportMetric(float64(ctr)/float64(wasm), "container/wasm")
	b.Logf("Accept to first healthy check, median of %d: WASM %v, container %v (p90 %v, %v)",
		len(samples["wasm"]), wasm, ctr, percentile(samples["wasm"], 0.9), percentile(samples["container"], 0.9))
}
