package main

import (
	"testing"

	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/sdktest"
)

const image = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestOnePerMatchingHostWithContainers(t *testing.T) {
	task := sdk.ContainerTask(sdk.Image{Digest: image, Name: "busybox:latest"}).Args("df", "-h").
		Resources(sdk.MustParseResources("cpus:0.1;mem:32MiB"))
	p, err := newPerNode(task, "rack=r1", 2)
	if err != nil {
		t.Fatal(err)
	}
	m := sdktest.New(t, p)
	both := map[string]string{"rack": "r1", "runtimes": "wasm,container"}
	m.SendOffers(
		sdktest.Offer{Agent: "a1", Attributes: both},
		sdktest.Offer{Agent: "a2", Attributes: map[string]string{"rack": "r2", "runtimes": "wasm,container"}},
		sdktest.Offer{Agent: "a3", Attributes: map[string]string{"rack": "r1", "runtimes": "wasm", "container": "unavailable: no containerd"}},
	)
	got := m.Launched()
	if len(got) != 1 || got[0].GetAgentId() != "a1" {
		t.Fatalf("launched %v, want one task on a1 only", got)
	}
	c := got[0].GetContainer()
	if c.GetImage() != image || c.GetImageName() != "busybox:latest" || len(c.GetArgs()) != 2 {
		t.Fatalf("container task %v", c)
	}
	if p.why.Constraint["rack==r1"] != 1 || p.why.Constraint["runtimes HAS container"] != 1 {
		t.Fatalf("why %+v, want one offer failing rack and one failing the runtime", p.why)
	}
	// a1 has its task: its next offer is turned down (UNIQUE across rounds);
	// a4 takes the second.
	m.SendOffers(sdktest.Offer{Agent: "a1", Attributes: both}, sdktest.Offer{Agent: "a4", Attributes: both})
	if got := m.Launched(); len(got) != 2 || got[1].GetAgentId() != "a4" {
		t.Fatalf("launched %v, want the second on a4", got)
	}
	// A lost task is run again elsewhere.
	m.Update("pernode-2", sdk.TaskLost)
	m.SendOffers(sdktest.Offer{Agent: "a5", Attributes: both})
	if got := m.Launched(); len(got) != 3 || got[2].GetAgentId() != "a5" {
		t.Fatalf("launched %v, want a relaunch on a5", got)
	}
	m.FinishAll()
	if !m.Finished() || m.Err() != nil || p.finished != 2 {
		t.Fatalf("finished=%v err=%v (%d finished)", m.Finished(), m.Err(), p.finished)
	}
}

func TestWhereMustBeKeyValue(t *testing.T) {
	if _, err := newPerNode(sdk.ContainerTask(sdk.Image{Digest: image}), "rack", 1); err == nil {
		t.Fatal("--where rack was accepted")
	}
}
