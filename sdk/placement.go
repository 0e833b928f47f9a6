package sdk

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// BinPack returns how many copies of need fit in avail, at most n. Roles
// must match exactly (need "cpus:1" does not take from "cpus(batch):1").
// It is O(resources) for scalar needs, so a scheduler can call it for
// every offer without scanning its tasks.
func BinPack(avail, need resources.Resources, n int) int {
	if n <= 0 {
		return 0
	}
	if need.IsEmpty() {
		return n
	}
	have := avail.Items()
	best := n
	i := 0
	for _, nd := range need.Items() {
		if len(nd.Ranges) > 0 {
			return binPackSlow(avail, need, n)
		}
		for i < len(have) && (have[i].Name < nd.Name || (have[i].Name == nd.Name && have[i].Role < nd.Role)) {
			i++
		}
		if i == len(have) || have[i].Name != nd.Name || have[i].Role != nd.Role {
			return 0
		}
		if nd.Milli > 0 {
			best = min(best, int(have[i].Milli/nd.Milli))
		}
		if best == 0 {
			return 0
		}
	}
	return best
}

// binPackSlow subtracts one copy at a time: range resources (ports) do not
// divide arithmetically.
func binPackSlow(avail, need resources.Resources, n int) int {
	k := 0
	for k < n && avail.Contains(need) {
		var err error
		if avail, err = avail.Subtract(need); err != nil {
			break
		}
		k++
	}
	return k
}

// Constraint operators.
const (
	OpEqual    = "=="
	OpNotEqual = "!="
	OpLike     = "LIKE"   // Value is a regular expression the whole attribute must match
	OpUnique   = "UNIQUE" // at most one task of the group per distinct attribute value
	OpHas      = "HAS"    // the attribute is a comma-separated list that holds Value
)

// RuntimesAttribute is the agent attribute listing the task runtimes it
// has, comma-separated ("wasm,container"). An agent without a container
// runtime also sets attribute "container" to "unavailable: <why>".
const RuntimesAttribute = "runtimes"

// HasRuntime is the constraint "the agent has runtime name" ("wasm",
// "container").
func HasRuntime(name string) Constraint {
	return Constraint{Attribute: RuntimesAttribute, Op: OpHas, Value: name}
}

// ListHas reports whether the comma-separated list (an attribute such as
// "runtimes") holds v.
func ListHas(list, v string) bool {
	for _, x := range strings.Split(list, ",") {
		if strings.TrimSpace(x) == v {
			return true
		}
	}
	return false
}

// Constraint restricts the offers a task may be placed on by one of the
// offer's attributes. The pseudo-attributes "hostname" and "agent_id" read
// the offer's hostname and agent id unless the agent sets an attribute of
// that name. An offer without the attribute fails ==, LIKE and UNIQUE and
// passes !=.
type Constraint struct {
	Attribute string `json:"attribute"`
	Op        string `json:"op"`
	Value     string `json:"value,omitempty"`
}

func (c Constraint) String() string {
	if c.Op == OpUnique {
		return c.Attribute + " UNIQUE"
	}
	if c.Op == OpLike || c.Op == OpHas {
		return c.Attribute + " " + c.Op + " " + c.Value
	}
	return c.Attribute + c.Op + c.Value
}

// Validate checks the operator and, for LIKE, the regular expression.
func (c Constraint) Validate() error {
	if c.Attribute == "" {
		return fmt.Errorf("constraint %q: attribute is empty", c.String())
	}
	switch c.Op {
	case OpEqual, OpNotEqual, OpUnique, OpHas:
		return nil
	case OpLike:
		if _, err := regexp.Compile("^(?:" + c.Value + ")$"); err != nil {
			return fmt.Errorf("constraint %q: bad regular expression: %w", c.String(), err)
		}
		return nil
	}
	return fmt.Errorf("constraint %q: unknown operator %q (use ==, !=, LIKE, HAS or UNIQUE)", c.String(), c.Op)
}

// Holds reports whether offer o satisfies c on its own: UNIQUE holds when
// o has the attribute (whether the value is taken is the Packer's to
// know). A malformed LIKE holds for nothing.
func (c Constraint) Holds(o *kernelpb.Offer) bool {
	v, ok := OfferAttribute(o, c.Attribute)
	switch c.Op {
	case OpEqual:
		return ok && v == c.Value
	case OpNotEqual:
		return !ok || v != c.Value
	case OpHas:
		return ok && ListHas(v, c.Value)
	case OpLike:
		re, err := regexp.Compile("^(?:" + c.Value + ")$")
		return ok && err == nil && re.MatchString(v)
	case OpUnique:
		return ok
	}
	return false
}

// OfferAttribute returns the value of an attribute of an offer, including
// the pseudo-attributes "hostname" and "agent_id".
func OfferAttribute(o *kernelpb.Offer, name string) (string, bool) {
	if v, ok := o.GetAttributes()[name]; ok {
		return v, true
	}
	switch name {
	case "hostname":
		return o.GetHostname(), o.GetHostname() != ""
	case "agent_id":
		return o.GetAgentId(), o.GetAgentId() != ""
	}
	return "", false
}

// Request is one task to place.
type Request struct {
	ID string
	// Group scopes UNIQUE constraints: typically the job or service.
	Group       string
	Resources   resources.Resources
	Constraints []Constraint
}

// Strategy picks among the offers a request fits in.
type Strategy int

const (
	// FirstFit takes the first offer (in the order given) that fits:
	// cheapest, and it fills offers in turn.
	FirstFit Strategy = iota
	// BestFit takes the offer that the request leaves the least cpus and
	// mem in (relative to the offer), packing tightly so that whole
	// offers stay free for large requests.
	BestFit
	// Spread takes the offer that has been given the fewest requests so
	// far in this round, spreading tasks over agents.
	Spread
)

// Placement assigns one request to one offer.
type Placement struct {
	RequestID string
	OfferID   string
	AgentID   string
	Resources resources.Resources
}

// Unplaced is a request that fits no offer, and why, for the person asking
// "why is my task not launching?": in words (Reason) and counted per
// reason (Why).
type Unplaced struct {
	RequestID string
	Reason    string
	Why       Why
}

// Plan is the outcome of Pack.
type Plan struct {
	Placements []Placement
	Unplaced   []Unplaced
	// Remaining is what is left of each offer, by offer id.
	Remaining map[string]resources.Resources
}

// ByOffer groups the placements by offer id.
func (p Plan) ByOffer() map[string][]Placement {
	out := map[string][]Placement{}
	for _, pl := range p.Placements {
		out[pl.OfferID] = append(out[pl.OfferID], pl)
	}
	return out
}

// Packer assigns task requests to offers: requests in decreasing size
// (cpus, then mem), each to the first or best offer that has the resources
// and satisfies its constraints.
type Packer struct {
	Strategy Strategy
	// Taken, if set, reports attribute values already used by running
	// tasks of a group, so UNIQUE holds across rounds of placement.
	Taken func(group, attribute, value string) bool
}

type offerState struct {
	offer  *kernelpb.Offer
	total  resources.Resources
	remain resources.Resources
	placed int
	bad    error
}

// Pack places reqs on offers. It returns an error only for malformed
// constraints (a caller's bug); requests that do not fit are listed in
// Plan.Unplaced with a reason.
func (p *Packer) Pack(offers []*kernelpb.Offer, reqs []Request) (Plan, error) {
	likes := map[string]*regexp.Regexp{}
	for _, r := range reqs {
		for _, c := range r.Constraints {
			if err := c.Validate(); err != nil {
				return Plan{}, fmt.Errorf("request %s: %w", r.ID, err)
			}
			if c.Op == OpLike && likes[c.Value] == nil {
				likes[c.Value] = regexp.MustCompile("^(?:" + c.Value + ")$")
			}
		}
	}
	states := make([]*offerState, len(offers))
	for i, o := range offers {
		res, err := resources.FromProto(o.GetResources())
		states[i] = &offerState{offer: o, total: res, remain: res, bad: err}
	}
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ra, rb := reqs[a].Resources, reqs[b].Resources
		if c := cmp.Compare(rb.Get(resources.CPUs), ra.Get(resources.CPUs)); c != 0 {
			return c
		}
		return cmp.Compare(rb.Get(resources.Mem), ra.Get(resources.Mem))
	})

	// used[group][attribute][value]: UNIQUE values taken in this round.
	used := map[string]map[string]map[string]bool{}
	plan := Plan{Remaining: map[string]resources.Resources{}}
	for _, idx := range order {
		r := reqs[idx]
		var why rejections
		var counted Why
		best := -1
		var bestScore float64
		for i, st := range states {
			counted.Looked()
			if st.bad != nil {
				why.other++
				counted.Malformed++
				continue
			}
			if failed, detail := p.violates(r, st.offer, used, likes); failed != "" {
				why.constraint(failed, detail)
				counted.Fails(failed)
				continue
			}
			if !st.remain.Contains(r.Resources) {
				why.resources(st.offer, st.remain.Shortfall(r.Resources))
				counted.Lacks(offerName(st.offer), st.remain, r.Resources)
				continue
			}
			if p.Strategy == FirstFit {
				best = i
				break
			}
			s := leftover(st, r.Resources)
			if p.Strategy == Spread {
				s = float64(st.placed)
			}
			if best < 0 || s < bestScore {
				best, bestScore = i, s
			}
		}
		if best < 0 {
			plan.Unplaced = append(plan.Unplaced, Unplaced{RequestID: r.ID, Reason: why.String(len(offers)), Why: counted})
			continue
		}
		st := states[best]
		st.placed++
		st.remain, _ = st.remain.Subtract(r.Resources)
		for _, c := range r.Constraints {
			if c.Op == OpUnique {
				v, _ := OfferAttribute(st.offer, c.Attribute)
				g := used[r.Group]
				if g == nil {
					g = map[string]map[string]bool{}
					used[r.Group] = g
				}
				if g[c.Attribute] == nil {
					g[c.Attribute] = map[string]bool{}
				}
				g[c.Attribute][v] = true
			}
		}
		plan.Placements = append(plan.Placements, Placement{
			RequestID: r.ID, OfferID: st.offer.GetId(), AgentID: st.offer.GetAgentId(), Resources: r.Resources,
		})
	}
	for _, st := range states {
		plan.Remaining[st.offer.GetId()] = st.remain
	}
	return plan, nil
}

// violates returns the first constraint r fails on o ("" if none) and what
// the offer has instead.
func (p *Packer) violates(r Request, o *kernelpb.Offer, used map[string]map[string]map[string]bool, likes map[string]*regexp.Regexp) (string, string) {
	for _, c := range r.Constraints {
		v, ok := OfferAttribute(o, c.Attribute)
		have := c.Attribute + "=" + v
		if !ok {
			have = "no " + c.Attribute
		}
		switch c.Op {
		case OpEqual:
			if !ok || v != c.Value {
				return c.String(), have
			}
		case OpNotEqual:
			if ok && v == c.Value {
				return c.String(), have
			}
		case OpLike:
			if !ok || !likes[c.Value].MatchString(v) {
				return c.String(), have
			}
		case OpHas:
			if !ok || !ListHas(v, c.Value) {
				return c.String(), have
			}
		case OpUnique:
			if !ok {
				return c.String(), have
			}
			if used[r.Group][c.Attribute][v] || (p.Taken != nil && p.Taken(r.Group, c.Attribute, v)) {
				return c.String(), c.Attribute + "=" + v + " already used"
			}
		}
	}
	return "", ""
}

// leftover scores how much of an offer's cpus and mem a placement leaves,
// as fractions of the offer's total: lower is a tighter fit.
func leftover(st *offerState, need resources.Resources) float64 {
	var s float64
	for _, name := range []string{resources.CPUs, resources.Mem} {
		if total := st.total.Get(name); total > 0 {
			s += float64(st.remain.Get(name)-need.Get(name)) / float64(total)
		}
	}
	return s
}

// rejections tallies why a request fit no offer.
type rejections struct {
	lacked, failed, other int
	lackExample           string
	failExample           string
}

func (r *rejections) resources(o *kernelpb.Offer, shortfall string) {
	r.lacked++
	if r.lackExample == "" {
		r.lackExample = "on " + offerName(o) + ": " + shortfall
	}
}

func (r *rejections) constraint(c, have string) {
	r.failed++
	if r.failExample == "" {
		r.failExample = c + " (" + have + ")"
	}
}

func (r *rejections) String(offers int) string {
	if offers == 0 {
		return "no offers"
	}
	var parts []string
	if r.lacked > 0 {
		parts = append(parts, fmt.Sprintf("%d lacked resources (e.g. %s)", r.lacked, r.lackExample))
	}
	if r.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed constraint %s", r.failed, r.failExample))
	}
	if r.other > 0 {
		parts = append(parts, fmt.Sprintf("%d had malformed resources", r.other))
	}
	return fmt.Sprintf("no offer fits (%d offers): %s", offers, strings.Join(parts, "; "))
}

func offerName(o *kernelpb.Offer) string {
	if h := o.GetHostname(); h != "" {
		return h
	}
	return o.GetAgentId()
}

// Shape is the form of identical tasks to place: what each needs and where
// it may go.
type Shape struct {
	Resources   resources.Resources
	Constraints []Constraint
	// Group scopes UNIQUE constraints (see Request.Group).
	Group string
}

// Fit says where n tasks of one shape go among a round of offers.
type Fit struct {
	// Count is how many tasks each offer takes, by offer id; offers that
	// take none are absent.
	Count map[string]int
	// Placed is the sum of Count.
	Placed int
	// Unused lists, in the order given, the offers that take no task:
	// decline them.
	Unused []string
	// Why counts why the offers were turned down for the tasks that did
	// not fit; zero when all n fit.
	Why Why
}

// Fit places up to n tasks of shape on offers with the packer's strategy
// and constraints. Its cost follows the offers, not n: a framework with a
// million tasks waiting can call it for every round. It returns an error
// only for malformed constraints.
func (p *Packer) Fit(offers []*kernelpb.Offer, shape Shape, n int) (Fit, error) {
	unique := false
	for _, c := range shape.Constraints {
		if err := c.Validate(); err != nil {
			return Fit{}, err
		}
		unique = unique || c.Op == OpUnique
	}
	fit := Fit{Count: map[string]int{}}
	if n <= 0 {
		for _, o := range offers {
			fit.Unused = append(fit.Unused, o.GetId())
		}
		return fit, nil
	}
	var why Why
	// capacity of each offer for the shape, and the offer's resources
	// left once full, for the reasons.
	type slot struct {
		o      *kernelpb.Offer
		avail  resources.Resources
		cap    int
		score  float64
		values []string // UNIQUE attribute values it would use
	}
	var slots []slot
	for _, o := range offers {
		why.Looked()
		avail, err := resources.FromProto(o.GetResources())
		if err != nil {
			why.Malformed++
			continue
		}
		failed, values := "", []string(nil)
		for _, c := range shape.Constraints {
			if !c.Holds(o) {
				failed = c.String()
				break
			}
			if c.Op == OpUnique {
				v, _ := OfferAttribute(o, c.Attribute)
				if p.Taken != nil && p.Taken(shape.Group, c.Attribute, v) {
					failed = c.String()
					break
				}
				values = append(values, c.Attribute+"\x00"+v)
			}
		}
		if failed != "" {
			why.Fails(failed)
			continue
		}
		k := BinPack(avail, shape.Resources, n)
		if unique {
			k = min(k, 1)
		}
		if k == 0 {
			why.Lacks(offerName(o), avail, shape.Resources)
			continue
		}
		score := leftover(&offerState{total: avail, remain: avail}, shape.Resources)
		slots = append(slots, slot{o: o, avail: avail, cap: k, score: score, values: values})
	}
	if p.Strategy == BestFit {
		slices.SortStableFunc(slots, func(a, b slot) int { return cmp.Compare(a.score, b.score) })
	}
	used := map[string]bool{} // UNIQUE values taken in this round
	// claim reserves a slot's UNIQUE values for its first task; false if
	// another offer (of the same host, say) took one already.
	claim := func(s *slot) bool {
		if fit.Count[s.o.GetId()] > 0 {
			return true
		}
		for _, v := range s.values {
			if used[v] {
				why.Fails(uniqueName(shape.Constraints))
				s.cap = 0
				return false
			}
		}
		for _, v := range s.values {
			used[v] = true
		}
		return true
	}
	left := n
	if p.Strategy == Spread {
		// One task per offer per pass, so they spread over agents.
		for progress := true; left > 0 && progress; {
			progress = false
			for i := range slots {
				if s := &slots[i]; left > 0 && s.cap > 0 && claim(s) {
					fit.Count[s.o.GetId()]++
					s.cap--
					left--
					progress = true
				}
			}
		}
	} else {
		for i := range slots {
			if s := &slots[i]; left > 0 && claim(s) {
				k := min(s.cap, left)
				fit.Count[s.o.GetId()] += k
				s.cap -= k
				left -= k
			}
		}
	}
	for _, o := range offers {
		if k := fit.Count[o.GetId()]; k == 0 {
			delete(fit.Count, o.GetId())
			fit.Unused = append(fit.Unused, o.GetId())
		} else {
			fit.Placed += k
		}
	}
	if left > 0 {
		// Offers that took what they could ran out too.
		for _, s := range slots {
			if k := fit.Count[s.o.GetId()]; k > 0 {
				rest := subtractCopies(s.avail, shape.Resources, k)
				if unique {
					why.Fails(uniqueName(shape.Constraints))
				} else {
					why.Lacks(offerName(s.o), rest, shape.Resources)
				}
			}
		}
		fit.Why = why
	}
	return fit, nil
}

func uniqueName(cs []Constraint) string {
	for _, c := range cs {
		if c.Op == OpUnique {
			return c.String()
		}
	}
	return ""
}

// subtractCopies returns avail minus k copies of need (which fit).
func subtractCopies(avail, need resources.Resources, k int) resources.Resources {
	for ; k > 0; k-- {
		next, err := avail.Subtract(need)
		if err != nil {
			break
		}
		avail = next
	}
	return avail
}

// Answer launches fit's tasks and declines its unused offers: for each
// offer that takes k tasks, task(o) is called k times and the tasks are
// accepted with accept filters; unused offers are declined with decline
// filters (nil: the master's default).
func (f Fit) Answer(d *Driver, offers []*kernelpb.Offer, task func(o *kernelpb.Offer) *kernelpb.TaskInfo, accept, decline *kernelpb.Filters) {
	for _, o := range offers {
		k := f.Count[o.GetId()]
		if k == 0 {
			continue
		}
		tasks := make([]*kernelpb.TaskInfo, k)
		for i := range tasks {
			tasks[i] = task(o)
		}
		d.Accept([]string{o.GetId()}, tasks, accept)
	}
	if len(f.Unused) > 0 {
		d.Decline(f.Unused, decline)
	}
}
