package node_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk/client"
)

// An operator's kill through the HTTP API is the master's own input: the
// task ends KILLED_BY_OPERATOR, the framework hears it, and the master's
// refusals reach the caller with their status.
func TestOperatorKillThroughTheAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sleepPath := wasmbuild.MustBuild(t, "sleep")
	dev, err := node.StartDev(ctx, node.DevOptions{
		HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), Resources: "cpus:1;mem:512", Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop(context.Background())
	digest := putFile(t, dev, sleepPath)
	l := newLauncher(digest, 1)
	defer startFramework(t, dev, "operator-test", l)()
	c, err := client.New(dev.Master.URL)
	if err != nil {
		t.Fatal(err)
	}
	waitState := func(want kernelpb.TaskState) {
		t.Helper()
		for {
			l.mu.Lock()
			s := l.states["hello-0"]
			l.mu.Unlock()
			if s == want {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("task hello-0 is %v, want %v", s, want)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitState(kernelpb.TaskState_TASK_RUNNING)

	if err := c.KillTask(ctx, "hello-0"); err != nil {
		t.Fatalf("operator kill: %v", err)
	}
	waitState(kernelpb.TaskState_TASK_KILLED)
	task, err := c.Task(ctx, "hello-0")
	if err != nil {
		t.Fatal(err)
	}
	if task.State != "TASK_KILLED" || task.Reason != "KILLED_BY_OPERATOR" {
		t.Errorf("task after the operator's kill: %s %s, want TASK_KILLED KILLED_BY_OPERATOR", task.State, task.Reason)
	}
	checkAgentsJSON(ctx, t, c)
	for id, want := range map[string]int{"hello-0": http.StatusConflict, "no-such-task": http.StatusNotFound} {
		var apiErr *client.APIError
		if err := c.KillTask(ctx, id); !errors.As(err, &apiErr) || apiErr.Status != want {
			t.Errorf("kill %s: %v, want status %d", id, err, want)
		}
	}
}

// checkAgentsJSON checks GET /api/v1/agents serves what a framework needs to
// know of the cluster, in forms it can parse: total, used and free.
func checkAgentsJSON(ctx context.Context, t *testing.T, c *client.Client) {
	t.Helper()
	var agents []client.Agent
	if err := c.Do(ctx, http.MethodGet, "/api/v1/agents", nil, &agents); err != nil {
		t.Fatal(err)
	}
	if len(agents) != 1 {
		t.Fatalf("%d agents, want 1: %+v", len(agents), agents)
	}
	a := agents[0]
	total, err1 := resources.Parse(a.Total)
	used, err2 := resources.Parse(a.Used)
	free, err3 := resources.Parse(a.Free)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatalf("agent %+v: %v", a, err)
	}
	if a.ID == "" || a.Hostname == "" || !a.Active || !total.Equal(resources.MustParse("cpus:1;mem:512")) {
		t.Errorf("agent %+v: want an id, a hostname, active, total cpus:1;mem:512", a)
	}
	if !used.Add(free).Equal(total) {
		t.Errorf("agent %+v: used + free = %s, want the total %s", a, used.Add(free), total)
	}
}
