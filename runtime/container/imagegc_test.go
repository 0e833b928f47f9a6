package container_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/container"
)

// imageNames lists the images in rt's namespace, sorted.
func imageNames(t *testing.T, rt *container.Runtime) []string {
	t.Helper()
	list, err := rt.Client().ImageService().List(namespaces.WithNamespace(context.Background(), rt.Namespace()))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, img := range list {
		out = append(out, img.Name)
	}
	slices.Sort(out)
	return out
}

// twoOwners are the configs of two agents, "agent-a" and "agent-b",
// sharing a fresh namespace.
func twoOwners(t *testing.T) (a, b container.Config) {
	a = testConfig(t)
	a.Owner = "agent-a"
	b = a
	b.Owner, b.AgentID = "agent-b", a.AgentID+"-b"
	return a, b
}

// An imported image stays in containerd while a task of it runs and for
// the idle time after; then CollectImages removes it, its snapshots go
// with it, and the next task imports it again and runs.
func TestIdleImagesLeaveContainerd(t *testing.T) {
	cfg := testConfig(t)
	rt := newRuntime(t, cfg)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), cfg.Namespace), 2*time.Minute)
	defer cancel()
	counts := func() (imgs, snaps int) {
		t.Helper()
		err := rt.Client().SnapshotService(container.DefaultSnapshotter).Walk(ctx, func(context.Context, snapshots.Info) error {
			snaps++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return len(imageNames(t, rt)), snaps
	}

	spec := sh(t, `trap 'exit 143' TERM; echo up; while :; do sleep 0.05; done`)
	spec.KillGrace = 100 * time.Millisecond
	digest, err := container.FileDigest(spec.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	task := launch(t, rt, spec)
	waitForLog(t, spec, "stdout", "up")
	if imgs, _ := counts(); imgs == 0 {
		t.Fatal("no image in containerd after a launch")
	}
	// In use: it stays, whatever the idle time.
	if gone, err := rt.CollectImages(ctx, 0, time.Now().Add(time.Hour)); err != nil || len(gone) != 0 {
		t.Fatalf("CollectImages with a task running removed %v (%v)", gone, err)
	}
	if err := task.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, task)
	// Used within the idle time: it stays.
	if gone, err := rt.CollectImages(ctx, time.Hour, time.Now()); err != nil || len(gone) != 0 {
		t.Fatalf("CollectImages of an image used a moment ago removed %v (%v)", gone, err)
	}
	if !rt.Imported(digest) {
		t.Fatal("the image was forgotten")
	}
	gone, err := rt.CollectImages(ctx, time.Minute, time.Now().Add(2*time.Minute))
	if err != nil || !slices.Equal(gone, []string{digest}) {
		t.Fatalf("CollectImages of an idle image = %v, %v; want %s", gone, err, digest)
	}
	if imgs, snaps := counts(); imgs != 0 || snaps != 0 {
		t.Errorf("after the collection containerd holds %d images and %d snapshots, want none", imgs, snaps)
	}
	if rt.Imported(digest) {
		t.Error("Imported still says yes")
	}

	// The next task imports it again.
	again := sh(t, `echo again`)
	before := container.Imports(rt)
	if exit := wait(t, launch(t, rt, again)); exit.Outcome != runtime.Finished {
		t.Fatalf("a task after the collection: %+v", exit)
	}
	if n := container.Imports(rt) - before; n != 1 {
		t.Errorf("the task after the collection made %d imports, want 1", n)
	}
	waitForLog(t, again, "stdout", "again")
}

// Collections that meet launches never take an image from under one: a
// launch either holds its images or imports them again.
func TestCollectingImagesWhileLaunching(t *testing.T) {
	cfg := testConfig(t)
	rt := newRuntime(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan struct{})
	collected := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				collected <- n
				return
			default:
			}
			gone, err := rt.CollectImages(ctx, 0, time.Now().Add(time.Hour))
			if err != nil {
				t.Errorf("CollectImages: %v", err)
			}
			n += len(gone)
			time.Sleep(time.Millisecond)
		}
	}()
	for i := range 8 {
		spec := sh(t, `echo ran`)
		task, err := rt.Launch(ctx, spec)
		if err != nil {
			t.Errorf("launch %d while collecting: %v", i, err)
			continue
		}
		if exit := wait(t, task); exit.Outcome != runtime.Finished {
			t.Errorf("task %d: %+v", i, exit)
		}
	}
	close(done)
	if n := <-collected; n == 0 {
		t.Error("no collection removed anything: the test did not test")
	}
}

// Two owners' runtimes in one namespace (two agents on one containerd):
// one's collection leaves the other's images, which it goes on using.
func TestCollectingImagesLeavesAnotherOwnersImages(t *testing.T) {
	cfg, other := twoOwners(t)
	a, b := newRuntime(t, cfg), newRuntime(t, other)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, rt := range []*container.Runtime{a, b} {
		if exit := wait(t, launch(t, rt, sh(t, `true`))); exit.Outcome != runtime.Finished {
			t.Fatalf("a first task: %+v", exit)
		}
	}
	if gone, err := a.CollectImages(ctx, 0, time.Now().Add(time.Hour)); err != nil || len(gone) != 1 {
		t.Fatalf("a's collection = %v, %v; want its one tarball", gone, err)
	}
	imports := container.Imports(b)
	spec := sh(t, `echo still`)
	if exit := wait(t, launch(t, b, spec)); exit.Outcome != runtime.Finished {
		t.Fatalf("b's task after a's collection: %+v", exit)
	}
	waitForLog(t, spec, "stdout", "still")
	if n := container.Imports(b) - imports; n != 0 {
		t.Errorf("b imported %d times after a's collection, want 0: its images were taken", n)
	}
	list := imageNames(t, b)
	for _, name := range list {
		if !strings.HasPrefix(name, "pando.import/agent-b/") {
			t.Errorf("image %s is left after a's collection; want only b's", name)
		}
	}
	if len(list) == 0 {
		t.Error("b's images are gone")
	}
}

// An earlier run's images (of the same owner) that no task of this run
// uses go once the runtime has run for the idle time; one this run uses
// again is its own; another owner's stay.
func TestAnEarlierRunsIdleImagesGo(t *testing.T) {
	cfg, other := twoOwners(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Earlier runs: a's and b's, each importing busybox, then closed
	// (images stay imported).
	for _, c := range []container.Config{cfg, other} {
		rt, err := container.New(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if exit := wait(t, launch(t, rt, sh(t, `true`))); exit.Outcome != runtime.Finished {
			t.Fatalf("a task of the earlier run: %+v", exit)
		}
		if err := rt.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a := newRuntime(t, cfg)
	before := imageNames(t, a)
	if len(before) != 2 {
		t.Fatalf("the earlier runs left %v, want one image of each owner", before)
	}
	if gone, err := a.CollectImages(ctx, time.Hour, time.Now()); err != nil || len(gone) != 0 {
		t.Fatalf("a collection before the runtime ran for the idle time removed %v (%v)", gone, err)
	}
	digest, err := container.FileDigest(busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	gone, err := a.CollectImages(ctx, time.Hour, time.Now().Add(2*time.Hour))
	if err != nil || len(gone) != 1 || !strings.HasPrefix(digest, gone[0]) {
		t.Fatalf("the collection of the earlier run's image = %v, %v; want the tarball %s", gone, err, digest)
	}
	if left := imageNames(t, a); len(left) != 1 || !strings.HasPrefix(left[0], "pando.import/agent-b/") {
		t.Errorf("after a's collection containerd holds %v, want only b's image", left)
	}

	// b's next run uses its image again: the image is that run's now, kept
	// while a task of it runs, however long after the start.
	b := newRuntime(t, other)
	spec := sh(t, `trap 'exit 143' TERM; echo up; while :; do sleep 0.05; done`)
	spec.KillGrace = 100 * time.Millisecond
	task := launch(t, b, spec)
	waitForLog(t, spec, "stdout", "up")
	if gone, err := b.CollectImages(ctx, time.Hour, time.Now().Add(2*time.Hour)); err != nil || len(gone) != 0 {
		t.Errorf("b's collection removed %v (%v) while a task of it runs", gone, err)
	}
	if left := imageNames(t, b); len(left) != 1 {
		t.Errorf("containerd holds %v, want b's image", left)
	}
	if err := task.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, task)
}
