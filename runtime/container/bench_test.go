package container_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/container"
)

// The benchmarks compare Pando's Launch with bare containerd (create a
// container from the same image, a task with no IO, start it) in the same
// run, on the same daemon:
//
//	go test -run '^$' -bench . -benchtime 1x ./runtime/container/
//
// One op of BenchmarkLaunch is launchSamples launches, one after the other,
// each timed from launch to running (p50 and p90 as metrics); one op of
// BenchmarkThroughput100 runs 100 containers of `true` to their end,
// benchWorkers at a time, and reports containers per second.

const (
	launchSamples = 30
	benchWorkers  = 8
)

func BenchmarkLaunch(b *testing.B) {
	rt := newRuntime(b, testConfig(b))
	tar := busybox(b)
	if err := rt.Prepare(context.Background(), "", tar); err != nil {
		b.Fatal(err)
	}
	digest := fileDigest(b, tar)
	sleeper := []string{"sh", "-c", "trap 'exit 143' TERM; sleep 3600 & wait"}
	b.Run("pando", func(b *testing.B) {
		var took []time.Duration
		for b.Loop() {
			for range launchSamples {
				spec := runtime.Spec{TaskID: "bench-" + token(), Sandbox: b.TempDir(), Artifact: tar, Digest: digest, Args: sleeper}
				start := time.Now()
				task := launch(b, rt, spec)
				took = append(took, time.Since(start))
				if err := task.Kill(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		}
		reportPercentiles(b, took)
	})
	for _, withLogger := range []bool{false, true} {
		name := "containerd"
		if withLogger {
			name = "containerd+logger" // with Pando's shim-side logger: its part of the difference
		}
		b.Run(name, func(b *testing.B) {
			bare := newBare(b, rt)
			var took []time.Duration
			for b.Loop() {
				for range launchSamples {
					io := cio.NullIO
					if withLogger {
						io = container.LogsTo(b.TempDir())
					}
					start := time.Now()
					end := bare.start(b, io, sleeper)
					took = append(took, time.Since(start))
					end(syscall.SIGKILL)
				}
			}
			reportPercentiles(b, took)
		})
	}
}

func BenchmarkThroughput100(b *testing.B) {
	rt := newRuntime(b, testConfig(b))
	tar := busybox(b)
	if err := rt.Prepare(context.Background(), "", tar); err != nil {
		b.Fatal(err)
	}
	digest := fileDigest(b, tar)
	run100 := func(b *testing.B, one func()) {
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			jobs := make(chan struct{})
			var wg sync.WaitGroup
			for range benchWorkers {
				wg.Go(func() {
					for range jobs {
						one()
					}
				})
			}
			for range 100 {
				jobs <- struct{}{}
			}
			close(jobs)
			wg.Wait()
			total += time.Since(start)
		}
		b.ReportMetric(float64(100*b.N)/total.Seconds(), "containers/s")
	}
	b.Run("pando", func(b *testing.B) {
		run100(b, func() {
			spec := runtime.Spec{TaskID: "bench-" + token(), Sandbox: b.TempDir(), Artifact: tar, Digest: digest, Args: []string{"true"}}
			task, err := rt.Launch(context.Background(), spec)
			if err != nil {
				b.Error(err)
				return
			}
			if exit, err := task.Wait(context.Background()); err != nil || exit.Outcome != runtime.Finished {
				b.Errorf("exit %+v, %v", exit, err)
			}
		})
	})
	b.Run("containerd", func(b *testing.B) {
		bare := newBare(b, rt)
		run100(b, func() { bare.start(b, cio.NullIO, []string{"true"})(0) })
	})
}

// bare drives containerd directly, as the comparison.
type bare struct {
	client *containerd.Client
	ctx    context.Context
	image  containerd.Image
}

func newBare(b *testing.B, rt *container.Runtime) *bare {
	ctx := namespaces.WithNamespace(context.Background(), rt.Namespace())
	imgs, err := rt.Client().ListImages(ctx)
	if err != nil || len(imgs) == 0 {
		b.Fatalf("the prepared image: %v", err)
	}
	return &bare{client: rt.Client(), ctx: ctx, image: imgs[0]}
}

// start creates and starts a container of args; the returned func signals
// it (0: none, it ends by itself), waits for its end and deletes it.
func (c *bare) start(b *testing.B, io cio.Creator, args []string) func(sig syscall.Signal) {
	id := "bare-" + token()
	ctr, err := c.client.NewContainer(c.ctx, id,
		containerd.WithNewSnapshot(id, c.image),
		containerd.WithNewSpec(oci.WithImageConfig(c.image), oci.WithProcessArgs(args...)))
	if err != nil {
		b.Fatal(err)
	}
	task, err := ctr.NewTask(c.ctx, io)
	if err != nil {
		b.Fatal(err)
	}
	exited, err := task.Wait(c.ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := task.Start(c.ctx); err != nil {
		b.Fatal(err)
	}
	return func(sig syscall.Signal) {
		if sig != 0 {
			if err := task.Kill(c.ctx, sig); err != nil {
				b.Error(err)
			}
		}
		<-exited
		if _, err := task.Delete(c.ctx); err != nil {
			b.Error(err)
		}
		if err := ctr.Delete(c.ctx, containerd.WithSnapshotCleanup); err != nil {
			b.Error(err)
		}
	}
}

// fileDigest is the content address of a file, as the agent gives it.
func fileDigest(b *testing.B, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func reportPercentiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	at := func(p float64) float64 {
		return float64(took[min(int(p*float64(len(took))), len(took)-1)]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.9), "p90-ms")
}
