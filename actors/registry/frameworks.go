package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	kmaster "github.com/pandodc/pando/kernel/master"
)

// FrameworksPrefix is where the leading master keeps the frameworks it
// has (their id, name, roles and failover timeout) and the ids of those it
// removed. (The built-in frameworks keep their own state apart, under
// "frameworks/<name>/", through AsStore.)
const FrameworksPrefix = "master/frameworks/"

type frameworkRecord struct {
	ID                string   `json:"id"`
	Name              string   `json:"name,omitempty"`
	Roles             []string `json:"roles,omitempty"`
	FailoverTimeoutMS int64    `json:"failover_timeout_ms,omitempty"`
	Removed           bool     `json:"removed,omitempty"`
}

func encodeFramework(f kmaster.KnownFramework) ([]byte, error) {
	r := frameworkRecord{ID: f.ID, Removed: f.Removed}
	if !f.Removed {
		r.Name, r.Roles, r.FailoverTimeoutMS = f.Name, f.Roles, f.FailoverTimeout.Milliseconds()
	}
	return json.Marshal(r)
}

// LoadFrameworks reads the frameworks a previous leader kept, for the new
// leader's kmaster.KnownFrameworks; damaged records are skipped and named
// in the error, as LoadAgents does.
func LoadFrameworks(ctx context.Context, reg Registry) ([]kmaster.KnownFramework, error) {
	entries, err := reg.List(ctx, FrameworksPrefix)
	if err != nil {
		return nil, fmt.Errorf("registry: loading the frameworks: %w", err)
	}
	out := make([]kmaster.KnownFramework, 0, len(entries))
	var bad []string
	for _, e := range entries {
		var r frameworkRecord
		if err := json.Unmarshal(e.Value, &r); err != nil || r.ID == "" || FrameworksPrefix+r.ID != e.Key {
			bad = append(bad, fmt.Sprintf("%s is not a framework record (%v)", e.Key, err))
			continue
		}
		out = append(out, kmaster.KnownFramework{ID: r.ID, Name: r.Name, Roles: r.Roles,
			FailoverTimeout: time.Duration(r.FailoverTimeoutMS) * time.Millisecond, Removed: r.Removed})
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("registry: %d framework records skipped: %s", len(bad), strings.Join(bad, "; "))
	}
	return out, nil
}

// FrameworkWriter is AgentWriter for the master's frameworks
// (RegistryFrameworks): a subscription, a removal, a new failover timeout
// is one write, batched with the others of the same second.
type FrameworkWriter struct{ w recordWriter }

// NewFrameworkWriter writes to reg, whose frameworks are loaded.
func NewFrameworkWriter(reg Registry, loaded []kmaster.KnownFramework) *FrameworkWriter {
	w := &FrameworkWriter{recordWriter{reg: reg, prefix: FrameworksPrefix, written: map[string]string{}}}
	for _, f := range loaded {
		if raw, err := encodeFramework(f); err == nil {
			w.w.written[f.ID] = string(raw)
		}
	}
	return w
}

// Sync writes what changed of frameworks since the last Sync.
func (w *FrameworkWriter) Sync(ctx context.Context, frameworks []kmaster.KnownFramework) (int, error) {
	want := make(map[string]string, len(frameworks))
	for _, f := range frameworks {
		raw, err := encodeFramework(f)
		if err != nil {
			return 0, fmt.Errorf("registry: encoding framework %s: %w", f.ID, err)
		}
		want[f.ID] = string(raw)
	}
	return w.w.sync(ctx, want)
}
