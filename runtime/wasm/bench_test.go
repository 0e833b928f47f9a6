package wasm_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

// benchModules are the modules benchmarked: tiny is the fixed cost of a
// task, hello adds the start-up of Go's runtime.
var benchModules = []string{"tiny", "hello"}

// BenchmarkRawInstantiate is the floor: wazero alone instantiating and
// running a compiled module, with the runtime configuration Pando needs
// (close on context done), output discarded, no files.
func BenchmarkRawInstantiate(b *testing.B) {
	for _, name := range benchModules {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			bin, err := os.ReadFile(wasmbuild.MustBuild(b, name))
			if err != nil {
				b.Fatal(err)
			}
			r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
			defer r.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, r)
			compiled, err := r.CompileModule(ctx, bin)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				cfg := wazero.NewModuleConfig().WithName("").WithStdout(io.Discard).WithStderr(io.Discard).
					WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader)
				mod, err := r.InstantiateModule(ctx, compiled, cfg)
				if err != nil {
					if ee, ok := err.(*sys.ExitError); !ok || ee.ExitCode() != 0 {
						b.Fatal(err)
					}
				}
				if mod != nil {
					mod.Close(ctx)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// BenchmarkLaunchWait is a task end to end: Launch (log files in its
// sandbox, sandbox mounted, memory allocator, goroutine) and Wait.
func BenchmarkLaunchWait(b *testing.B) {
	for _, name := range benchModules {
		b.Run(name, func(b *testing.B) {
			rt, specs := benchSetup(b, name)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			i := 0
			for b.Loop() {
				launchWait(b, ctx, rt, specs[i%len(specs)])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/task")
		})
	}
}

// BenchmarkLaunchWaitParallel is the agent's case: many tasks at once, on
// every core.
func BenchmarkLaunchWaitParallel(b *testing.B) {
	for _, name := range benchModules {
		b.Run(name, func(b *testing.B) {
			rt, specs := benchSetup(b, name)
			ctx := context.Background()
			next := make(chan runtime.Spec, len(specs))
			for _, s := range specs {
				next <- s
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s := <-next // a sandbox is used by one task at a time
					launchWait(b, ctx, rt, s)
					next <- s
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/task")
		})
	}
}

func benchSetup(b *testing.B, name string) (*wasm.Runtime, []runtime.Spec) {
	path := wasmbuild.MustBuild(b, name)
	rt := newRuntime(b, wasm.Config{})
	if err := rt.Prepare(context.Background(), "sha256:"+name, path); err != nil {
		b.Fatal(err)
	}
	// Sandboxes are made by the agent, not the runtime: reuse a few.
	dir := b.TempDir()
	specs := make([]runtime.Spec, 64)
	for i := range specs {
		sb := filepath.Join(dir, fmt.Sprint(i))
		if err := os.Mkdir(sb, 0o755); err != nil {
			b.Fatal(err)
		}
		specs[i] = runtime.Spec{TaskID: fmt.Sprintf("bench-%d", i), Sandbox: sb, Artifact: path, Digest: "sha256:" + name,
			Env: map[string]string{"PANDO_INSTANCE": fmt.Sprint(i)}}
	}
	return rt, specs
}

func launchWait(b *testing.B, ctx context.Context, rt *wasm.Runtime, spec runtime.Spec) {
	task, err := rt.Launch(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	exit, err := task.Wait(ctx)
	if err != nil || exit.Outcome != runtime.Finished {
		b.Fatalf("task ended %+v, %v", exit, err)
	}
}

// processCPU is the CPU time (user and system) this process has used, in
// ns: per task, the steadiest figure on a shared machine, where wall-clock
// rates vary by a third between runs.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
