package main

import (
	"strings"
	"testing"

	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/sdktest"
)

const module = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func newHello(todo int) *hello {
	return &hello{task: sdk.WasmTask(module, "2s").Resources(sdk.MustParseResources("cpus:1;mem:64MiB")), todo: todo}
}

func TestHelloRunsAllCopiesAndRelaunchesDroppedOnes(t *testing.T) {
	h := newHello(3)
	m := sdktest.New(t, h)
	// Two copies fit the first agent; the tiny second agent is declined.
	offers := m.SendOffers(sdktest.Offer{Agent: "a1", Resources: "cpus:2;mem:1GiB"}, sdktest.Offer{Agent: "a2", Resources: "cpus:0.5;mem:1GiB"})
	if got := m.Launched(); len(got) != 2 || got[0].GetAgentId() != "a1" || got[0].GetWasm().GetArgs()[0] != "2s" {
		t.Fatalf("launched %v, want 2 copies on a1", got)
	}
	if d := m.Declined(); len(d) != 1 || d[0] != offers[1].GetId() {
		t.Fatalf("declined %v, want the small offer", d)
	}
	m.SendOffers(sdktest.Offer{Agent: "a3"})
	if got := m.Launched(); len(got) != 3 {
		t.Fatalf("launched %d tasks, want 3", len(got))
	}
	// The master refused the third launch: it is relaunched, not failed.
	m.DroppedLaunch("hello-3")
	m.SendOffers(sdktest.Offer{Agent: "a3"})
	if got := m.Launched(); len(got) != 4 || got[3].GetTaskId() != "hello-4" {
		t.Fatalf("launched %v, want hello-4 as the relaunch", got)
	}
	m.Update("hello-1", sdk.TaskRunning)
	m.Update("hello-1", sdk.TaskFailed, sdktest.WithExitCode(3))
	if m.Finished() {
		t.Fatal("finished with copies still running")
	}
	m.FinishAll()
	if !m.Finished() || h.finished != 2 || h.failed != 1 {
		t.Fatalf("finished=%v, %d finished, %d failed; want done with 2 and 1", m.Finished(), h.finished, h.failed)
	}
	if err := m.Err(); err == nil || !strings.Contains(err.Error(), "1 of 3") {
		t.Fatalf("Finish(%v), want 1 of 3 failed", err)
	}
	if len(m.Acked()) != 7 { // the drop, 2 for hello-1, 4 for FinishAll
		t.Fatalf("acknowledged %v, want every update with an id", m.Acked())
	}
}

func TestHelloSucceeds(t *testing.T) {
	m := sdktest.New(t, newHello(1))
	m.SendOffers(sdktest.Offer{})
	m.FinishAll()
	if !m.Finished() || m.Err() != nil {
		t.Fatalf("finished=%v err=%v", m.Finished(), m.Err())
	}
}
