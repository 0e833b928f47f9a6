package agent_test

// The agent's scenarios are in testdata/*.txt (scenario_test.go runs them).

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newAgent(t *testing.T, cfg agent.Config) *agent.Agent {
	t.Helper()
	if cfg.Hostname == "" {
		cfg.Hostname = "h1"
	}
	if cfg.Resources.IsEmpty() {
		cfg.Resources = resources.MustParse("cpus:2;mem:1024")
	}
	return agent.New(cfg)
}

func registered(t *testing.T, cfg agent.Config) *agent.Agent {
	t.Helper()
	a := newAgent(t, cfg)
	a.Start(t0)
	if err := a.Step(t0, &kernelpb.AgentRegistered{Epoch: 1, AgentId: "1-A1", PingIntervalMs: 1000}); err != nil {
		t.Fatal(err)
	}
	a.Ready()
	return a
}

func TestMalformedMasterMessagesAreRefused(t *testing.T) {
	a := registered(t, agent.Config{})
	for _, m := range []proto.Message{
		nil,
		(*kernelpb.RunTask)(nil),
		(*kernelpb.Ping)(nil),
		&kernelpb.RunTask{Epoch: 1},
		&kernelpb.RunTask{Epoch: 1, Task: &kernelpb.TaskInfo{}},
		&kernelpb.KillTask{Epoch: 1},
		&kernelpb.ShutdownFramework{Epoch: 1},
		&kernelpb.AgentRegistered{Epoch: 1},
		&kernelpb.Offers{},
	} {
		if err := a.Step(t0, m); err == nil {
			t.Fatalf("%T accepted", m)
		}
	}
	if rd := a.Ready(); len(rd.ToMaster)+len(rd.Launch)+len(rd.Kill) != 0 {
		t.Fatalf("malformed messages had effects: %+v", rd)
	}
}
