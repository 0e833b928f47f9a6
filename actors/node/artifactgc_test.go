package node_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk/client"
)

// TestArtifactCollection drives a real master: what an active task names,
// what a lease names and what the catalog holds stay; the rest goes once
// its grace is over, and a released lease lets go of its artifacts.
func TestArtifactCollection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The agent's fetches wait until the test ends: its task stays
	// STAGING, active in the master, with no module to compile.
	dir := t.TempDir()
	m, err := node.StartMaster(node.MasterOptions{HTTPAddr: "127.0.0.1:0", DataDir: filepath.Join(dir, "master"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	unblock := make(chan struct{})
	blocked := artifacts.SourceFunc(func(ctx context.Context, digest string) (io.ReadCloser, error) {
		select {
		case <-unblock:
		case <-ctx.Done():
		}
		return nil, errors.New("the test is over")
	})
	a, err := node.StartAgent(ctx, node.AgentOptions{
		System: m.System, Master: m.PID, Artifacts: blocked, WorkDir: filepath.Join(dir, "agent"),
		Resources: "cpus:1;mem:1024", Mux: m.Mux, MuxPrefix: "/agent", HTTPBase: m.URL + "/agent", Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	dev := &node.Dev{Master: m, Agent: a}
	defer dev.Stop(context.Background())
	defer close(unblock)
	store := dev.Master.Artifacts
	moduleDigest, _ := store.Put([]byte("\x00asm\x01\x00\x00\x00 a module never fetched"))
	input, _ := store.Put([]byte("leased input"))
	leasedOnly, _ := store.Put([]byte("leased, and named by no task"))
	orphan, _ := store.Put([]byte("nobody's"))

	api, err := client.New(dev.Master.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.LeaseArtifacts(ctx, "test/job-1", []string{input, leasedOnly}, time.Hour*24); err != nil {
		t.Fatal(err)
	}
	missing := kernelpb.DigestPrefix + "0000000000000000000000000000000000000000000000000000000000000000"
	if err := api.LeaseArtifacts(ctx, "test/job-2", []string{missing}, time.Hour); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("a lease on a missing artifact: %v, want 404", err)
	}
	l := newLauncher(moduleDigest, 1)
	l.inputs = []*kernelpb.Input{{Digest: input, Path: "/input/x"}}
	defer startFramework(t, dev, "gc-test", l)()
	waitFor(t, 30*time.Second, "the master to know the task", func() bool {
		tasks, err := api.Tasks(ctx, nil)
		return err == nil && len(tasks) == 1
	})

	later := time.Now().Add(2 * time.Hour)
	got, err := dev.Master.Collector.Collect(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{orphan}) {
		t.Fatalf("collected %v, want only the orphan %s", got, orphan)
	}
	if _, err := store.Path(orphan); err == nil {
		t.Error("the orphan is still stored")
	}
	if err := api.ReleaseArtifacts(ctx, "test/job-1"); err != nil {
		t.Fatal(err)
	}
	got, err = dev.Master.Collector.Collect(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{leasedOnly}) {
		t.Fatalf("after the release collected %v, want only %s: the running task names the module and the input", got, leasedOnly)
	}
}
