package main_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/sdk/client"
)

// TestRunInputsAgainstDev runs jobs with --file, --dir and --each against
// a real `pando dev`, and every bad input the CLI must refuse.
func TestRunInputsAgainstDev(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	data := t.TempDir()
	_, master := newLab(t).startDev(bin, data, "--resources", "cpus:2;mem:4GiB", "--max-artifact-size", "16MiB")
	readinput := wasmbuild.MustBuild(t, "readinput")
	src := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	line := func(path, content string) string {
		return fmt.Sprintf("%s %d sha256:%x\n", path, len(content), sha256.Sum256([]byte(content)))
	}
	csv := write("data.csv", "a,b\n1,2\n")
	write("corpus/one.txt", "one")
	write("corpus/sub/two.txt", "two two")
	corpus := filepath.Join(src, "corpus")

	t.Run("--file and --dir are seen read-only by every instance", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		r := pando(t, bin, master, "run", readinput, "-n", "3", "--file", csv, "--dir", corpus, "--output", out, "--", "/input/data.csv", "/input/corpus")
		if r.code != 0 {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		want := line("/input/data.csv", "a,b\n1,2\n") + line("/input/corpus/one.txt", "one") + line("/input/corpus/sub/two.txt", "two two") + "/input is read-only\n"
		for i := range 3 {
			got, err := os.ReadFile(filepath.Join(out, fmt.Sprint(i), "stdout"))
			if err != nil || string(got) != want {
				t.Errorf("instance %d printed %q (%v), want %q", i, got, err, want)
			}
		}
	})

	t.Run("--each runs one instance per file and names the input of a failure", func(t *testing.T) {
		write("items/a.txt", "alpha")
		write("items/b.txt", "fail here")
		write("items/c.txt", "gamma")
		out := filepath.Join(t.TempDir(), "out")
		r := pando(t, bin, master, "run", readinput, "--each", filepath.Join(src, "items", "*.txt"), "--file", csv, "--output", out)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1 (one instance fails); stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "1/3 finished") && !strings.Contains(r.stdout, "2/3 finished") {
			t.Errorf("summary %q does not count 3 instances", r.stdout)
		}
		if want := "input " + filepath.Join(src, "items", "b.txt"); !strings.Contains(r.stdout, want) {
			t.Errorf("summary %q does not name the failed input (%q)", r.stdout, want)
		}
		for i, name := range []string{"a", "b", "c"} {
			got, _ := os.ReadFile(filepath.Join(out, fmt.Sprint(i), "stdout"))
			content := map[string]string{"a": "alpha", "b": "fail here", "c": "gamma"}[name]
			if want := fmt.Sprintf("each %s: %s\n", filepath.Join(src, "items", name+".txt"), content); !strings.Contains(string(got), want) {
				t.Errorf("instance %d printed %q, want it to contain %q", i, got, want)
			}
		}
	})

	jobsBefore := countJobs(t, master)
	big := filepath.Join(src, "big.bin")
	if err := os.WriteFile(big, make([]byte, 17<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		args []string
		want string
	}{
		{"a missing file", []string{"--file", filepath.Join(src, "nope.csv")}, "no such file"},
		{"a directory given as --file", []string{"--file", corpus}, "not a regular file"},
		{"a file given as --dir", []string{"--dir", csv}, "not a directory"},
		{"two inputs of one name", []string{"--file", csv, "--file", write("other/data.csv", "x")}, "would both be /input/data.csv"},
		{"a --dir whose name begins another input's", []string{"--dir", corpus, "--file", write("corpus2.txt", "x")}, "rename one"},
		{"a glob matching nothing", []string{"--each", filepath.Join(src, "*.nothing")}, "matches no file"},
		{"-n that disagrees with --each", []string{"--each", filepath.Join(src, "items", "*.txt"), "-n", "5"}, "matches 3 files but -n is 5"},
		{"an input over the size limit", []string{"--file", big}, "larger than the 16MiB limit"},
	}
	for _, tc := range bad {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			r := pando(t, bin, master, append([]string{"run", readinput}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	if n := countJobs(t, master); n != jobsBefore {
		t.Errorf("%d jobs after the refusals, want %d: a refused run submitted a job", n, jobsBefore)
	}
	entries, err := os.ReadDir(filepath.Join(data, "master", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("the master's artifact store holds %s: a refused upload left a partial file", e.Name())
		}
	}
}

func countJobs(t *testing.T, master string) int {
	t.Helper()
	c, err := client.New(master)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := batchapi.NewClient(c).Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(jobs)
}

// TestContainerJobInputs runs a container job with --file, --dir and
// --each against `pando dev` with a real containerd: the inputs are
// read-only bind mounts at the same paths WASM tasks see.
func TestContainerJobInputs(t *testing.T) {
	skipIfShort(t)
	ctd := containerdtest.Start(t)
	bin := buildPando(t)
	_, master := newLab(t).startDev(bin, t.TempDir(), "--resources", "cpus:2;mem:2GiB", "--containerd", ctd.Address)
	if r := pando(t, bin, master, "image", "import", containerdtest.BusyboxTarball(t)); r.code != 0 {
		t.Fatalf("pando image import: exit %d, stderr %q", r.code, r.stderr)
	}
	src := t.TempDir()
	for rel, content := range map[string]string{"data.csv": "csv;", "corpus/sub/one.txt": "one;", "items/a.txt": "a", "items/b.txt": "b"} {
		p := filepath.Join(src, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	r := pando(t, bin, master, "run", "--image", "busybox", "--cpus", "0.1", "--mem", "32MiB", "--output", out,
		"--file", filepath.Join(src, "data.csv"), "--dir", filepath.Join(src, "corpus"), "--each", filepath.Join(src, "items", "*.txt"),
		"--", "sh", "-c", `cat /input/data.csv /input/corpus/sub/one.txt "$PANDO_INPUT"; echo " $PANDO_INPUT_NAME"; if touch /input/x 2>/dev/null || touch /input/corpus/x 2>/dev/null; then echo writable; fi`)
	if r.code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for i, name := range []string{"a", "b"} {
		got, _ := os.ReadFile(filepath.Join(out, fmt.Sprint(i), "stdout"))
		if want := fmt.Sprintf("csv;one;%s %s\n", name, filepath.Join(src, "items", name+".txt")); string(got) != want {
			t.Errorf("instance %d printed %q, want %q (and no write under /input)", i, got, want)
		}
	}
}
