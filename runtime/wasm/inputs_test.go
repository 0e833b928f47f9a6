package wasm_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

// TestInputsAreMounted mounts a view at /input and a tree inside it, as
// the agent does, and runs a module that reads from both. (That writes
// there fail is checked end to end with examples/wasm/readinput in
// cmd/pando; escape is used here because the package's other tests have
// compiled it already: a Go module's compilation under the race detector
// takes a minute on a busy machine.)
func TestInputsAreMounted(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	view, tree := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(view, "data.csv"), []byte("abc"), 0o644)
	os.Mkdir(filepath.Join(view, "corpus"), 0o755)
	os.WriteFile(filepath.Join(tree, "one.txt"), []byte("one"), 0o644)
	exit, stdout, stderr := run(t, rt, runtime.Spec{
		Artifact: wasmbuild.MustBuild(t, "escape"),
		Args:     []string{"/input/data.csv", "/input/corpus/one.txt"},
		Inputs:   []runtime.Mount{{Source: view, Target: "/input"}, {Source: tree, Target: "/input/corpus"}},
	})
	if exit.Outcome != runtime.Finished {
		t.Fatalf("exit %+v, stderr %q", exit, stderr)
	}
	if want := "/input/data.csv: read: abc\n/input/corpus/one.txt: read: one\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
}
