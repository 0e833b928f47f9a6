package master_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/internal/sim"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
)

// twoFrameworks: agents a1 and a2, frameworks fw1 and fw2, one offer each.
func twoFrameworks(t *testing.T) *sim.Cluster {
	t.Helper()
	c := sim.New(quietConfig())
	c.AddAgent("a1", "cpus:2;mem:1024")
	c.AddAgent("a2", "cpus:2;mem:1024")
	c.Subscribe("fw1", time.Minute)
	c.Subscribe("fw2", time.Minute)
	c.Allocate()
	c.TakeTrace()
	offers := map[string]string{}
	for _, o := range c.Master.Offers() {
		offers[o.ID] = o.FrameworkID + "@" + o.AgentID
	}
	if offers["1-O1"] != "1-F1@1-A2" || offers["1-O2"] != "1-F2@1-A1" {
		t.Fatalf("unexpected offers %v", offers)
	}
	return c
}

// snapshot is what a rogue message must not change.
func snapshot(m *master.Master) string {
	var b strings.Builder
	for _, o := range m.Offers() {
		b.WriteString(o.ID + " " + o.FrameworkID + " " + o.Resources.String() + "\n")
	}
	for _, tv := range m.Tasks(master.TaskFilter{ActiveOnly: true}) {
		b.WriteString(tv.FrameworkID + "/" + tv.ID + " " + tv.State.String() + "\n")
	}
	for _, a := range m.Agents() {
		b.WriteString(a.ID + " free " + m.Available(a.ID).String() + "\n")
	}
	return b.String()
}

func TestRogueFrameworkMessagesChangeNothing(t *testing.T) {
	c := twoFrameworks(t)
	before := snapshot(c.Master)
	c.Send("fw2", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:256")))
	c.Send("fw2", &kernelpb.Decline{FrameworkId: "1-F1", OfferIds: []string{"1-O1"}})
	c.Send("fw2", &kernelpb.Kill{FrameworkId: "1-F1", TaskId: "t1"})
	c.Send("fw2", &kernelpb.Teardown{FrameworkId: "1-F1"})
	c.Send("stranger", accept("1-F1", []string{"1-O1"}, wasmTask("t1", "cpus:1;mem:256")))
	c.Send("stranger", &kernelpb.Teardown{FrameworkId: "1-F1"})
	expectTrace(t, c, `
		fw2 -> master: Accept{1-F1 offers:[1-O1] launch:[t1 cpus:1;mem:256]}
		master -> fw2: Error{"framework id \"1-F1\" does not belong to this connection"}
		fw2 -> master: Decline{1-F1 offers:[1-O1]}
		master -> fw2: Error{"framework id \"1-F1\" does not belong to this connection"}
		fw2 -> master: Kill{1-F1/t1}
		master -> fw2: Error{"framework id \"1-F1\" does not belong to this connection"}
		fw2 -> master: Teardown{1-F1}
		master -> fw2: Error{"framework id \"1-F1\" does not belong to this connection"}
		stranger -> master: Accept{1-F1 offers:[1-O1] launch:[t1 cpus:1;mem:256]}
		master -> stranger: Error{"this connection has not subscribed: send Subscribe first"} (no such node)
		stranger -> master: Teardown{1-F1}
		master -> stranger: Error{"this connection has not subscribed: send Subscribe first"} (no such node)
	`)
	if after := snapshot(c.Master); after != before {
		t.Fatalf("state changed:\n%s\nwas:\n%s", after, before)
	}
	if n := len(takeErrors(c)); n != 6 {
		t.Fatalf("%d errors, want 6", n)
	}

	// fw2 names itself but uses fw1's offer: its own offer in the call goes
	// back to the pool, its task is LOST, fw1's offer is untouched.
	c.Send("fw2", accept("1-F2", []string{"1-O2", "1-O1"}, wasmTask("t1", "cpus:1;mem:256")))
	expectTrace(t, c, `
		fw2 -> master: Accept{1-F2 offers:[1-O2 1-O1] launch:[t1 cpus:1;mem:256]}
		master -> fw2: Update{1-F2/t1 LOST INVALID_OFFERS id:1-M1 src:master "not launched: offer 1-O1 does not belong to framework 1-F2"}
		master -> fw2: Error{"offer 1-O1 does not belong to framework 1-F2"}
	`)
	offers := c.Master.Offers()
	if len(offers) != 1 || offers[0].ID != "1-O1" || offers[0].FrameworkID != "1-F1" {
		t.Fatalf("offers after the rogue accept: %+v", offers)
	}
	if got := c.Master.Available("1-A1").String(); got != "cpus:2;mem:1024" {
		t.Fatalf("fw2's own offer not recovered: available %s", got)
	}
	takeErrors(c)
}

func TestAcceptValidatesEachTask(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t0", "cpus:0.5;mem:128")
	c.Advance(5 * time.Second)
	c.Allocate()
	expectTrace(t, c, `master -> fw1: Offers{1-O2: 1-A1 cpus:1.5;mem:896}`)

	noRuntime := wasmTask("bad-runtime", "cpus:0.1;mem:16")
	noRuntime.Runtime = nil
	badModule := wasmTask("bad-module", "cpus:0.1;mem:16")
	badModule.GetWasm().Module = "sha256:zz"
	noResources := wasmTask("no-resources", "cpus:1")
	noResources.Resources = nil
	negative := wasmTask("negative", "cpus:1")
	negative.Resources = []*kernelpb.Resource{{Name: "cpus", Milli: -5}}
	otherAgent := wasmTask("other-agent", "cpus:0.1;mem:16")
	otherAgent.AgentId = "1-A9"
	c.Send("fw1", &kernelpb.Accept{FrameworkId: "1-F1", OfferIds: []string{"1-O2"}, Operations: []*kernelpb.Operation{
		{Type: kernelpb.Operation_LAUNCH, Launch: []*kernelpb.TaskInfo{
			wasmTask("t0", "cpus:0.1;mem:16"), // an active task's id
			wasmTask("t1", "cpus:1;mem:512"),
			wasmTask("t1", "cpus:0.1;mem:16"), // twice in one call
			wasmTask("too-big", "cpus:1;mem:512"),
			noRuntime, badModule, noResources, negative, otherAgent,
			nil,
			wasmTask("t2", "cpus:0.5;mem:384"),
		}},
		nil,
		{Type: kernelpb.Operation_UNKNOWN},
	}})
	c.Allocate()
	want := `
		fw1 -> master: Accept{1-F1 offers:[1-O2] launch:[t0 cpus:0.1;mem:16, t1 cpus:1;mem:512, t1 cpus:0.1;mem:16, too-big cpus:1;mem:512, bad-runtime cpus:0.1;mem:16, bad-module cpus:0.1;mem:16, no-resources {}, negative <RESOURCE_ERR>, other-agent cpus:0.1;mem:16, <nil>, t2 cpus:0.5;mem:384]}
		master -> fw1: Updates[8]
		+ Update{1-F1/t0 ERROR INVALID_TASK id:1-M1 src:master "task id t0 is already in use"}
		+ Update{1-F1/t1 ERROR INVALID_TASK id:1-M2 src:master "task id t1 is already in use"}
		+ Update{1-F1/too-big ERROR INVALID_TASK id:1-M3 src:master "task needs cpus:1;mem:512 but the offers have cpus:0.5;mem:384 left: short of SHORT"}
		+ Update{1-F1/bad-runtime ERROR INVALID_TASK id:1-M4 src:master "a task needs a runtime (wasm or container)"}
		+ Update{1-F1/bad-module ERROR INVALID_TASK id:1-M5 src:master "wasm module must be a content address \"sha256:<64 hex digits>\""}
		+ Update{1-F1/no-resources ERROR INVALID_TASK id:1-M6 src:master "a task needs resources"}
		+ Update{1-F1/negative ERROR INVALID_TASK id:1-M7 src:master "invalid resources: NEG_ERR"}
		+ Update{1-F1/other-agent ERROR INVALID_TASK id:1-M8 src:master "task names agent 1-A9 but the offers are on agent 1-A1"}
		master -> a1: RunTask{1-F1 t1 cpus:1;mem:512}
		a1: launch 1-F1/t1
		master -> a1: RunTask{1-F1 t2 cpus:0.5;mem:384}
		a1: launch 1-F1/t2
		master -> fw1: Error{"operation 1 is empty; operation 2: unsupported type UNKNOWN; task 9 has no task id"}
	`
	_, negErr := resources.FromProto(negative.Resources)
	want = strings.NewReplacer(
		"<RESOURCE_ERR>", "<"+negErr.Error()+">",
		"NEG_ERR", strings.Trim(strconv.Quote(negErr.Error()), `"`),
		"SHORT", resources.MustParse("cpus:0.5;mem:384").Shortfall(resources.MustParse("cpus:1;mem:512")),
	).Replace(want)
	expectTrace(t, c, want)
	// Everything was used: nothing left to offer.
	if got := c.Master.Available("1-A1"); !got.IsEmpty() {
		t.Fatalf("available %s, want nothing", got)
	}
	if v := mustTask(t, c.Master, "1-F1", "t0"); !v.Active || v.State != running {
		t.Fatalf("the active t0 was disturbed: %+v", v)
	}
	if v := mustTask(t, c.Master, "1-F1", "too-big"); v.State != taskErr || !strings.Contains(v.Message, "short of") {
		t.Fatalf("refused task not kept for queries: %+v", v)
	}
	// cpus:1;mem:512 in cpus:0.5;mem:384: short of both.
	if fv, _ := c.Master.Framework("1-F1"); fmt.Sprint(fv.TooSmall) != "map[cpus:1 mem:1]" {
		t.Fatalf("TooSmall = %v, want the task counted under cpus and mem", fv.TooSmall)
	}
	takeErrors(c)
}

func TestMalformedInputsAreRefusedWithoutPanic(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	m := c.Master
	now := c.Now
	inputs := []any{
		nil,
		(*kernelpb.Accept)(nil),
		(*kernelpb.RegisterAgent)(nil),
		(*kernelpb.StatusUpdate)(nil),
		(*kernelpb.Pong)(nil),
		(*kernelpb.Subscribe)(nil),
		(*kernelpb.Decline)(nil),
		(*kernelpb.Revive)(nil),
		(*kernelpb.Suppress)(nil),
		(*kernelpb.Acknowledge)(nil),
		(*kernelpb.Reconcile)(nil),
		(*kernelpb.Kill)(nil),
		(*kernelpb.Teardown)(nil),
		&kernelpb.Subscribe{},
		&kernelpb.Subscribe{Framework: &kernelpb.FrameworkInfo{Name: "x", Roles: []string{"bad role"}}},
		&kernelpb.Subscribe{Framework: &kernelpb.FrameworkInfo{Name: "x", Roles: []string{"a", "a"}}},
		&kernelpb.Subscribe{Framework: &kernelpb.FrameworkInfo{Name: "x", FailoverTimeoutMs: -1}},
		&kernelpb.Accept{FrameworkId: "1-F1"},
		&kernelpb.Accept{FrameworkId: "1-F1", OfferIds: []string{"1-O1", "1-O1"}},
		&kernelpb.Acknowledge{FrameworkId: "1-F1"},
		&kernelpb.Kill{FrameworkId: "1-F1"},
		&kernelpb.Reconcile{FrameworkId: "1-F1", Tasks: []*kernelpb.ReconcileTask{nil, {}}},
		&kernelpb.RegisterAgent{},
		&kernelpb.RegisterAgent{Hostname: "h", Resources: []*kernelpb.Resource{{Name: ""}}},
		&kernelpb.RegisterAgent{Hostname: "h", Tasks: []*kernelpb.TaskInfo{nil}, TaskFrameworkIds: []string{"f"}},
		&kernelpb.RegisterAgent{Hostname: "h", Tasks: []*kernelpb.TaskInfo{{TaskId: "t"}}},
		&kernelpb.StatusUpdate{AgentId: "1-A1"},
		&kernelpb.Pong{AgentId: "1-A1"},
		&kernelpb.Heartbeat{},
		&kernelpb.Offers{},
		"a string",
		master.Disconnected{},
		&master.Disconnected{},
		master.OperatorKill{},
		master.OperatorKill{TaskID: "t"},
		&master.OperatorKill{TaskID: "t"},
	}
	for i, in := range inputs {
		for _, from := range []master.Peer{"fw1", "a1", "nobody"} {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("input %d (%T) from %s panicked: %v", i, in, from, r)
					}
				}()
				_ = m.Step(now, from, in)
			}()
		}
	}
	m.Ready()
	// The accept listing 1-O1 twice voided the call and returned the
	// offer; the disconnection inputs deactivated a1 and fw1.
	if n := len(m.Offers()); n != 0 {
		t.Fatalf("%d offers, want 0", n)
	}
	if v := m.Agents(); len(v) != 1 || v[0].Active {
		t.Fatalf("agents: %+v", v)
	}
}

func TestStatusUpdateFromTheWrongPeerIsIgnored(t *testing.T) {
	c := setup(t, quietConfig(), "cpus:2;mem:1024")
	launchRunning(t, c, "1-O1", "t1", "cpus:1;mem:256")
	c.Queue(sim.Message{From: "impostor", To: sim.MasterName, Msg: &kernelpb.StatusUpdate{
		AgentId: "1-A1", FrameworkId: "1-F1",
		Status: &kernelpb.TaskStatus{TaskId: "t1", State: finished, UpdateId: "x"},
	}})
	c.Flush()
	expectTrace(t, c, `impostor -> master: StatusUpdate{1-A1 /t1 FINISHED id:x src:master}`)
	if v := mustTask(t, c.Master, "1-F1", "t1"); v.State != running {
		t.Fatalf("task moved to %v by an impostor", v.State)
	}
	if errs := takeErrors(c); len(errs) != 1 || !strings.Contains(errs[0], "does not belong") {
		t.Fatalf("errors %q", errs)
	}
}
