package node_test

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/kernel/kernelpb"
)

// BenchmarkInputs runs 100 instances that each read one 10 MiB
// input, through a master and an agent, next to raw wazero running the
// same module over the same file from a read-only mount in the same run.
// "ratio" is Pando's time over raw wazero's, medians of three rounds (the
// issue asks for at most 1.2); "first-pando-s" is the first round, which
// fetches the input; "fetches" is how many times the agent fetched it over
// all rounds (1).
func BenchmarkInputs(b *testing.B) {
	const instances, size = 100, 10 << 20
	path := wasmbuild.MustBuild(b, "readinput")
	dir := b.TempDir()
	m, err := node.StartMaster(node.MasterOptions{HTTPAddr: "127.0.0.1:0", DataDir: filepath.Join(dir, "master")})
	if err != nil {
		b.Fatal(err)
	}
	var fetches atomic.Int32
	local := artifacts.LocalSource(m.Artifacts)
	counted := artifacts.SourceFunc(func(ctx context.Context, digest string) (io.ReadCloser, error) {
		fetches.Add(1)
		return local.Open(ctx, digest)
	})
	a, err := node.StartAgent(context.Background(), node.AgentOptions{
		System: m.System, Master: m.PID, Artifacts: counted, WorkDir: filepath.Join(dir, "agent"),
		Resources: "cpus:2;mem:8192", Mux: m.Mux, MuxPrefix: "/agent", HTTPBase: m.URL + "/agent",
	})
	if err != nil {
		b.Fatal(err)
	}
	dev := &node.Dev{Master: m, Agent: a}
	defer dev.Stop(context.Background())

	module, _ := os.ReadFile(path)
	digest, err := m.Artifacts.Put(module)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	rawDir := filepath.Join(dir, "raw")
	os.MkdirAll(rawDir, 0o755)
	if err := os.WriteFile(filepath.Join(rawDir, "data.bin"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	input, err := m.Artifacts.Put(data)
	if err != nil {
		b.Fatal(err)
	}
	inputs := []*kernelpb.Input{{Digest: input, Path: "/input/data.bin"}}
	args := []string{"-count", "/input/data.bin"}
	// Warm up the module's compilation (not the input: its one fetch is
	// part of what is measured).
	runInputTasks(b, dev, digest, 2, nil, nil)
	b.ResetTimer()
	// Rounds alternate raw wazero and Pando, so that both see the same
	// machine (shared, on CI), and each reports its median. Only the first
	// Pando round fetches the input: the agent caches it.
	const rounds = 3
	var raws, pandos []float64
	for range rounds {
		raws = append(raws, rawInputs(b, path, rawDir, instances, args).Seconds())
		start := time.Now()
		runInputTasks(b, dev, digest, instances, args, inputs)
		pandos = append(pandos, time.Since(start).Seconds())
	}
	b.StopTimer()
	raw, pando := median(raws), median(pandos)
	b.ReportMetric(pando, "pando-s")
	b.ReportMetric(raw, "raw-s")
	b.ReportMetric(pando/raw, "ratio")
	b.ReportMetric(pandos[0], "first-pando-s")           // with the fetch
	b.ReportMetric(float64(fetches.Load()-1), "fetches") // less the module's
}

func runInputTasks(b *testing.B, dev *node.Dev, module string, n int, args []string, inputs []*kernelpb.Input) {
	b.Helper()
	l := newLauncher(module, n)
	l.args, l.inputs = args, inputs
	runLauncher(b, dev, l)
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, st := range l.states {
		if st != kernelpb.TaskState_TASK_FINISHED {
			b.Fatalf("task %s ended %s", id, st)
		}
	}
}

// rawInputs is wazero alone: the module compiled once, then n instances
// run to their end on two workers, each with dir mounted read-only at
// /input as Pando mounts a task's inputs.
func rawInputs(b *testing.B, path, dir string, n int, args []string) time.Duration {
	ctx := context.Background()
	rt, compiled := compileRaw(b, path)
	defer rt.Close(ctx)
	config := wazero.NewModuleConfig().WithName("").WithArgs(append([]string{"raw"}, args...)...).
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader).
		WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(dir, "/input"))
	const workers = 2
	start := time.Now()
	errs := make(chan error, workers)
	for range workers {
		go func() {
			var first error
			for range n / workers {
				mod, err := rt.InstantiateModule(ctx, compiled, config)
				if exit, ok := err.(*sys.ExitError); ok && exit.ExitCode() == 0 {
					err = nil
				}
				if err != nil && first == nil {
					first = err
				}
				if mod != nil {
					mod.Close(ctx)
				}
			}
			errs <- first
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			b.Fatalf("raw wazero: %v", err)
		}
	}
	return time.Since(start)
}
