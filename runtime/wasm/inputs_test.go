package wasm_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

// TestInputsAreReadOnly mounts a view at /input and a tree inside it, as
// the agent does, and runs a module that reads both and tries to write.
func TestInputsAreReadOnly(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	view, tree := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(view, "data.csv"), []byte("abc"), 0o644)
	os.Mkdir(filepath.Join(view, "corpus"), 0o755)
	os.WriteFile(filepath.Join(tree, "one.txt"), []byte("one"), 0o644)
	exit, stdout, stderr := run(t, rt, runtime.Spec{
		Artifact: wasmbuild.MustBuild(t, "readinput"),
		Args:     []string{"/input/data.csv", "/input/corpus"},
		Inputs:   []runtime.Mount{{Source: view, Target: "/input"}, {Source: tree, Target: "/input/corpus"}},
	})
	if exit.Outcome != runtime.Finished {
		t.Fatalf("exit %+v, stderr %q", exit, stderr)
	}
	for _, want := range []string{"/input/data.csv 3 ", "/input/corpus/one.txt 3 ", "/input is read-only"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout %q lacks %q", stdout, want)
		}
	}
	if _, err := os.Stat(filepath.Join(view, "written-by-task")); err == nil {
		t.Error("the task wrote into its input view")
	}
}
