package node_test

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime/container"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/runtime/container/daemon"
)

// TestAnImportedImageIsNotFetchedAgain: once an agent has imported an
// image into containerd, its tarball may leave the artifact cache, and
// later tasks of the image run without fetching it again.
func TestAnImportedImageIsNotFetchedAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	dev, _, image := busyboxDev(ctx, t, node.DevOptions{
		DataDir: dataDir, ArtifactCacheBytes: 1, ArtifactCacheGrace: 200 * time.Millisecond, ArtifactCacheInterval: 20 * time.Millisecond,
	})
	run := func(id string) { t.Helper(); runTrue(ctx, t, dev, image, id) }
	tarball := filepath.Join(dataDir, "agent", "artifacts", strings.TrimPrefix(image, kernelpb.DigestPrefix))

	run("first")
	waitFor(t, 30*time.Second, "the tarball to leave the cache", func() bool {
		_, err := os.Stat(tarball)
		return os.IsNotExist(err)
	})
	fetches := metricSum(t, dev.Master.URL, "pando_agent_artifacts_fetches_total")
	run("second")
	if after := metricSum(t, dev.Master.URL, "pando_agent_artifacts_fetches_total"); after != fetches {
		t.Errorf("the agent fetched %v artifacts for a second task of an imported image, want none", after-fetches)
	}
	if _, err := os.Stat(tarball); !os.IsNotExist(err) {
		t.Errorf("the evicted tarball is back in the cache (%v)", err)
	}
}

// busyboxDev is a dev cluster of opts (a data dir and resources unless
// they say) on a containerd of its own, with the busybox tarball in its
// store, stopped when t ends.
func busyboxDev(ctx context.Context, t *testing.T, opts node.DevOptions) (*node.Dev, *daemon.Daemon, string) {
	t.Helper()
	ctd := containerdtest.Start(t)
	opts.HTTPAddr, opts.Containerd, opts.Logger = "127.0.0.1:0", ctd.Address, testLogger(t)
	opts.DataDir = cmp.Or(opts.DataDir, t.TempDir())
	opts.Resources = cmp.Or(opts.Resources, "cpus:2;mem:2048")
	dev, err := node.StartDev(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Stop(context.Background()) })
	return dev, ctd, putFile(t, dev, containerdtest.BusyboxTarball(t))
}

// runTrue runs `true` in a container of image, as framework id, and fails
// t unless it finishes.
func runTrue(ctx context.Context, t *testing.T, dev *node.Dev, image, id string) {
	t.Helper()
	o := &once{final: map[string]*kernelpb.TaskStatus{}, done: make(chan struct{}), want: 1}
	o.pending = []*kernelpb.TaskInfo{{TaskId: id, Name: id, Resources: resources.MustParse("cpus:0.5;mem:64").ToProto(),
		Runtime: &kernelpb.TaskInfo_Container{Container: &kernelpb.ContainerTask{Image: image, Command: []string{"true"}}}}}
	defer startFramework(t, dev, id, o)()
	select {
	case <-o.done:
	case <-ctx.Done():
		t.Fatalf("%s did not end", id)
	}
	if st := o.final[id]; st.GetState() != kernelpb.TaskState_TASK_FINISHED {
		t.Fatalf("%s ended %v: %s", id, st.GetState(), st.GetMessage())
	}
}

// TestIdleImagesLeaveTheAgentsContainerd: an image no task used for
// --image-idle leaves containerd, its snapshots with it, and a later task
// of it imports it again and runs.
func TestIdleImagesLeaveTheAgentsContainerd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dev, ctd, image := busyboxDev(ctx, t, node.DevOptions{ImageIdle: time.Second, ArtifactCacheInterval: 20 * time.Millisecond})
	c, err := containerd.New(ctd.Address, containerd.WithDefaultNamespace(container.DefaultNamespace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	held := func() (imgs, snaps int) {
		list, err := c.ImageService().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SnapshotService(container.DefaultSnapshotter).Walk(ctx, func(context.Context, snapshots.Info) error { snaps++; return nil })
		return len(list), snaps
	}
	for _, id := range []string{"first", "second"} {
		runTrue(ctx, t, dev, image, id)
		if imgs, _ := held(); imgs == 0 {
			t.Fatalf("no image in containerd's %s namespace right after %s ran", container.DefaultNamespace, id)
		}
		waitFor(t, 30*time.Second, "the idle image to leave containerd", func() bool {
			imgs, snaps := held()
			return imgs == 0 && snaps == 0
		})
	}
}
