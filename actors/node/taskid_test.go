package node_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk/client"
)

// TestTwoFrameworksRunTheSameTaskIDsOnOneAgent: task ids are unique only
// within a framework. Two frameworks' "same-wasm" and "same-ctr", at once
// on one agent, each finish with their own output, read back by framework.
func TestTwoFrameworksRunTheSameTaskIDsOnOneAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dev, _, image := busyboxDev(ctx, t, node.DevOptions{})
	hello := putFile(t, dev, wasmbuild.MustBuild(t, "hello"))
	per := resources.MustParse("cpus:0.2;mem:64").ToProto()
	frameworks := map[string]*once{}
	for _, who := range []string{"a", "b"} {
		o := &once{final: map[string]*kernelpb.TaskStatus{}, done: make(chan struct{}), want: 2}
		o.pending = []*kernelpb.TaskInfo{
			{TaskId: "same-wasm", Name: "same-wasm", Resources: per, Env: map[string]string{"PANDO_INSTANCE": who},
				Runtime: &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: hello}}},
			{TaskId: "same-ctr", Name: "same-ctr", Resources: per, Env: map[string]string{"WHO": who},
				Runtime: &kernelpb.TaskInfo_Container{Container: &kernelpb.ContainerTask{Image: image,
					Command: []string{"sh", "-c", `sleep 0.5; echo "container of $WHO"`}}}},
		}
		frameworks[who] = o
		defer startFramework(t, dev, "fw-"+who, o)()
	}
	c, err := client.New(dev.Master.URL)
	if err != nil {
		t.Fatal(err)
	}
	for who, o := range frameworks {
		select {
		case <-o.done:
		case <-ctx.Done():
			t.Fatalf("framework %s's tasks did not end", who)
		}
		want := map[string]string{"same-wasm": "hello from instance " + who + " of task same-wasm\n", "same-ctr": "container of " + who + "\n"}
		for id, out := range want {
			st := o.final[id]
			if st.GetState() != kernelpb.TaskState_TASK_FINISHED {
				t.Errorf("framework %s's %s ended %v: %s", who, id, st.GetState(), st.GetMessage())
				continue
			}
			body, err := c.LogsOf(ctx, client.TaskRef{ID: id, FrameworkID: st.GetFrameworkId(), AgentID: st.GetAgentId()}, "stdout", false)
			if err != nil {
				t.Errorf("logs of framework %s's %s: %v", who, id, err)
				continue
			}
			got, _ := io.ReadAll(body)
			body.Close()
			if string(got) != out {
				t.Errorf("framework %s's %s wrote %q, want %q", who, id, got, out)
			}
		}
	}
	if a, b := frameworks["a"].final["same-ctr"].GetFrameworkId(), frameworks["b"].final["same-ctr"].GetFrameworkId(); a == b || strings.TrimSpace(a) == "" {
		t.Errorf("the two frameworks have ids %q and %q", a, b)
	}
}
