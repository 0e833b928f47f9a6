package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/sdk/client"
)

const busyboxTar = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

// fakeMaster serves the image list and a batch API that finishes (or
// fails) every job at the first poll, recording the specs it is given.
type fakeMaster struct {
	mu     sync.Mutex
	specs  []batchapi.JobSpec
	failed int // instances to report failed
	why    string
}

func (m *fakeMaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case r.URL.Path == "/api/v1/images":
		_ = json.NewEncoder(w).Encode([]client.Image{{Name: "busybox:latest", Digest: busyboxTar, Size: 1 << 20, Platforms: []string{"linux/amd64"}}})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/batch/jobs":
		var spec batchapi.JobSpec
		if err := json.NewDecoder(r.Body).Decode(&spec); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m.specs = append(m.specs, spec)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(batchapi.JobStatus{ID: "job-1", Name: spec.Name, Instances: spec.Instances, Pending: spec.Instances, State: "pending", Why: m.why})
	case r.URL.Path == "/api/v1/batch/jobs/job-1":
		spec := m.specs[len(m.specs)-1]
		st := batchapi.JobStatus{ID: "job-1", Name: spec.Name, Instances: spec.Instances, Finished: spec.Instances - m.failed, Failed: m.failed, State: "finished"}
		if m.failed > 0 {
			st.State = "failed"
			st.Failures = []batchapi.JobFailure{{Instance: 0, TaskID: "job-1.0.0", State: "failed", Message: "exit 3", ExitCode: 3}}
		}
		_ = json.NewEncoder(w).Encode(st)
	default:
		http.NotFound(w, r)
	}
}

func runCLI(t *testing.T, master string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"--master", master}, args...))
	err := root.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
		errb.WriteString(err.Error())
	default:
		code = 1
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

func TestRunImage(t *testing.T) {
	defer func(d time.Duration) { waitNoteAfter = d }(waitNoteAfter)
	waitNoteAfter = 0 // the fake master's job waits for one poll only
	m := &fakeMaster{why: "no agent has a container runtime (h1: unavailable: containerd is not running): the job waits for one that has"}
	srv := httptest.NewServer(m)
	defer srv.Close()

	out, errOut, code := runCLI(t, srv.URL, "run", "--image", "busybox", "-n", "3", "--cpus", "0.5", "--mem", "32MiB",
		"--timeout", "1m", "--retries", "2", "--env", "A=b", "--kill-grace", "5s", "--", "sh", "-c", "echo $PANDO_INSTANCE")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	spec := m.specs[0]
	c := spec.Container
	if c == nil || c.Image != busyboxTar || c.ImageName != "busybox:latest" || spec.Module != "" {
		t.Fatalf("spec %+v: want the busybox tarball", spec)
	}
	if strings.Join(spec.Args, " ") != "sh -c echo $PANDO_INSTANCE" || spec.Instances != 3 || spec.Resources != "cpus:0.5;mem:32" ||
		spec.TimeoutMS != 60000 || spec.Retries != 2 || spec.Env["A"] != "b" || spec.KillGraceMS != 5000 || spec.Name != "" {
		t.Fatalf("spec %+v", spec)
	}
	if !strings.Contains(out, "job job-1 finished: 3/3 finished") {
		t.Fatalf("summary %q", out)
	}
	if !strings.Contains(errOut, "waiting: no agent has a container runtime") {
		t.Fatalf("stderr %q: the waiting note is not shown", errOut)
	}

	// By tarball digest, with --json; a failed instance exits 1.
	m.failed, m.why = 1, ""
	out, _, code = runCLI(t, srv.URL, "--json", "run", "--image", busyboxTar, "-n", "2", "--", "false")
	var sum jobSummaryJSON
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != 1 || sum.Failed != 1 || sum.Finished != 1 || len(sum.Failures) != 1 {
		t.Fatalf("--json %q (exit %d): %+v, %v", out, code, sum, err)
	}
}

func TestRunImageBadInput(t *testing.T) {
	srv := httptest.NewServer(&fakeMaster{})
	defer srv.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--image", "nginx", "--", "nginx"}, "has busybox:latest"},
		{[]string{"run", "--image", "busybox", "--kill-grace", "-1s", "--", "true"}, "--kill-grace must not be negative"},
		{[]string{"run"}, "--image REF"},
	} {
		_, errOut, code := runCLI(t, srv.URL, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("pando %v: exit %d, %q; want exit 2 mentioning %q", tc.args, code, errOut, tc.want)
		}
	}
}
