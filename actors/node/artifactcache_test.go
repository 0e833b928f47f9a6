package node_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/kernel/kernelpb"
)

// variant is a copy of the module at path that differs by a custom
// section: the same program under another digest.
func variant(t *testing.T, path, name string) []byte {
	t.Helper()
	module, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A custom section: id 0, its size, its name ("v") and content
	// (name; wazero refuses an empty one).
	return append(module, append([]byte{0, byte(len(name) + 2), 1, 'v'}, name...)...)
}

// TestAgentBoundsItsArtifactCache runs an agent whose caches may hold
// (almost) nothing: once tasks end and the grace passes, their modules,
// inputs, views and compiled modules go; a live task's stay; a task
// naming an evicted module fetches it again and runs.
func TestAgentBoundsItsArtifactCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	dev, err := node.StartDev(ctx, node.DevOptions{
		HTTPAddr: "127.0.0.1:0", DataDir: dataDir, Resources: "cpus:2;mem:2048", Logger: testLogger(t),
		ArtifactCacheBytes: 1, ArtifactCacheGrace: 200 * time.Millisecond, ArtifactCacheInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop(context.Background())
	store := dev.Master.Artifacts
	put := func(data []byte) string {
		d, err := store.Put(data)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cacheDir := filepath.Join(dataDir, "agent", "artifacts")
	cached := func(digest string) bool {
		_, err := os.Stat(filepath.Join(cacheDir, strings.TrimPrefix(digest, kernelpb.DigestPrefix)))
		return err == nil
	}
	entries := func(sub string) int { // not counting what is being deleted
		des, _ := os.ReadDir(filepath.Join(cacheDir, sub))
		n := 0
		for _, d := range des {
			if !strings.HasPrefix(d.Name(), ".") {
				n++
			}
		}
		return n
	}
	tiny, nap := wasmbuild.MustBuild(t, "tiny"), wasmbuild.MustBuild(t, "nap")
	run := func(name, module string, inputs []*kernelpb.Input) {
		t.Helper()
		l := newLauncher(module, 1)
		l.inputs = inputs
		defer startFramework(t, dev, name, l)()
		select {
		case <-l.done:
		case <-ctx.Done():
			t.Fatalf("%s: its task did not end", name)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for id, s := range l.states {
			if s != kernelpb.TaskState_TASK_FINISHED {
				t.Fatalf("%s: task %s ended %s (%v)", name, id, s, l.errs)
			}
		}
	}

	// Two tasks that end, each with its module and input.
	moduleA, moduleB := put(variant(t, tiny, "a")), put(variant(t, tiny, "b"))
	inputA, inputB := put([]byte("input of a")), put([]byte("input of b"))
	run("ended-a", moduleA, []*kernelpb.Input{{Digest: inputA, Path: "/input/a.txt"}})
	run("ended-b", moduleB, []*kernelpb.Input{{Digest: inputB, Path: "/input/b.txt"}})

	// A task that lives on, with a file and an archive as inputs.
	tree := t.TempDir()
	os.WriteFile(filepath.Join(tree, "one.txt"), []byte("one"), 0o644)
	var archive bytes.Buffer
	if err := artifacts.TarDir(&archive, tree); err != nil {
		t.Fatal(err)
	}
	moduleLive, inputLive, archiveLive := put(variant(t, nap, "live")), put([]byte("input of the live task")), put(archive.Bytes())
	live := newLauncher(moduleLive, 1)
	live.inputs = []*kernelpb.Input{{Digest: inputLive, Path: "/input/live.txt"}, {Digest: archiveLive, Path: "/input/tree", Archive: true}}
	defer startFramework(t, dev, "live", live)()
	waitFor(t, 30*time.Second, "the live task to run", func() bool {
		live.mu.Lock()
		defer live.mu.Unlock()
		return live.states["hello-0"] == kernelpb.TaskState_TASK_RUNNING
	})

	// One more that ends, fetched after the live task runs: once it is
	// gone, a collection has run with the live task live.
	moduleC := put(variant(t, tiny, "c"))
	run("ended-c", moduleC, nil)
	waitFor(t, 30*time.Second, "the ended tasks' modules, inputs and views to go", func() bool {
		return !cached(moduleA) && !cached(moduleB) && !cached(moduleC) && !cached(inputA) && !cached(inputB) && entries("views") == 1
	})
	for name, d := range map[string]string{"module": moduleLive, "input": inputLive, "archive": archiveLive} {
		if !cached(d) {
			t.Errorf("the live task's %s was evicted", name)
		}
	}
	if n := entries("trees"); n != 1 {
		t.Errorf("%d unpacked trees, want the live task's", n)
	}
	// Compiled modules may all go: the live one stays compiled in
	// memory, and a restart of the agent would compile it again.
	waitFor(t, 30*time.Second, "the compiled modules to go", func() bool {
		var files int
		filepath.WalkDir(node.CompileCacheDir(filepath.Join(dataDir, "agent")), func(_ string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files++
			}
			return nil
		})
		return files == 0
	})

	// An evicted module and input are fetched again, verified, and run.
	before := metricSum(t, dev.Master.URL, "pando_agent_artifacts_fetches_total")
	run("again-a", moduleA, []*kernelpb.Input{{Digest: inputA, Path: "/input/a.txt"}})

	// The metrics say as much: the fetches again, the evictions.
	if after := metricSum(t, dev.Master.URL, "pando_agent_artifacts_fetches_total"); after < before+2 {
		t.Errorf("the artifact fetches went from %v to %v for a task whose module and input were evicted, want 2 more", before, after)
	}
	if n := metricSum(t, dev.Master.URL, "pando_agent_artifacts_evicted_total"); n < 5 {
		t.Errorf("%v evictions reported, want at least the 3 modules, 2 inputs", n)
	}
}

// metricSum adds up the series of a metric in what url's /metrics serves.
func metricSum(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	found := false
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		t.Fatalf("/metrics has no %s:\n%.3000s", name, body)
	}
	return sum
}
