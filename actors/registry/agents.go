package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	kmaster "github.com/pandodc/pando/kernel/master"
	"github.com/pandodc/pando/kernel/resources"
)

// AgentsPrefix is where the leading master keeps its agents: one key per
// agent id, admitted, unreachable or removed.
const AgentsPrefix = "agents/"

// agentRecord is one agent in the registry (JSON, so an operator can read
// it with `consul kv get`).
type agentRecord struct {
	ID          string            `json:"id"`
	Hostname    string            `json:"hostname,omitempty"`
	HTTPAddress string            `json:"http_address,omitempty"`
	Resources   string            `json:"resources,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	// UnreachableSince is in Unix milliseconds (0: reachable).
	UnreachableSince int64 `json:"unreachable_since_ms,omitempty"`
	Removed          bool  `json:"removed,omitempty"`
}

func encodeAgent(a kmaster.KnownAgent) ([]byte, error) {
	r := agentRecord{ID: a.ID, Removed: a.Removed}
	if !a.Removed {
		r.Hostname, r.HTTPAddress, r.Attributes = a.Hostname, a.HTTPAddress, a.Attributes
		r.Resources = a.Total.String()
		if !a.UnreachableSince.IsZero() {
			r.UnreachableSince = a.UnreachableSince.UnixMilli()
		}
	}
	return json.Marshal(r)
}

func decodeAgent(e Entry) (kmaster.KnownAgent, error) {
	var r agentRecord
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return kmaster.KnownAgent{}, fmt.Errorf("registry: agent record %s is not JSON: %w", e.Key, err)
	}
	if r.ID == "" || AgentsPrefix+r.ID != e.Key {
		return kmaster.KnownAgent{}, fmt.Errorf("registry: agent record %s names agent %q", e.Key, r.ID)
	}
	a := kmaster.KnownAgent{ID: r.ID, Hostname: r.Hostname, HTTPAddress: r.HTTPAddress,
		Attributes: r.Attributes, Removed: r.Removed}
	if r.Resources != "" {
		total, err := resources.Parse(r.Resources)
		if err != nil {
			return kmaster.KnownAgent{}, fmt.Errorf("registry: agent record %s: resources %q: %w", e.Key, r.Resources, err)
		}
		a.Total = total
	}
	if r.UnreachableSince != 0 {
		a.UnreachableSince = time.UnixMilli(r.UnreachableSince).UTC()
	}
	return a, nil
}

// LoadAgents reads the agents a previous leader kept, for the new
// leader's kmaster.KnownAgents. A damaged record is skipped and reported
// in the error beside the agents read (one bad key must not keep the
// cluster's other agents unknown); a failed read returns no agents.
func LoadAgents(ctx context.Context, reg Registry) ([]kmaster.KnownAgent, error) {
	entries, err := reg.List(ctx, AgentsPrefix)
	if err != nil {
		return nil, fmt.Errorf("registry: loading the agents: %w", err)
	}
	out := make([]kmaster.KnownAgent, 0, len(entries))
	var bad []string
	for _, e := range entries {
		a, err := decodeAgent(e)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, a)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("registry: %d agent records skipped: %s", len(bad), strings.Join(bad, "; "))
	}
	return out, nil
}

// AgentWriter keeps the registry's agents equal to the master's: each Sync
// writes only what changed since the last (new agents, agents marked
// unreachable, back or removed, forgotten removed ids), in transactions of
// at most MaxOps. Agents change seldom (nothing of a ping or a task is
// kept), so a Sync every second costs a diff in memory and, mostly, no
// write at all. It is not safe for concurrent use.
type AgentWriter struct{ w recordWriter }

// NewAgentWriter writes to reg, whose agents are loaded (LoadAgents): what
// is there already is not written again.
func NewAgentWriter(reg Registry, loaded []kmaster.KnownAgent) *AgentWriter {
	w := &AgentWriter{recordWriter{reg: reg, prefix: AgentsPrefix, written: map[string]string{}}}
	for _, a := range loaded {
		if raw, err := encodeAgent(a); err == nil {
			w.w.written[a.ID] = string(raw)
		}
	}
	return w
}

// Sync writes the difference between agents (the master's RegistryAgents)
// and what the registry holds; it returns how many keys it wrote or
// deleted. On an error (ErrFenced: this master no longer leads) what was
// not written is written by the next Sync.
func (w *AgentWriter) Sync(ctx context.Context, agents []kmaster.KnownAgent) (int, error) {
	want := make(map[string]string, len(agents))
	for _, a := range agents {
		raw, err := encodeAgent(a)
		if err != nil {
			return 0, fmt.Errorf("registry: encoding agent %s: %w", a.ID, err)
		}
		want[a.ID] = string(raw)
	}
	return w.w.sync(ctx, want)
}

// recordWriter keeps the keys under prefix equal to a set of records.
type recordWriter struct {
	reg     Registry
	prefix  string
	written map[string]string // id -> the record in the registry
}

// sync writes the records of want that differ from those written and
// deletes those no longer wanted, MaxOps a transaction.
func (w *recordWriter) sync(ctx context.Context, want map[string]string) (int, error) {
	type change struct {
		id  string
		raw string // "" deletes
	}
	var changes []change
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if w.written[id] != want[id] {
			changes = append(changes, change{id, want[id]})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(w.written)) {
		if _, ok := want[id]; !ok {
			changes = append(changes, change{id, ""})
		}
	}
	done := 0
	for batch := range slices.Chunk(changes, MaxOps) {
		ops := make([]Op, len(batch))
		for i, c := range batch {
			if c.raw == "" {
				ops[i] = Delete(w.prefix + c.id)
			} else {
				ops[i] = Put(w.prefix+c.id, []byte(c.raw))
			}
		}
		if err := w.reg.Apply(ctx, ops...); err != nil {
			return done, fmt.Errorf("registry: writing %d changes under %s: %w", len(ops), w.prefix, err)
		}
		for _, c := range batch {
			if c.raw == "" {
				delete(w.written, c.id)
			} else {
				w.written[c.id] = c.raw
			}
		}
		done += len(batch)
	}
	return done, nil
}
