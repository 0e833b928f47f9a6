package batch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/sdktest"
)

var image = "sha256:" + strings.Repeat("cd", 32)

func containerSpec(n int) JobSpec {
	return JobSpec{
		Instances: n, Args: []string{"sh", "-c", "echo hi"}, KillGraceMS: 3000, TimeoutMS: 60000,
		Container: &ContainerSpec{Image: image, ImageName: "docker.io/library/busybox:latest", Command: []string{"/bin/env"}, WorkingDir: "/tmp"},
	}
}

func TestContainerJobValidation(t *testing.T) {
	f, _ := newFW(t, newMemStore(), nil)
	for _, tc := range []struct {
		spec JobSpec
		msg  string
	}{
		{JobSpec{Instances: 1, Module: module, Container: &ContainerSpec{Image: image}}, "not both"},
		{JobSpec{Instances: 1, Container: &ContainerSpec{Image: "busybox"}}, "container image"},
		{JobSpec{Instances: 1, Module: module, KillGraceMS: -1}, "kill_grace_ms"},
	} {
		if _, err := f.Submit(context.Background(), tc.spec); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Submit(%+v) = %v, want ErrInvalid mentioning %q", tc.spec, err, tc.msg)
		}
	}
}

// TestContainerJobOnHarness runs the batch framework, as the sdk.Scheduler
// it is, against sdktest's master: container instances go only to agents
// whose runtimes list container, the rest are declined and counted, and a
// dropped launch is relaunched without spending a retry.
func TestContainerJobOnHarness(t *testing.T) {
	f, err := New(Config{Store: newMemStore(), PersistInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sdktest.New(t, f)
	st, err := f.Submit(context.Background(), containerSpec(2))
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "busybox" || st.Image != image || st.ImageName != "docker.io/library/busybox:latest" {
		t.Fatalf("status %+v", st)
	}
	wasmOnly := map[string]string{"runtimes": "wasm", "container": "unavailable: containerd is not running"}
	h.SendOffers(sdktest.Offer{Agent: "a1", Attributes: wasmOnly}, sdktest.Offer{Agent: "a2", Attributes: wasmOnly})
	if len(h.Launched()) != 0 || len(h.Declined()) != 2 {
		t.Fatalf("launched %v declined %v: want both wasm-only offers declined", h.Launched(), h.Declined())
	}
	st = mustJob(t, f, st.ID)
	if st.Declined == nil || st.Declined.Constraint["runtimes HAS container"] != 2 || !strings.Contains(st.Why, "container runtime") {
		t.Fatalf("declined %+v, why %q", st.Declined, st.Why)
	}

	h.SendOffers(sdktest.Offer{Agent: "a3", Resources: "cpus:0.15;mem:1GiB", Attributes: map[string]string{"runtimes": "wasm,container"}})
	tasks := h.Launched()
	if len(tasks) != 1 || tasks[0].GetAgentId() != "a3" {
		t.Fatalf("launched %v, want one instance on a3", tasks)
	}
	c := tasks[0].GetContainer()
	if c.GetImage() != image || c.GetImageName() != "docker.io/library/busybox:latest" || strings.Join(c.GetArgs(), " ") != "sh -c echo hi" ||
		c.GetCommand()[0] != "/bin/env" || c.GetWorkingDir() != "/tmp" || tasks[0].GetKillGracePeriodMs() != 3000 || tasks[0].GetTimeoutMs() != 60000 {
		t.Fatalf("task %v", tasks[0])
	}
	if tasks[0].GetEnv()["PANDO_INSTANCE"] != "0" || tasks[0].GetLabels()["pando.job"] != st.ID {
		t.Fatalf("env %v labels %v", tasks[0].GetEnv(), tasks[0].GetLabels())
	}
	h.SendOffers(sdktest.Offer{Agent: "a4", Resources: "cpus:0.05;mem:1GiB", Attributes: map[string]string{"runtimes": "container"}})
	if st := mustJob(t, f, st.ID); st.Declined.TooSmall["cpus"] != 1 || st.Declined.Offers != 3 {
		t.Fatalf("declined %+v: want a4 counted as too small in cpus", st.Declined)
	}

	h.DroppedLaunch(tasks[0].GetTaskId())
	h.SendOffers(sdktest.Offer{Agent: "a3", Attributes: map[string]string{"runtimes": "wasm,container"}})
	if n := len(h.Launched()); n != 3 {
		t.Fatalf("launched %d tasks, want the relaunch and the second instance", n)
	}
	h.FinishAll()
	st = mustJob(t, f, st.ID)
	if st.State != StateFinished || st.LostRetried != 0 || st.Retried != 0 || len(st.Failures) != 0 {
		t.Fatalf("job %+v: a dropped launch is neither a failure nor a retry", st)
	}
}

// TestAPICluster reads agents from the master's HTTP API and tells the
// user when no agent can run containers.
func TestAPICluster(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/agents" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode([]client.Agent{
			{ID: "a1", Hostname: "h1", Active: true, Total: "cpus:4;mem:8GiB", Attributes: map[string]string{"runtimes": "wasm", "container": "unavailable: no containerd socket"}},
			{ID: "a2", Hostname: "h2", Active: false, Total: "cpus:64;mem:256GiB", Attributes: map[string]string{"runtimes": "wasm,container"}},
		})
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	f, _ := newFW(t, newMemStore(), APICluster(c))
	st, err := f.Submit(context.Background(), containerSpec(1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Why, "no agent has a container runtime (h1: unavailable: no containerd socket)") {
		t.Fatalf("why %q", st.Why)
	}
	// Only the active agent counts for the impossible-job check.
	if _, err := f.Submit(context.Background(), JobSpec{Module: module, Instances: 1, Resources: "cpus:16;mem:1GiB"}); !errors.Is(err, ErrImpossible) {
		t.Fatalf("Submit = %v, want ErrImpossible (the big agent is inactive)", err)
	}
}

// TestUnknownTaskIsNotKilled: UNKNOWN means the master has no such task.
func TestUnknownTaskIsNotKilled(t *testing.T) {
	f, d := newFW(t, newMemStore(), nil)
	f.onUpdate(d, &kernelpb.TaskStatus{TaskId: "job-99.0.0", State: sdk.TaskUnknown})
	f.onUpdate(d, &kernelpb.TaskStatus{TaskId: "job-99.0.1", State: sdk.TaskRunning})
	if len(d.kills) != 1 || d.kills[0] != "job-99.0.1" {
		t.Fatalf("kills %v, want only the running stranger", d.kills)
	}
}
