package container_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pandodc/pando/runtime"
)

// TestInputsAreReadOnlyBindMounts shows a view at /input and a tree inside
// it, as the agent does: the task reads both and cannot write to either.
func TestInputsAreReadOnlyBindMounts(t *testing.T) {
	rt := newRuntime(t, testConfig(t))
	view, tree := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(view, "data.csv"), []byte("abc"), 0o644)
	os.Mkdir(filepath.Join(view, "corpus"), 0o755)
	os.WriteFile(filepath.Join(tree, "one.txt"), []byte("one"), 0o644)
	spec := sh(t, `cat /input/data.csv /input/corpus/one.txt; if touch /input/x 2>/dev/null || touch /input/corpus/x 2>/dev/null; then echo writable; fi`)
	spec.Inputs = []runtime.Mount{{Source: view, Target: "/input"}, {Source: tree, Target: "/input/corpus"}}
	exit := wait(t, launch(t, rt, spec))
	if exit.Outcome != runtime.Finished {
		t.Fatalf("exit %+v, stderr %q", exit, readLog(t, spec, "stderr"))
	}
	if got := readLog(t, spec, "stdout"); got != "abcone" {
		t.Errorf("stdout %q, want the inputs' contents and no write", got)
	}
}
