package master

import (
	"fmt"
	"slices"
	"time"
)

// KnownFrameworks is a Step input from the shell, not a protocol message:
// the frameworks a previous leader had, read from the registry when this
// master was elected (step it with KnownAgents, before any message).
//
// A framework the master does not know yet is waited for with its own
// failover timeout (at least the re-registration window) rather than
// UnknownFrameworkTimeout: if it does not subscribe again within it, the
// tasks agents reported for it are killed, as its old master would have
// done. A removed framework stays removed: it cannot subscribe again, and
// the tasks agents report for it are killed.
type KnownFrameworks struct {
	Frameworks []KnownFramework
}

// KnownFramework is one framework of the registry.
type KnownFramework struct {
	ID              string
	Name            string
	Roles           []string
	FailoverTimeout time.Duration
	// Removed: torn down, or not back within its failover timeout.
	Removed bool
}

func (m *Master) knownFrameworks(now time.Time, msg KnownFrameworks) error {
	m.knownSince = now
	var problems []string
	for i, k := range msg.Frameworks {
		switch {
		case k.ID == "":
			problems = append(problems, fmt.Sprintf("known framework %d has no id", i))
		case m.frameworks[k.ID] != nil:
			// Subscribed already: what it says wins.
		case k.Removed:
			m.removed.Add(k.ID)
		default:
			k.Roles = slices.Clone(k.Roles)
			m.knownFailover[k.ID] = k
		}
	}
	if len(problems) > 0 {
		m.counters.InvalidMessages++
		return invalidf("%v", problems)
	}
	return nil
}

// adoptedTimeout is how long the tasks adopted for framework fwID are kept
// while it has not subscribed.
func (m *Master) adoptedTimeout(fwID string) time.Duration {
	if k, ok := m.knownFailover[fwID]; ok {
		return max(k.FailoverTimeout, m.cfg.ReregistrationWindow)
	}
	return m.cfg.UnknownFrameworkTimeout
}

// RegistryFrameworks is what the registry should hold of the frameworks,
// by id: each framework the master has (its failover timeout from its
// FrameworkInfo), each it awaits from the registry, and the removed ids it
// remembers. A new leader steps it back in as KnownFrameworks.
func (m *Master) RegistryFrameworks() []KnownFramework {
	out := make([]KnownFramework, 0, len(m.frameworks)+len(m.knownFailover)+m.removed.Len())
	for _, id := range sortedKeys(m.frameworks) {
		fw := m.frameworks[id]
		out = append(out, KnownFramework{ID: id, Name: fw.info.GetName(), Roles: slices.Clone(fw.roles), FailoverTimeout: fw.failoverTimeout})
	}
	for _, id := range sortedKeys(m.knownFailover) {
		if m.frameworks[id] == nil && !m.removed.Has(id) {
			k := m.knownFailover[id]
			k.Roles = slices.Clone(k.Roles)
			out = append(out, k)
		}
	}
	for id := range m.removed.Newest() {
		if m.frameworks[id] == nil {
			out = append(out, KnownFramework{ID: id, Removed: true})
		}
	}
	slices.SortFunc(out, func(a, b KnownFramework) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}
