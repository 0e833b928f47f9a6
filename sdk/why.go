package sdk

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pandodc/pando/kernel/resources"
)

// Why counts, per reason, the offers a framework could not use for a task
// (or a job, or a round): the answer to "why is my task not launching?",
// like Nomad's per-dimension placement metrics. Add to it as offers are
// turned down, show it with String, serve it as JSON.
type Why struct {
	// Offers is how many offers were looked at.
	Offers int `json:"offers"`
	// TooSmall counts, per resource name ("cpus", "mem", "ports", ...),
	// the offers that had too little of it. One offer short of two
	// resources counts in both.
	TooSmall map[string]int `json:"too_small,omitempty"`
	// Constraint counts, per constraint ("hostname UNIQUE", "rack==r1",
	// "runtimes has container"), the offers that failed it.
	Constraint map[string]int `json:"constraint,omitempty"`
	// Malformed counts offers whose resources could not be read.
	Malformed int `json:"malformed,omitempty"`
	// Example is one offer's shortfall in words, e.g. "on h1: mem 4GiB
	// (has 1GiB)".
	Example string `json:"example,omitempty"`
}

// Looked counts an offer as looked at.
func (w *Why) Looked() { w.Offers++ }

// Lacks records that an offer with avail was too small for need, in each
// dimension it lacks.
func (w *Why) Lacks(offerName string, avail, need Resources) {
	if w.TooSmall == nil {
		w.TooSmall = map[string]int{}
	}
	short := false
	for _, n := range need.Items() {
		if !avail.Contains(resources.New(n)) {
			w.TooSmall[n.Name]++
			short = true
		}
	}
	if !short {
		// Not short of any single item: the combination is (ranges).
		w.TooSmall["resources"]++
	}
	if w.Example == "" {
		w.Example = "on " + offerName + ": " + avail.Shortfall(need)
	}
}

// Fails records that an offer failed constraint c.
func (w *Why) Fails(c string) {
	if w.Constraint == nil {
		w.Constraint = map[string]int{}
	}
	w.Constraint[c]++
}

// Add merges o's counts into w.
func (w *Why) Add(o Why) {
	w.Offers += o.Offers
	w.Malformed += o.Malformed
	for k, v := range o.TooSmall {
		if w.TooSmall == nil {
			w.TooSmall = map[string]int{}
		}
		w.TooSmall[k] += v
	}
	for k, v := range o.Constraint {
		if w.Constraint == nil {
			w.Constraint = map[string]int{}
		}
		w.Constraint[k] += v
	}
	if w.Example == "" {
		w.Example = o.Example
	}
}

// IsZero reports whether nothing was recorded.
func (w Why) IsZero() bool {
	return w.Offers == 0 && w.Malformed == 0 && len(w.TooSmall) == 0 && len(w.Constraint) == 0
}

// String says it in one line: "3 offers: too small in mem (2), cpus (1);
// failed hostname UNIQUE (1) (e.g. on h1: mem 4GiB (has 1GiB))".
func (w Why) String() string {
	if w.Offers == 0 {
		return "no offers yet"
	}
	var parts []string
	if len(w.TooSmall) > 0 {
		parts = append(parts, "too small in "+counts(w.TooSmall))
	}
	if len(w.Constraint) > 0 {
		parts = append(parts, "failed "+counts(w.Constraint))
	}
	if w.Malformed > 0 {
		parts = append(parts, fmt.Sprintf("malformed (%d)", w.Malformed))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d offers, none turned down", w.Offers)
	}
	s := fmt.Sprintf("%d offers: %s", w.Offers, strings.Join(parts, "; "))
	if w.Example != "" {
		s += " (e.g. " + w.Example + ")"
	}
	return s
}

// counts lists a tally, largest first: "mem (2), cpus (1)".
func counts(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s (%d)", k, m[k])
	}
	return strings.Join(out, ", ")
}
