package registry

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/election"
	"github.com/pandodc/pando/actors/election/consultest"
	kmaster "github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
)

// countingRegistry counts the Applies that reach the registry under it.
type countingRegistry struct {
	Registry
	applies int
}

func (c *countingRegistry) Apply(ctx context.Context, ops ...Op) error {
	c.applies++
	return c.Registry.Apply(ctx, ops...)
}

func someAgents(n int) []kmaster.KnownAgent {
	out := make([]kmaster.KnownAgent, n)
	for i := range out {
		out[i] = kmaster.KnownAgent{
			ID: fmt.Sprintf("7-A%03d", i), Hostname: fmt.Sprintf("host-%d", i), HTTPAddress: fmt.Sprintf("10.0.0.%d:5051", i%250),
			Total: resources.MustParse("cpus:4;mem:8192"), Attributes: map[string]string{"rack": fmt.Sprint(i % 3)},
		}
	}
	return out
}

func TestAgentWriterWritesOnlyWhatChangedInBatches(t *testing.T) {
	ctx := context.Background()
	b := openBolt(t, filepath.Join(t.TempDir(), "registry.db"))
	emb, err := OpenEmbedded(ctx, b, 100)
	if err != nil {
		t.Fatal(err)
	}
	reg := &countingRegistry{Registry: emb}
	w := NewAgentWriter(reg, nil)
	agents := someAgents(150)
	if n, err := w.Sync(ctx, agents); err != nil || n != 150 || reg.applies != 3 {
		t.Fatalf("first Sync: %d written in %d Applies, %v; want 150 in 3 (at most %d a transaction)", n, reg.applies, err, MaxOps)
	}
	if n, err := w.Sync(ctx, agents); err != nil || n != 0 || reg.applies != 3 {
		t.Fatalf("Sync with nothing changed: %d written, %d Applies, %v", n, reg.applies, err)
	}

	// One agent marked unreachable, one removed, one forgotten for good.
	since := time.UnixMilli(1_700_000_000_123).UTC()
	agents[5].UnreachableSince = since
	agents[9] = kmaster.KnownAgent{ID: agents[9].ID, Removed: true}
	agents = append(agents[:20], agents[21:]...)
	if n, err := w.Sync(ctx, agents); err != nil || n != 3 || reg.applies != 4 {
		t.Fatalf("three changes: %d written in %d Applies, %v", n, reg.applies, err)
	}

	loaded, err := LoadAgents(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, agents) {
		t.Fatalf("loaded %d agents that differ from the %d written; first: %+v vs %+v", len(loaded), len(agents), loaded[0], agents[0])
	}
	// A new leader's writer knows what is there: nothing to write.
	next := NewAgentWriter(reg, loaded)
	if n, err := next.Sync(ctx, loaded); err != nil || n != 0 {
		t.Fatalf("a new leader's first Sync of the loaded agents: %d written, %v", n, err)
	}

	// A newer term fences the old writer; what it could not write stays
	// to be written.
	if _, err := OpenEmbedded(ctx, b, 100); err != nil {
		t.Fatal(err)
	}
	agents[0].Hostname = "renamed"
	if _, err := w.Sync(ctx, agents); !errors.Is(err, ErrFenced) {
		t.Fatalf("Sync of a deposed leader: %v, want ErrFenced", err)
	}
}

func TestLoadAgentsSkipsDamagedRecords(t *testing.T) {
	ctx := context.Background()
	reg, err := OpenEmbedded(ctx, openBolt(t, filepath.Join(t.TempDir(), "registry.db")), 1)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := encodeAgent(someAgents(1)[0])
	mustApply(t, reg,
		Put(AgentsPrefix+"7-A000", good),
		Put(AgentsPrefix+"bad-json", []byte("{")),
		Put(AgentsPrefix+"wrong-key", good),
		Put(AgentsPrefix+"bad-res", []byte(`{"id":"bad-res","resources":"cpus:-1"}`)))
	agents, err := LoadAgents(ctx, reg)
	if len(agents) != 1 || agents[0].ID != "7-A000" {
		t.Fatalf("loaded %+v, want the one good record", agents)
	}
	if err == nil || !strings.Contains(err.Error(), "3 agent records skipped") {
		t.Fatalf("error %v, want the three damaged records named", err)
	}
}

func TestAgentWriterInConsul(t *testing.T) {
	t.Parallel()
	srv := consultest.Start(t)
	ctx := context.Background()
	prefix := "pando-agents-test"
	first, err := NewConsul(srv.Client, prefix, takeLock(t, srv.Client, election.LockKey(prefix), ""))
	if err != nil {
		t.Fatal(err)
	}
	agents := someAgents(100)
	if n, err := NewAgentWriter(first, nil).Sync(ctx, agents); err != nil || n != 100 {
		t.Fatalf("Sync to Consul: %d, %v", n, err)
	}
	second, err := NewConsul(srv.Client, prefix, takeLock(t, srv.Client, election.LockKey(prefix), first.term.Session))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadAgents(ctx, second)
	if err != nil || !reflect.DeepEqual(loaded, agents) {
		t.Fatalf("the next leader loaded %d agents (%v), want the %d written", len(loaded), err, len(agents))
	}
	if _, err := NewAgentWriter(first, nil).Sync(ctx, agents); !errors.Is(err, ErrFenced) {
		t.Fatalf("the deposed leader's Sync: %v, want ErrFenced", err)
	}
}

func TestFrameworkWriterRoundTrip(t *testing.T) {
	ctx := context.Background()
	reg, err := OpenEmbedded(ctx, openBolt(t, filepath.Join(t.TempDir(), "registry.db")), 1)
	if err != nil {
		t.Fatal(err)
	}
	fws := []kmaster.KnownFramework{
		{ID: "3-F1", Name: "batch", Roles: []string{"*"}, FailoverTimeout: time.Hour},
		{ID: "3-F2", Removed: true},
	}
	w := NewFrameworkWriter(reg, nil)
	if n, err := w.Sync(ctx, fws); err != nil || n != 2 {
		t.Fatalf("Sync: %d, %v", n, err)
	}
	loaded, err := LoadFrameworks(ctx, reg)
	if err != nil || !reflect.DeepEqual(loaded, fws) {
		t.Fatalf("loaded %+v, %v; want %+v", loaded, err, fws)
	}
	// The frameworks do not mix with the built-in frameworks' own state.
	mustApply(t, reg, Put("frameworks/batch/meta", []byte("{}")))
	if again, err := LoadFrameworks(ctx, reg); err != nil || len(again) != 2 {
		t.Fatalf("after a framework's own state was written: %+v, %v", again, err)
	}
	if n, err := NewFrameworkWriter(reg, loaded).Sync(ctx, fws[:1]); err != nil || n != 1 {
		t.Fatalf("forgetting a removed id: %d changes, %v; want one delete", n, err)
	}
}
