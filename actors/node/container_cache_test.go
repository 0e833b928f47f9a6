package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/runtime/container/containerdtest"
)

// TestAnImportedImageIsNotFetchedAgain: once an agent has imported an
// image into containerd, its tarball may leave the artifact cache, and
// later tasks of the image run without fetching it again.
func TestAnImportedImageIsNotFetchedAgain(t *testing.T) {
	ctd := containerdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	dev, err := node.StartDev(ctx, node.DevOptions{
		HTTPAddr: "127.0.0.1:0", DataDir: dataDir, Resources: "cpus:2;mem:2048", Logger: testLogger(t),
		Containerd:         ctd.Address,
		ArtifactCacheBytes: 1, ArtifactCacheGrace: 200 * time.Millisecond, ArtifactCacheInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop(context.Background())
	data, err := os.ReadFile(containerdtest.BusyboxTarball(t))
	if err != nil {
		t.Fatal(err)
	}
	image, err := dev.Master.Artifacts.Put(data)
	if err != nil {
		t.Fatal(err)
	}
	run := func(id string) {
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
