package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/frameworks/batch/batchapi"
)

// TestJobOutputsAgainstDev gets a job's outputs back with pando logs JOB,
// pando run --output and pando fetch, from a real pando dev.
func TestJobOutputsAgainstDev(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	master := startDev(t, bin, "--resources", "cpus:2;mem:4GiB")
	hello := wasmbuild.MustBuild(t, "hello")
	fail := wasmbuild.MustBuild(t, "fail")

	out := filepath.Join(t.TempDir(), "results")
	r := pando(t, bin, master, "run", hello, "-n", "5", "--json", "--output", out)
	if r.code != 0 {
		t.Fatalf("run --output: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	job := runJSON(t, r)["job"].(string)
	line := func(i int) string { return fmt.Sprintf("hello from instance %d of task %s.%d.0\n", i, job, i) }
	var all, prefixed strings.Builder
	for i := range 5 {
		all.WriteString(line(i))
		fmt.Fprintf(&prefixed, "[%d] %s", i, line(i))
	}

	t.Run("logs JOB prints every instance in order", func(t *testing.T) {
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"logs", job}, all.String()},
			{[]string{"logs", job, "--prefix"}, prefixed.String()},
			{[]string{"logs", job, "--instance", "3"}, line(3)},
			{[]string{"logs", job, "--instance", "3", "--prefix"}, "[3] " + line(3)},
			{[]string{"logs", job, "--stderr"}, ""},
			{[]string{"logs", job, "--follow"}, all.String()}, // an ended job: followed to its end at once
			{[]string{"logs", job + ".2.0"}, line(2)},         // a task id still works
		}
		for _, tc := range cases {
			r := pando(t, bin, master, tc.args...)
			if r.code != 0 || r.stdout != tc.want {
				t.Errorf("pando %v: exit %d, stdout %q, stderr %q; want exit 0 and %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
			}
		}
	})

	t.Run("run --output writes each instance's stdout and stderr", func(t *testing.T) {
		entries, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{"0", "1", "2", "3", "4"}; !slices.Equal(names, want) {
			t.Fatalf("%s holds %v, want %v", out, names, want)
		}
		for i := range 5 {
			stdout, err1 := os.ReadFile(filepath.Join(out, fmt.Sprint(i), "stdout"))
			stderr, err2 := os.ReadFile(filepath.Join(out, fmt.Sprint(i), "stderr"))
			if err1 != nil || err2 != nil || string(stdout) != line(i) || len(stderr) != 0 {
				t.Errorf("instance %d: stdout %q (%v), stderr %q (%v); want %q and nothing", i, stdout, err1, stderr, err2, line(i))
			}
		}
	})

	t.Run("fetch and --stderr of a failed job", func(t *testing.T) {
		r := pando(t, bin, master, "run", fail, "-n", "3", "--retries", "1", "--json")
		if r.code != 1 {
			t.Fatalf("run fail.wasm: exit %d, stderr %q; want 1", r.code, r.stderr)
		}
		failed := runJSON(t, r)["job"].(string)
		const says = "fail: failing on purpose with exit code 3\n"
		logs := pando(t, bin, master, "logs", failed, "--stderr", "--prefix")
		if want := "[0] " + says + "[1] " + says + "[2] " + says; logs.code != 0 || logs.stdout != want {
			t.Errorf("logs --stderr --prefix: exit %d, stdout %q, stderr %q; want %q", logs.code, logs.stdout, logs.stderr, want)
		}
		dir := filepath.Join(t.TempDir(), "failed")
		if f := pando(t, bin, master, "fetch", failed, dir); f.code != 0 {
			t.Fatalf("fetch: exit %d, stderr %q", f.code, f.stderr)
		}
		for i := range 3 {
			stderr, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(i), "stderr"))
			if err != nil || string(stderr) != says {
				t.Errorf("instance %d: stderr %q (%v), want %q", i, stderr, err, says)
			}
		}
	})

	t.Run("logs --follow prints a running job's instances in order", func(t *testing.T) {
		sleep := wasmbuild.MustBuild(t, "sleep")
		// Two instances run at a time on 2 CPUs: the third waits, and
		// follow waits with it.
		r := pando(t, bin, master, "run", sleep, "-n", "3", "--cpus", "1", "--detach", "--", "300ms")
		running := strings.TrimSpace(r.stdout)
		if r.code != 0 || running == "" {
			t.Fatalf("run --detach: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		f := pando(t, bin, master, "logs", running, "--follow", "--prefix")
		var want strings.Builder
		for i := range 3 {
			fmt.Fprintf(&want, "[%d] sleeping\n[%d] awake\n", i, i)
		}
		if f.code != 0 || f.stdout != want.String() {
			t.Errorf("logs --follow --prefix: exit %d, stdout %q, stderr %q; want %q", f.code, f.stdout, f.stderr, want.String())
		}
	})

	t.Run("fetch copies the files left in /sandbox/out/", func(t *testing.T) {
		writeout := buildWasm(t, "writeout", "./testdata/writeout")
		dir := filepath.Join(t.TempDir(), "out")
		r := pando(t, bin, master, "run", writeout, "-n", "2", "--output", dir)
		if r.code != 0 {
			t.Fatalf("run --output: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		for i := range 2 {
			for file, want := range map[string]string{
				"stdout": "wrote /sandbox/out/\n", "out/result.txt": fmt.Sprintf("result of instance %d\n", i), "out/sub/part": "part",
			} {
				got, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(i), file))
				if err != nil || string(got) != want {
					t.Errorf("instance %d: %s = %q (%v), want %q", i, file, got, err, want)
				}
			}
		}
	})

	t.Run("bad input gets a clear error and writes nothing", func(t *testing.T) {
		tmp := t.TempDir()
		file := filepath.Join(tmp, "a-file")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		full := filepath.Join(tmp, "full")
		if err := os.MkdirAll(filepath.Join(full, "old"), 0o755); err != nil {
			t.Fatal(err)
		}
		jobsBefore := pando(t, bin, master, "jobs", "--json").stdout
		cases := []struct {
			args []string
			code int
			says string
		}{
			{[]string{"run", hello, "--output", filepath.Join(file, "out")}, 2, "cannot be written"},
			{[]string{"fetch", job, filepath.Join(file, "out")}, 2, "cannot be written"},
			{[]string{"fetch", job, file}, 2, "a file of that name exists"},
			{[]string{"fetch", job, full}, 2, "is not empty"},
			{[]string{"fetch", "no-such-job", filepath.Join(tmp, "none")}, 1, `no job named "no-such-job"`},
			{[]string{"run", hello, "--output", filepath.Join(tmp, "d"), "--detach"}, 2, "--output waits for the job"},
			{[]string{"logs", job, "--instance", "5"}, 2, "has instances 0 to 4"},
			{[]string{"logs", job + ".0.0", "--prefix"}, 2, "--prefix and --instance are for a batch job"},
		}
		for _, tc := range cases {
			r := pando(t, bin, master, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
				t.Errorf("pando %v: exit %d, stderr %q; want exit %d saying %q", tc.args, r.code, r.stderr, tc.code, tc.says)
			}
		}
		if after := pando(t, bin, master, "jobs", "--json").stdout; after != jobsBefore {
			t.Errorf("a refused run --output submitted a job: jobs went from %s to %s", jobsBefore, after)
		}
		entries, _ := os.ReadDir(tmp)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{"a-file", "full"}; !slices.Equal(names, want) {
			t.Errorf("%s holds %v after the refusals, want only %v", tmp, names, want)
		}
	})
}

// buildWasm builds the Go package pkg for wasip1 into name.wasm.
func buildWasm(t *testing.T, name, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
	return out
}

// TestJobOutputsOutliveTheMastersMemory: a master that remembers only 3
// ended tasks still serves every instance's logs and outputs of an
// 8-instance job, from the agents that keep them.
func TestJobOutputsOutliveTheMastersMemory(t *testing.T) {
	skipIfShort(t)
	bin := buildPando(t)
	master := startDev(t, bin, "--resources", "cpus:2;mem:4GiB", "--max-completed-tasks", "3")
	hello := wasmbuild.MustBuild(t, "hello")
	const n = 8
	out := filepath.Join(t.TempDir(), "results")
	r := pando(t, bin, master, "run", hello, "-n", fmt.Sprint(n), "--json", "--output", out)
	if r.code != 0 {
		t.Fatalf("run --output: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	job := runJSON(t, r)["job"].(string)
	var all strings.Builder
	for i := range n {
		fmt.Fprintf(&all, "hello from instance %d of task %s.%d.0\n", i, job, i)
	}
	if logs := pando(t, bin, master, "logs", job); logs.code != 0 || logs.stdout != all.String() {
		t.Errorf("pando logs %s: exit %d, stdout %q, stderr %q; want every instance's line", job, logs.code, logs.stdout, logs.stderr)
	}
	for i := range n {
		got, err := os.ReadFile(filepath.Join(out, fmt.Sprint(i), "stdout"))
		if want := fmt.Sprintf("hello from instance %d of task %s.%d.0\n", i, job, i); err != nil || string(got) != want {
			t.Errorf("run --output, instance %d: %q (%v), want %q", i, got, err, want)
		}
	}
	// The master has forgotten all but 3 of them: by its id alone, the
	// log of a forgotten task is not to be had.
	forgotten := 0
	for i := range n {
		if r := pando(t, bin, master, "logs", fmt.Sprintf("%s.%d.0", job, i)); r.code != 0 {
			forgotten++
		}
	}
	if forgotten < n-3 {
		t.Errorf("by task id alone, %d of %d instances' logs were refused, want at least %d: the master remembers 3 ended tasks", forgotten, n, n-3)
	}
	// Named with its framework and agent, the master forwards to the
	// agent whether it remembers the task or not.
	resp, err := http.Get(master + "/api/v1/batch/jobs/" + job + "/tasks")
	if err != nil {
		t.Fatal(err)
	}
	var tasks []batchapi.TaskStatusView
	err = json.NewDecoder(resp.Body).Decode(&tasks)
	resp.Body.Close()
	if err != nil || len(tasks) != n {
		t.Fatalf("the job's tasks: %v (%v)", tasks, err)
	}
	for i, task := range tasks {
		q := url.Values{"stream": {"stdout"}, "framework": {task.FrameworkID}, "agent": {task.AgentID}}
		resp, err := http.Get(master + "/api/v1/tasks/" + task.TaskID + "/logs?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("hello from instance %d of task %s.%d.0\n", i, job, i); resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("the master's logs of %s with its framework and agent: %d %q, want %q", task.TaskID, resp.StatusCode, body, want)
		}
	}
}
