package sdk_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
)

func TestNeverFits(t *testing.T) {
	wasmOnly := map[string]string{sdk.RuntimesAttribute: "wasm"}
	both := map[string]string{sdk.RuntimesAttribute: "wasm,container"}
	agents := []client.Agent{
		{ID: "a1", Hostname: "small", Total: "cpus:2;mem:4GiB", Active: true, Attributes: both},
		{ID: "a2", Hostname: "big", Total: "cpus:8;mem:19GiB;cpus(eng):8", Active: true, Attributes: wasmOnly},
		{ID: "a3", Hostname: "gone", Total: "cpus:64;mem:256GiB", Attributes: both}, // inactive
	}
	for _, c := range []struct {
		need, runtime, want string // want "": it fits (or may)
	}{
		{"cpus:1;mem:1GiB", "", ""},
		{"cpus:8;mem:19GiB", "", ""},
		{"cpus:8;mem:19GiB", "container", "the largest agent (small) lacks cpus 8 (has 2), mem 19GiB (has 4GiB)"},
		{"cpus:1;mem:64GiB", "", "no agent can ever hold it: the largest agent (big) lacks mem 64GiB (has 19GiB)"},
		{"cpus:16;mem:1GiB", "", "lacks cpus 16 (has 8)"}, // the reserved cpus(eng) are not for it
		{"cpus:1;gpus:1", "", "lacks gpus 1"},
	} {
		err := sdk.NeverFits(agents, sdk.MustParseResources(c.need), c.runtime)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("NeverFits(%s, %q) = %v, want nil", c.need, c.runtime, err)
		case c.want != "" && (!errors.Is(err, sdk.ErrNeverFits) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("NeverFits(%s, %q) = %v, want ErrNeverFits saying %q", c.need, c.runtime, err, c.want)
		}
	}
	// No agent to judge by (none yet, none active, none with the runtime):
	// the request may wait for one.
	for _, none := range [][]client.Agent{nil, agents[2:], agents[1:2]} {
		if err := sdk.NeverFits(none, sdk.MustParseResources("cpus:1"), "container"); err != nil {
			t.Errorf("NeverFits with no agent to judge by (%v) = %v, want nil", none, err)
		}
	}
}
