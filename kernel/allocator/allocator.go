package allocator

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pandodc/pando/kernel/resources"
)

// Config tunes the allocator.
type Config struct {
	// MinAllocatable: an agent's free resources are offered only if they
	// contain at least one of these (Mesos: cpus:0.01 or mem:32MiB).
	MinAllocatable []resources.Resources
	// DefaultRefuse is how long a Decline without filters keeps an agent's
	// resources away from the declining framework.
	DefaultRefuse time.Duration
}

// Defaults for a zero Config, as in Mesos.
const (
	defaultMinCPUs resources.Milli = resources.One / 100 // cpus:0.01
	defaultMinMem  resources.Milli = 32 * resources.One  // mem:32MiB
	defaultRefuse                  = 5 * time.Second
)

// Allocation is one decision of a round: these resources of this agent are
// now allocated (offered) to this framework under this role.
type Allocation struct {
	FrameworkID string
	AgentID     string
	Role        string
	Resources   resources.Resources
}

// Allocator decides which framework is offered which agent's resources,
// by hierarchical DRF: first across roles (weighted dominant share), then
// across the frameworks of a role (dominant share). It is pure and
// deterministic: the same calls in the same order give the same decisions.
type Allocator struct {
	cfg     Config
	minVecs []vec // cfg.MinAllocatable as quantity vectors

	names names
	total vec // sum of the agents' totals: the denominator of every share
	free  vec // sum of the agents' free resources

	agents     map[string]*agent
	agentList  []*agent // sorted by id; a round walks it from a rotating start
	frameworks map[string]*framework
	roles      map[string]*role   // roles with at least one subscribed framework
	weights    map[string]float64 // set by SetWeight, kept while a role is empty
	active     ordered[*role]     // roles with an unsuppressed framework, by weighted share

	// dirty: the cluster total changed (agent added or removed), so every
	// share is stale. Instead of re-sorting after each AddAgent (10k agents
	// registering would re-sort 10k times), shares are recomputed and the
	// orders rebuilt once, at the next round.
	dirty bool

	round uint64
	stats roundStats
	tmp   vec // scratch, to avoid allocating in loops
	tmp2  vec
	// unres and splits: an agent's free resources split by reservation,
	// scratch for the round's slower path (agents with reservations).
	unres  vec
	splits []resSplit
}

// agent is one machine's accounting: free + what every holding holds ==
// total, always.
type agent struct {
	id       string
	total    resources.Resources
	totalVec vec
	free     resources.Resources
	freeVec  vec
	// freeReserved: free holds reservations, so what may be offered depends
	// on the role and the round takes its slower path for this agent.
	freeReserved bool
	holdings     []*holding // few per agent: a slice beats a map

	// Candidacy in the last round, for Why: candAll when the unreserved
	// free resources passed the minimum (a candidate for every framework);
	// otherwise candRoles lists the roles whose reservations made it one.
	candRound uint64
	candAll   bool
	candRoles []*role
}

// framework is a subscribed framework, or a placeholder for one that is
// known only from the resources it holds (reported by a re-registering
// agent before the framework subscribed again).
type framework struct {
	id         string
	subscribed bool
	roles      []*fwRole // subscription order; roles[0] takes unreserved holdings
	suppressed bool
	// filters: agent id -> decline filter. Keyed by id, not by *agent, so
	// a filter survives the agent re-registering and needs no cleanup when
	// an agent goes: it just expires, lazily.
	filters  map[string][]declineFilter
	holdings []*holding
	alloc    vec // over all roles: Share

	gotRound uint64 // the last round that allocated to it
	why      reason // why it got nothing in round whyRound
	whyRound uint64
	// notOffered counts, by reason, the rounds in which it got nothing.
	notOffered [numReasons]uint64
}

// fwRole is a framework's membership of a role: within a role frameworks
// are ranked by what they hold under that role (as Mesos does).
type fwRole struct {
	fw    *framework
	role  *role
	alloc vec
	share float64
	inSet bool // in role.set (not suppressed)
}

func (fr *fwRole) rank() (float64, string) { return fr.share, fr.fw.id }

type role struct {
	name    string
	weight  float64
	members int // subscribed frameworks, suppressed or not
	set     ordered[*fwRole]
	alloc   vec
	share   float64 // weighted: dominant share / weight
	inSet   bool    // in Allocator.active

	resCandRound uint64 // agents candidate only through reservations for this role,
	resCand      int    // in round resCandRound
}

func (r *role) rank() (float64, string) { return r.share, r.name }

// holding is what one framework holds on one agent, split by the role it
// was allocated under. fwIdx and agIdx are its positions in the two
// holdings slices, for O(1) removal.
type holding struct {
	fw           *framework
	ag           *agent
	fwIdx, agIdx int
	parts        []part
	first        [1]part // parts' first backing array: one allocation per new holding
}

type part struct {
	fr  *fwRole // nil while the framework is a placeholder
	res resources.Resources
}

// New makes an empty allocator. A nil cfg.MinAllocatable means the Mesos
// default (cpus:0.01 or mem:32MiB); an empty non-nil one means no minimum.
// A zero DefaultRefuse means 5s.
func New(cfg Config) *Allocator {
	if cfg.MinAllocatable == nil {
		cfg.MinAllocatable = []resources.Resources{
			resources.Scalar(resources.CPUs, defaultMinCPUs),
			resources.Scalar(resources.Mem, defaultMinMem),
		}
	}
	cfg.MinAllocatable = slices.Clone(cfg.MinAllocatable)
	if cfg.DefaultRefuse <= 0 {
		cfg.DefaultRefuse = defaultRefuse
	}
	a := &Allocator{
		cfg:        cfg,
		agents:     map[string]*agent{},
		frameworks: map[string]*framework{},
		roles:      map[string]*role{},
		weights:    map[string]float64{},
	}
	for _, m := range cfg.MinAllocatable {
		a.minVecs = append(a.minVecs, a.names.load(nil, m))
	}
	return a
}

// Config returns the configuration in effect, defaults filled in (the
// master reads DefaultRefuse from it).
func (a *Allocator) Config() Config {
	c := a.cfg
	c.MinAllocatable = slices.Clone(c.MinAllocatable)
	return c
}

// AddAgent adds an agent with its total resources; used are resources
// already in use there (tasks recovered at re-registration), by framework.
//
// An agent that is already known is replaced: what was allocated on it is
// released first (the master rescinds those offers). Used resources are
// clamped to the total, and for a framework that already holds resources
// on this agent only the part not yet held is added, so the agent and the
// framework may both report the same tasks, in either order, without
// counting them twice. Used resources of a framework not (yet) subscribed
// are held by a placeholder that AddFramework adopts.
func (a *Allocator) AddAgent(id string, total resources.Resources, used map[string]resources.Resources) {
	if _, ok := a.agents[id]; ok {
		a.RemoveAgent(id)
	}
	ag := &agent{id: id, total: total}
	ag.totalVec = a.names.load(nil, total)
	a.total.add(ag.totalVec)
	a.agents[id] = ag
	i, _ := slices.BinarySearchFunc(a.agentList, id, func(x *agent, id string) int { return strings.Compare(x.id, id) })
	a.agentList = slices.Insert(a.agentList, i, ag)
	a.setFree(ag, total)
	a.dirty = true
	for _, fid := range sortedKeys(used) {
		f := a.frameworkOrPlaceholder(fid)
		a.ensureHeld(f, ag, used[fid])
		a.forgetIfIdle(f)
	}
}

// RemoveAgent forgets an agent; what was allocated there is released.
// Decline filters on it stay until they expire, so an agent that comes
// back under the same id is still filtered for the frameworks that
// declined it.
func (a *Allocator) RemoveAgent(id string) {
	ag := a.agents[id]
	if ag == nil {
		return
	}
	a.dirty = true // the total shrinks: no point repositioning as we go
	for len(ag.holdings) > 0 {
		h := ag.holdings[len(ag.holdings)-1]
		for _, p := range h.parts {
			a.unaccount(h.fw, p.fr, p.res)
		}
		h.parts = nil
		a.unlink(h)
	}
	a.free.sub(ag.freeVec)
	a.total.sub(ag.totalVec)
	delete(a.agents, id)
	i, _ := slices.BinarySearchFunc(a.agentList, id, func(x *agent, id string) int { return strings.Compare(x.id, id) })
	a.agentList = slices.Delete(a.agentList, i, i+1)
	a.dirty = true
}

// AddFramework adds a framework subscribed to roles; used is what it already
// holds, by agent (after a failover).
//
// An empty role list means role "*". Subscribing an already subscribed
// framework again (a scheduler failover) updates its roles, keeps what it
// holds (holdings of a dropped role move to the first role), and starts it
// afresh: not suppressed, no decline filters, since the new scheduler
// instance made neither. Used resources are added as in AddAgent: clamped
// to what is free, never counted twice; agents not known are skipped (they
// report their tasks when they register).
func (a *Allocator) AddFramework(id string, roles []string, used map[string]resources.Resources) {
	f := a.frameworks[id]
	if f == nil {
		f = &framework{id: id}
		a.frameworks[id] = f
	}
	f.subscribed = true
	f.whyRound = 0 // not considered in the last round as this subscription
	f.filters = nil
	f.suppressed = false
	a.setRoles(f, roles)
	for _, aid := range sortedKeys(used) {
		if ag := a.agents[aid]; ag != nil {
			a.ensureHeld(f, ag, used[aid])
		}
	}
}

// RemoveFramework forgets a framework and releases what it held.
func (a *Allocator) RemoveFramework(id string) {
	f := a.frameworks[id]
	if f == nil {
		return
	}
	for len(f.holdings) > 0 {
		h := f.holdings[len(f.holdings)-1]
		var back resources.Resources
		for _, p := range h.parts {
			a.unaccount(f, p.fr, p.res)
			back = back.Add(p.res)
		}
		h.parts = nil
		a.unlink(h)
		a.setFree(h.ag, h.ag.free.Add(back))
	}
	for _, fr := range f.roles {
		a.leave(fr)
	}
	f.roles = nil
	delete(a.frameworks, id)
}

// SetWeight sets a role's weight (default 1); a role of weight 2 is
// entitled to twice the share of a role of weight 1. A weight that is not
// a positive finite number restores the default.
func (a *Allocator) SetWeight(role string, weight float64) {
	if !(weight > 0) || math.IsInf(weight, 0) {
		delete(a.weights, role)
		weight = 1
	} else {
		a.weights[role] = weight
	}
	r := a.roles[role]
	if r == nil {
		return
	}
	if !r.inSet || a.dirty {
		r.weight = weight
		return
	}
	i := a.active.find(r)
	r.weight = weight
	r.share = share(r.alloc, a.total, &a.names) / r.weight
	a.active.fix(i)
}

// Allocate records resources as used by a framework on an agent outside a
// round (e.g. tasks reported at re-registration).
//
// Allocate adds to what the framework holds there. Only what is free can be
// allocated: the rest of r is ignored (silently: an agent's accounting can
// never go negative, and the master learns the truth from the agent's next
// report). Nothing happens for an unknown agent; an unknown framework gets
// a placeholder, adopted when it subscribes.
func (a *Allocator) Allocate(frameworkID, agentID string, r resources.Resources) {
	ag := a.agents[agentID]
	if ag == nil || r.IsEmpty() {
		return
	}
	f := a.frameworkOrPlaceholder(frameworkID)
	a.take(f, ag, r)
	a.forgetIfIdle(f)
}

// Recover returns resources a framework held on an agent to the pool: an
// offer declined, rescinded or partly used, a task ended. If filter > 0 the
// framework is not offered this agent's resources again before now+filter.
//
// Only what the framework holds there is returned; the rest of r is
// ignored, so a duplicate Recover cannot inflate the free pool.
func (a *Allocator) Recover(now time.Time, frameworkID, agentID string, r resources.Resources, filter time.Duration) {
	f, ag := a.frameworks[frameworkID], a.agents[agentID]
	if f == nil || ag == nil {
		return
	}
	if h := ag.holdingOf(f); h != nil && !r.IsEmpty() {
		a.giveBack(h, r)
	}
	if filter > 0 && f.subscribed {
		until := now.Add(filter).UnixNano()
		if f.filters == nil {
			f.filters = map[string][]declineFilter{}
		}
		f.filters[agentID] = addFilter(f.filters[agentID], declineFilter{until: until, refused: r}, now.UnixNano())
	}
}

// maxFiltersPerAgent bounds the filters one framework keeps on one agent; a
// framework declining in a loop must not grow the allocator's memory.
const maxFiltersPerAgent = 8

// addFilter adds fl to fls, dropping the expired ones and, past the bound,
// the one that ends first.
func addFilter(fls []declineFilter, fl declineFilter, now int64) []declineFilter {
	live := fls[:0]
	for _, old := range fls {
		if old.until > now {
			live = append(live, old)
		}
	}
	live = append(live, fl)
	if len(live) > maxFiltersPerAgent {
		first := 0
		for i := range live {
			if live[i].until < live[first].until {
				first = i
			}
		}
		live = append(live[:first], live[first+1:]...)
	}
	return live
}

// declineFilter keeps what a framework declined on an agent, and until
// when. As in Mesos, it holds back only offers that fit in what was
// declined: once more is free there (a task ended), the framework is
// offered the agent again, since the larger offer may now fit its tasks.
// Each decline makes its own filter, so a short filter never cuts a
// longer one short.
type declineFilter struct {
	until   int64 // unix ns
	refused resources.Resources
}

// Suppress stops offers to a framework until Revive.
func (a *Allocator) Suppress(frameworkID string) {
	f := a.frameworks[frameworkID]
	if f == nil || !f.subscribed || f.suppressed {
		return
	}
	f.suppressed = true
	for _, fr := range f.roles {
		a.deactivate(fr)
	}
}

// Revive resumes offers to a framework and clears its decline filters.
func (a *Allocator) Revive(frameworkID string) {
	f := a.frameworks[frameworkID]
	if f == nil || !f.subscribed {
		return
	}
	f.filters = nil
	if f.suppressed {
		f.suppressed = false
		for _, fr := range f.roles {
			a.activate(fr)
		}
	}
}

// Share returns a framework's dominant share, in [0, 1]: over all its
// roles, unweighted, scalar resources only.
func (a *Allocator) Share(frameworkID string) float64 {
	f := a.frameworks[frameworkID]
	if f == nil {
		return 0
	}
	return share(f.alloc, a.total, &a.names)
}

// Available returns an agent's free (unallocated) resources.
func (a *Allocator) Available(agentID string) resources.Resources {
	if ag := a.agents[agentID]; ag != nil {
		return ag.free
	}
	return resources.Resources{}
}

// Largest returns the total resources of the biggest agent, by the given
// resource, for "can this ever fit?" answers. Ties go to the smallest
// agent id; no agents, or none with that resource, give the empty set.
func (a *Allocator) Largest(name string) resources.Resources {
	var best *agent
	var most resources.Milli
	for _, ag := range a.agentList {
		if q := ag.total.Get(name); q > most {
			best, most = ag, q
		}
	}
	if best == nil {
		return resources.Resources{}
	}
	return best.total
}

// --- accounting helpers ---

func sortedKeys(m map[string]resources.Resources) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (a *Allocator) frameworkOrPlaceholder(id string) *framework {
	f := a.frameworks[id]
	if f == nil {
		f = &framework{id: id}
		a.frameworks[id] = f
	}
	return f
}

// setFree replaces an agent's free resources, keeping the vecs in step.
func (a *Allocator) setFree(ag *agent, r resources.Resources) {
	a.free.sub(ag.freeVec)
	ag.freeVec = a.names.load(ag.freeVec, r)
	a.free.add(ag.freeVec)
	ag.free = r
	ag.freeReserved = false
	for _, it := range r.Items() {
		if it.Role != "" {
			ag.freeReserved = true
			break
		}
	}
}

func (ag *agent) holdingOf(f *framework) *holding {
	for _, h := range ag.holdings {
		if h.fw == f {
			return h
		}
	}
	return nil
}

// holdingFor returns f's holding on ag, creating it.
func (a *Allocator) holdingFor(f *framework, ag *agent) *holding {
	if h := ag.holdingOf(f); h != nil {
		return h
	}
	h := &holding{fw: f, ag: ag, fwIdx: len(f.holdings), agIdx: len(ag.holdings)}
	h.parts = h.first[:0]
	f.holdings = append(f.holdings, h)
	ag.holdings = append(ag.holdings, h)
	return h
}

// unlink removes an empty holding from both sides (swap-remove: holdings
// order never decides anything).
func (a *Allocator) unlink(h *holding) {
	f, ag := h.fw, h.ag
	last := f.holdings[len(f.holdings)-1]
	f.holdings[h.fwIdx], last.fwIdx = last, h.fwIdx
	f.holdings[len(f.holdings)-1] = nil
	f.holdings = f.holdings[:len(f.holdings)-1]
	last = ag.holdings[len(ag.holdings)-1]
	ag.holdings[h.agIdx], last.agIdx = last, h.agIdx
	ag.holdings[len(ag.holdings)-1] = nil
	ag.holdings = ag.holdings[:len(ag.holdings)-1]
	a.forgetIfIdle(f)
}

// forgetIfIdle forgets a placeholder that holds nothing: there is nothing
// for a later subscription to adopt.
func (a *Allocator) forgetIfIdle(f *framework) {
	if !f.subscribed && len(f.holdings) == 0 {
		delete(a.frameworks, f.id)
	}
}

// addPart records res as held by f on ag under fr (nil for a placeholder)
// and counts it in the vecs and shares. The caller has taken res from free.
func (a *Allocator) addPart(h *holding, fr *fwRole, res resources.Resources, v vec) {
	for i := range h.parts {
		if h.parts[i].fr == fr {
			h.parts[i].res = h.parts[i].res.Add(res)
			a.account(h.fw, fr, v)
			return
		}
	}
	h.parts = append(h.parts, part{fr: fr, res: res})
	a.account(h.fw, fr, v)
}

// account adds v to what f holds (under fr) and repositions f and its role.
func (a *Allocator) account(f *framework, fr *fwRole, v vec) {
	f.alloc.add(v)
	if fr == nil {
		return
	}
	a.reshare(fr, func() { fr.alloc.add(v); fr.role.alloc.add(v) })
}

// unaccount subtracts res from what f holds (under fr).
func (a *Allocator) unaccount(f *framework, fr *fwRole, res resources.Resources) {
	v := a.names.load(a.tmp, res)
	a.tmp = v
	f.alloc.sub(v)
	if fr == nil {
		return
	}
	a.reshare(fr, func() { fr.alloc.sub(v); fr.role.alloc.sub(v) })
}

// reshare applies change to fr's and its role's holdings and moves both to
// their new places. Outside a round this costs two binary searches and two
// copies; while shares are stale (dirty) the next round re-sorts anyway.
func (a *Allocator) reshare(fr *fwRole, change func()) {
	r := fr.role
	if a.dirty {
		change()
		return
	}
	i, j := -1, -1
	if fr.inSet {
		i = r.set.find(fr)
	}
	if r.inSet {
		j = a.active.find(r)
	}
	change()
	fr.share = share(fr.alloc, a.total, &a.names)
	r.share = share(r.alloc, a.total, &a.names) / r.weight
	if i >= 0 {
		r.set.fix(i)
	}
	if j >= 0 {
		a.active.fix(j)
	}
}

// take allocates to f what of r is free on ag (outside a round).
func (a *Allocator) take(f *framework, ag *agent, r resources.Resources) {
	got := r
	if !ag.free.Contains(r) {
		got = intersect(ag.free, r)
	}
	if got.IsEmpty() {
		return
	}
	a.setFree(ag, minus(ag.free, got))
	h := a.holdingFor(f, ag)
	for _, p := range a.attribute(f, got) {
		a.tmp2 = a.names.load(a.tmp2, p.res)
		a.addPart(h, p.fr, p.res, a.tmp2)
	}
}

// ensureHeld makes f hold at least r on ag: only the part of r it does not
// already hold is taken (and clamped to what is free).
func (a *Allocator) ensureHeld(f *framework, ag *agent, r resources.Resources) {
	if h := ag.holdingOf(f); h != nil {
		var have resources.Resources
		for _, p := range h.parts {
			have = have.Add(p.res)
		}
		r = minus(r, intersect(r, have))
	}
	if !r.IsEmpty() {
		a.take(f, ag, r)
	}
}

// attribute splits resources taken outside a round among f's roles: what
// is reserved for one of its roles goes to that role, the rest to its
// first role. A placeholder has no roles yet (fr nil).
func (a *Allocator) attribute(f *framework, res resources.Resources) []part {
	if len(f.roles) == 0 {
		return []part{{res: res}}
	}
	var out []part
	for _, fr := range f.roles[1:] {
		if p := res.Reserved(fr.role.name); !p.IsEmpty() {
			out = append(out, part{fr: fr, res: p})
			res = minus(res, p)
		}
	}
	if !res.IsEmpty() {
		out = append(out, part{fr: f.roles[0], res: res})
	}
	return out
}

// giveBack returns what of r h holds to the agent's free pool.
func (a *Allocator) giveBack(h *holding, r resources.Resources) {
	var back resources.Resources
	rest := r
	for i := range h.parts {
		p := &h.parts[i]
		got := rest
		if !p.res.Contains(rest) {
			got = intersect(p.res, rest)
		}
		if got.IsEmpty() {
			continue
		}
		p.res = minus(p.res, got)
		rest = minus(rest, got)
		a.unaccount(h.fw, p.fr, got)
		back = back.Add(got)
		if rest.IsEmpty() {
			break
		}
	}
	if back.IsEmpty() {
		return
	}
	h.parts = slices.DeleteFunc(h.parts, func(p part) bool { return p.res.IsEmpty() })
	ag := h.ag
	if len(h.parts) == 0 {
		a.unlink(h)
	}
	a.setFree(ag, ag.free.Add(back))
}

// --- roles ---

func (a *Allocator) roleFor(name string) *role {
	r := a.roles[name]
	if r == nil {
		w, ok := a.weights[name]
		if !ok {
			w = 1
		}
		r = &role{name: name, weight: w}
		a.roles[name] = r
	}
	return r
}

// setRoles subscribes f to names (deduplicated, "*" if none), moving what
// it holds under dropped roles (or as a placeholder) to its new roles.
func (a *Allocator) setRoles(f *framework, names []string) {
	var want []string
	for _, n := range names {
		if n == "" {
			n = "*" // the default role, whatever the spelling
		}
		if !slices.Contains(want, n) {
			want = append(want, n)
		}
	}
	if len(want) == 0 {
		want = []string{"*"}
	}
	old := f.roles
	f.roles = nil
	for _, n := range want {
		i := slices.IndexFunc(old, func(fr *fwRole) bool { return fr.role.name == n })
		if i >= 0 {
			f.roles = append(f.roles, old[i])
			continue
		}
		r := a.roleFor(n)
		r.members++
		f.roles = append(f.roles, &fwRole{fw: f, role: r})
	}
	dropped := func(fr *fwRole) bool { return fr == nil || !slices.Contains(f.roles, fr) }
	// Re-attribute holdings kept under a dropped role (or none).
	for _, h := range f.holdings {
		var moved resources.Resources
		keep := h.parts[:0]
		for _, p := range h.parts {
			if dropped(p.fr) {
				a.unaccount(f, p.fr, p.res)
				moved = moved.Add(p.res)
				continue
			}
			keep = append(keep, p)
		}
		clear(h.parts[len(keep):])
		h.parts = keep
		if moved.IsEmpty() {
			continue
		}
		for _, p := range a.attribute(f, moved) {
			a.tmp2 = a.names.load(a.tmp2, p.res)
			a.addPart(h, p.fr, p.res, a.tmp2)
		}
	}
	for _, fr := range old {
		if dropped(fr) {
			a.leave(fr)
		}
	}
	for _, fr := range f.roles {
		if !f.suppressed {
			a.activate(fr)
		}
	}
}

// leave ends a framework's membership of a role (its holdings there are
// already moved or released).
func (a *Allocator) leave(fr *fwRole) {
	a.deactivate(fr)
	r := fr.role
	r.members--
	if r.members == 0 {
		delete(a.roles, r.name)
	}
}

// activate puts fr in its role's order (and the role in the cluster's).
func (a *Allocator) activate(fr *fwRole) {
	if fr.inSet {
		return
	}
	r := fr.role
	fr.share = share(fr.alloc, a.total, &a.names)
	r.set.insert(fr)
	fr.inSet = true
	if !r.inSet {
		r.share = share(r.alloc, a.total, &a.names) / r.weight
		a.active.insert(r)
		r.inSet = true
	}
}

// deactivate takes fr out of its role's order, and the role out of the
// cluster's when no unsuppressed framework is left in it.
func (a *Allocator) deactivate(fr *fwRole) {
	if !fr.inSet {
		return
	}
	r := fr.role
	r.set.removeAt(r.set.find(fr))
	fr.inSet = false
	if len(r.set.items) == 0 && r.inSet {
		a.active.removeAt(a.active.find(r))
		r.inSet = false
	}
}

// rebuild recomputes every share and re-sorts the orders, after the
// cluster total changed.
func (a *Allocator) rebuild() {
	for _, r := range a.active.items {
		r.share = share(r.alloc, a.total, &a.names) / r.weight
		for _, fr := range r.set.items {
			fr.share = share(fr.alloc, a.total, &a.names)
		}
		r.set.sort()
	}
	a.active.sort()
	a.dirty = false
}

// RoleInfo is a role as the allocator sees it.
type RoleInfo struct {
	Name string
	// Weight is the role's weight (1 unless set).
	Weight float64
	// Frameworks counts the subscribed frameworks in the role.
	Frameworks int
	// Share is the role's dominant share of the cluster, unweighted.
	Share float64
}

// Roles lists, by name, the roles with a subscribed framework or a weight
// set.
func (a *Allocator) Roles() []RoleInfo {
	names := make(map[string]bool, len(a.roles)+len(a.weights))
	for n := range a.roles {
		names[n] = true
	}
	for n := range a.weights {
		names[n] = true
	}
	out := make([]RoleInfo, 0, len(names))
	for _, n := range slices.Sorted(maps.Keys(names)) {
		info := RoleInfo{Name: n, Weight: 1}
		if w, ok := a.weights[n]; ok {
			info.Weight = w
		}
		if r := a.roles[n]; r != nil {
			info.Frameworks = r.members
			info.Share = share(r.alloc, a.total, &a.names)
		}
		out = append(out, info)
	}
	return out
}

// Weights returns the weights set, by role.
func (a *Allocator) Weights() map[string]float64 { return maps.Clone(a.weights) }
