package node_test

import (
	"context"
	"crypto/rand"
	"os"
	goruntime "runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk"
)

// BenchmarkPipeline measures end-to-end tasks per second through a dev
// cluster (offer -> accept -> RunTask -> STARTING -> RUNNING -> FINISHED,
// every update acknowledged) next to raw wazero instantiation of the same
// module in the same run; "ratio" is Pando's rate over the raw rate.
// Each figure is the median of three rounds.
func BenchmarkPipeline(b *testing.B) {
	// Enough tasks to time each module over about a second.
	for _, c := range []struct {
		name  string
		tasks int
	}{{"tiny", 10000}, {"hello", 1000}} {
		name := c.name
		b.Run(name, func(b *testing.B) {
			path := wasmbuild.MustBuild(b, name)
			dev, err := node.StartDev(context.Background(), node.DevOptions{
				HTTPAddr: "127.0.0.1:0", DataDir: b.TempDir(), Resources: "cpus:2;mem:8192",
			})
			if err != nil {
				b.Fatal(err)
			}
			defer dev.Stop(context.Background())
			module, _ := os.ReadFile(path)
			digest, err := dev.Master.Artifacts.Put(module)
			if err != nil {
				b.Fatal(err)
			}
			// Warm up: compile the module on the agent outside the timer.
			runTasks(b, dev, digest, 20)
			n := max(b.N, c.tasks)
			b.ResetTimer()
			// Rounds alternate raw wazero and Pando, so that both see the
			// same machine, and each reports its median: on a shared
			// 2-core machine single short runs vary by a third.
			const rounds = 3
			var raws, rates, cpus, allocs []float64
			for range rounds {
				raws = append(raws, rawRate(b, path, n))
				var before, after goruntime.MemStats
				goruntime.ReadMemStats(&before)
				start, cpuStart := time.Now(), cpuTime(b)
				runTasks(b, dev, digest, n)
				rates = append(rates, float64(n)/time.Since(start).Seconds())
				cpus = append(cpus, float64((cpuTime(b)-cpuStart).Microseconds())/float64(n))
				goruntime.ReadMemStats(&after)
				allocs = append(allocs, float64(after.TotalAlloc-before.TotalAlloc)/float64(n))
			}
			b.StopTimer()
			raw, rate := median(raws), median(rates)
			// CPU time per task, the whole process's, is steadier than
			// the rate on a shared machine: it shows what a change costs.
			b.ReportMetric(median(cpus), "cpu-µs/task")
			// Bytes allocated per task, the whole process's: the GC's
			// work grows with it.
			b.ReportMetric(median(allocs), "alloc-B/task")
			b.ReportMetric(rate, "tasks/s")
			b.ReportMetric(raw, "raw-tasks/s")
			b.ReportMetric(rate/raw, "ratio")
		})
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func runTasks(b *testing.B, dev *node.Dev, digest string, n int) {
	runLauncher(b, dev, newLauncher(digest, n))
}

// runLauncher runs l's tasks and waits for them all to end.
func runLauncher(b *testing.B, dev *node.Dev, l *launcher) {
	b.Helper()
	d, err := sdk.NewDriver(sdk.Config{
		Framework: &kernelpb.FrameworkInfo{Name: "bench"},
		System:    dev.Master.System.Actors, Master: dev.Master.PID,
	}, l)
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	defer d.Stop(false)
	select {
	case <-l.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d tasks ended", len(l.states), l.want)
	}
}

// cpuTime is the CPU time this process has used so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawRate is wazero alone: the module compiled once, then instantiated (and
// run to its end) in a loop, output discarded, on all cores. Its instances
// get the clocks and randomness Pando gives tasks, not wazero's default
// fakes, whose seeding alone costs more than running the tiny module.
func rawRate(b *testing.B, path string, n int) float64 {
	ctx := context.Background()
	rt, compiled := compileRaw(b, path)
	defer rt.Close(ctx)
	config := wazero.NewModuleConfig().WithName("").
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader)
	const workers = 2
	start := time.Now()
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < n/workers; i++ {
				mod, err := rt.InstantiateModule(ctx, compiled, config)
				if err == nil {
					mod.Close(ctx)
				}
			}
			done <- struct{}{}
		}()
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	return float64(n) / time.Since(start).Seconds()
}

// compileRaw compiles the module at path in a plain wazero runtime with
// WASI, as a program embedding wazero would; the caller closes it.
func compileRaw(b *testing.B, path string) (wazero.Runtime, wazero.CompiledModule) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	bin, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, bin)
	if err != nil {
		rt.Close(ctx)
		b.Fatal(err)
	}
	return rt, compiled
}
