package master

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// validRole follows Mesos' rules for role names: not empty, not "." or
// "..", no leading '-', no whitespace, control characters or backslash;
// "*" is the default role. Slashes make hierarchical roles ("eng/batch")
// but no path segment may be empty, "." or "..".
func validRole(r string) error {
	if r == "*" {
		return nil
	}
	if r == "" || len(r) > 128 {
		return fmt.Errorf("role name %q must be 1 to 128 characters", r)
	}
	for _, seg := range strings.Split(r, "/") {
		if seg == "" || seg == "." || seg == ".." || seg == "*" || strings.HasPrefix(seg, "-") {
			return fmt.Errorf("invalid role name %q", r)
		}
	}
	for _, c := range r {
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == '\\' || !unicode.IsPrint(c) {
			return fmt.Errorf("role name %q has an invalid character", r)
		}
	}
	return nil
}

func validateFrameworkInfo(info *kernelpb.FrameworkInfo) ([]string, error) {
	if info == nil {
		return nil, fmt.Errorf("Subscribe without framework info")
	}
	if strings.TrimSpace(info.Name) == "" {
		return nil, fmt.Errorf("framework name is required")
	}
	if info.FailoverTimeoutMs < 0 {
		return nil, fmt.Errorf("failover timeout must not be negative")
	}
	roles := slices.Clone(info.Roles)
	if len(roles) == 0 {
		roles = []string{"*"}
	}
	seen := map[string]bool{}
	for _, r := range roles {
		if err := validRole(r); err != nil {
			return nil, err
		}
		if seen[r] {
			return nil, fmt.Errorf("role %q listed twice", r)
		}
		seen[r] = true
	}
	return roles, nil
}

// subscribe registers a new framework, or fails an existing one over to a
// new connection (same id: its tasks are kept).
func (m *Master) subscribe(now time.Time, from Peer, msg *kernelpb.Subscribe) error {
	roles, err := validateFrameworkInfo(msg.Framework)
	if err != nil {
		return m.refuse(from, "%v", err)
	}
	info := proto.Clone(msg.Framework).(*kernelpb.FrameworkInfo)
	id := info.Id
	if bound, ok := m.frameworkByPeer[from]; ok {
		if id == "" {
			id = bound // a retry after a lost Subscribed
		} else if id != bound {
			return m.refuse(from, "this connection is already subscribed as framework %s", bound)
		}
	}
	if id != "" && m.removed.Has(id) {
		return m.refuse(from, "framework %s was removed and cannot subscribe again", id)
	}

	fw := m.frameworks[id]
	switch {
	case fw == nil:
		if id == "" {
			m.nextFramework++
			id = fmt.Sprintf("%d-F%d", m.cfg.Epoch, m.nextFramework)
		}
		// A given but unknown id is a framework failing over to a new
		// master: it keeps its id and the tasks agents report for it.
		fw = &frameworkState{id: id, registeredAt: now, offers: map[string]struct{}{}}
		m.frameworks[id] = fw
		delete(m.unknownSince, id) // its adopted tasks are its own again
		delete(m.knownFailover, id)
		m.counters.FrameworksAdded++
		m.emit(Event{Kind: EventFrameworkAdded, At: now, FrameworkID: id, Message: info.Name})
	case fw.connected && fw.peer == from:
		// Subscribing twice on one connection: answer again, change nothing.
		m.send(from, m.subscribed(id))
		return nil
	default:
		if fw.connected {
			// Failover to a new connection while the old one lives: the
			// old scheduler is told and its offers are taken back.
			m.send(fw.peer, &kernelpb.Error{Epoch: m.cfg.Epoch, Message: fmt.Sprintf("framework %s failed over to another connection", id)})
			delete(m.frameworkByPeer, fw.peer)
			m.recoverFrameworkOffers(now, fw)
		}
		m.emit(Event{Kind: EventFrameworkReconnected, At: now, FrameworkID: id})
	}
	info.Id = id
	fw.info = info
	fw.roles = roles
	fw.peer = from
	fw.connected = true
	fw.disconnectedAt = time.Time{}
	fw.failoverTimeout = time.Duration(info.FailoverTimeoutMs) * time.Millisecond
	if info.FailoverTimeoutMs == 0 {
		fw.failoverTimeout = m.cfg.DefaultFailoverTimeout
	}
	if m.cfg.HeartbeatInterval > 0 {
		fw.nextHeartbeat = now.Add(m.cfg.HeartbeatInterval)
	}
	m.frameworkByPeer[from] = id
	// AddFramework on a known framework updates its roles and starts it
	// afresh (not suppressed, no filters), as a new scheduler instance
	// made neither; used covers tasks adopted before it came back.
	m.alloc.AddFramework(id, roles, m.usedBy(id))
	m.send(from, m.subscribed(id))
	return nil
}

func (m *Master) subscribed(id string) *kernelpb.Subscribed {
	hb := int64(0)
	if m.cfg.HeartbeatInterval > 0 {
		hb = m.cfg.HeartbeatInterval.Milliseconds()
	}
	return &kernelpb.Subscribed{Epoch: m.cfg.Epoch, FrameworkId: id, HeartbeatIntervalMs: hb}
}

// usedBy sums, by agent, what a framework's active tasks hold on active
// agents.
func (m *Master) usedBy(fwID string) map[string]resources.Resources {
	used := map[string]resources.Resources{}
	for _, key := range sortedTaskKeys(m.tasksByFramework[fwID]) {
		t := m.tasks[key]
		if !t.holds() {
			continue
		}
		if a := m.agents[t.agentID]; a != nil && a.active {
			used[t.agentID] = used[t.agentID].Add(t.resources)
		}
	}
	if len(used) == 0 {
		return nil
	}
	return used
}

// frameworkFor checks that a message naming framework id comes from that
// framework's connection. Every framework call goes through it, so that a
// connection can never act for another framework.
func (m *Master) frameworkFor(from Peer, id string) (*frameworkState, error) {
	bound, ok := m.frameworkByPeer[from]
	if !ok {
		return nil, m.refuse(from, "this connection has not subscribed: send Subscribe first")
	}
	if id != bound {
		return nil, m.refuse(from, "framework id %q does not belong to this connection", id)
	}
	return m.frameworks[bound], nil
}

func (m *Master) frameworkDisconnected(now time.Time, from Peer) {
	id := m.frameworkByPeer[from]
	fw := m.frameworks[id]
	delete(m.frameworkByPeer, from)
	fw.connected = false
	fw.disconnectedAt = now
	m.recoverFrameworkOffers(now, fw)
	// Nothing is offered to a framework nobody listens for; re-subscribing
	// (AddFramework) lifts this.
	m.alloc.Suppress(id)
	m.emit(Event{Kind: EventFrameworkDisconnected, At: now, FrameworkID: id})
}

// recoverFrameworkOffers takes back every outstanding offer of fw without
// telling it (it is gone or being replaced).
func (m *Master) recoverFrameworkOffers(now time.Time, fw *frameworkState) {
	for _, id := range sortedOfferIDs(m.offers, fw.offers) {
		m.rescindOffer(now, m.offers[id], true, false)
	}
}

func (m *Master) expireFrameworks(now time.Time) {
	for _, id := range sortedKeys(m.frameworks) {
		fw := m.frameworks[id]
		if fw.connected || now.Before(fw.disconnectedAt.Add(fw.failoverTimeout)) {
			continue
		}
		m.removeFramework(now, fw, fmt.Sprintf("the framework did not fail over within %v", fw.failoverTimeout))
	}
}

// expireUnknownFrameworks removes the frameworks known only from adopted
// tasks once UnknownFrameworkTimeout has passed since the first adoption.
func (m *Master) expireUnknownFrameworks(now time.Time) {
	for _, id := range sortedKeys(m.knownFailover) {
		// A framework of the registry with no task adopted for it is
		// forgotten once its failover timeout has passed.
		if _, adopted := m.unknownSince[id]; !adopted && !now.Before(m.knownSince.Add(m.adoptedTimeout(id))) {
			delete(m.knownFailover, id)
		}
	}
	for _, id := range sortedKeys(m.unknownSince) {
		if m.frameworks[id] != nil || len(m.tasksByFramework[id]) == 0 {
			delete(m.unknownSince, id) // it subscribed, or nothing is left
			continue
		}
		timeout := m.adoptedTimeout(id)
		if now.Before(m.unknownSince[id].Add(timeout)) {
			continue
		}
		delete(m.unknownSince, id)
		delete(m.knownFailover, id)
		m.forgetFramework(now, id, fmt.Sprintf("the framework did not subscribe within %v of the adoption of its tasks", timeout))
	}
}

func (m *Master) heartbeatFrameworks(now time.Time) {
	if m.cfg.HeartbeatInterval <= 0 {
		return
	}
	for _, id := range sortedKeys(m.frameworks) {
		fw := m.frameworks[id]
		if !fw.connected || now.Before(fw.nextHeartbeat) {
			continue
		}
		fw.nextHeartbeat = now.Add(m.cfg.HeartbeatInterval)
		m.counters.FrameworkHeartbeats++
		m.send(fw.peer, &kernelpb.Heartbeat{Epoch: m.cfg.Epoch})
	}
}

func (m *Master) teardown(now time.Time, from Peer, msg *kernelpb.Teardown) error {
	fw, err := m.frameworkFor(from, msg.FrameworkId)
	if err != nil {
		return err
	}
	m.removeFramework(now, fw, "the framework was torn down")
	return nil
}

// removeFramework forgets a framework: its offers go back to the pool, its
// agents are told to shut its tasks down, and its tasks are KILLED in the
// master at once (Mesos does the same), freeing their resources.
func (m *Master) removeFramework(now time.Time, fw *frameworkState, why string) {
	for _, id := range sortedOfferIDs(m.offers, fw.offers) {
		// RemoveFramework (in forgetFramework) releases the resources.
		m.rescindOffer(now, m.offers[id], false, false)
	}
	delete(m.frameworks, fw.id)
	if fw.connected && m.frameworkByPeer[fw.peer] == fw.id {
		delete(m.frameworkByPeer, fw.peer)
	}
	m.forgetFramework(now, fw.id, why)
}

// forgetFramework shuts a framework's tasks down on their agents, settles
// them KILLED, releases what the framework held in the allocator and
// remembers its id as removed. The framework, if the master had a record
// of it, is already gone from m.frameworks.
func (m *Master) forgetFramework(now time.Time, fwID, why string) {
	keys := sortedTaskKeys(m.tasksByFramework[fwID])
	var agentIDs []string
	for _, key := range keys {
		if t := m.tasks[key]; !slices.Contains(agentIDs, t.agentID) {
			agentIDs = append(agentIDs, t.agentID)
		}
	}
	slices.Sort(agentIDs)
	for _, aid := range agentIDs {
		if a := m.agents[aid]; a != nil {
			m.send(a.peer, &kernelpb.ShutdownFramework{Epoch: m.cfg.Epoch, FrameworkId: fwID})
		}
	}
	// RemoveFramework releases everything the framework held, first, so
	// that settling its tasks below gives nothing back twice.
	m.alloc.RemoveFramework(fwID)
	for _, key := range keys {
		t := m.tasks[key]
		if !kernelpb.IsTerminal(t.state) {
			m.setState(now, t, kernelpb.TaskState_TASK_KILLED, kernelpb.Reason_REASON_FRAMEWORK_REMOVED, why)
		}
		m.completeTask(t)
	}
	m.removed.Add(fwID)
	m.counters.FrameworksRemoved++
	m.emit(Event{Kind: EventFrameworkRemoved, At: now, FrameworkID: fwID, Message: why})
}

// refuseFilter turns a Filters message into a decline filter: 0, negative
// or not a number means the default; huge values are capped.
func (m *Master) refuseFilter(f *kernelpb.Filters) time.Duration {
	s := f.GetRefuseSeconds()
	if !(s > 0) || math.IsInf(s, 0) {
		return m.cfg.DefaultRefuse
	}
	if s >= maxFilter.Seconds() {
		return maxFilter
	}
	return time.Duration(s * float64(time.Second))
}

func (m *Master) decline(now time.Time, from Peer, msg *kernelpb.Decline) error {
	fw, err := m.frameworkFor(from, msg.FrameworkId)
	if err != nil {
		return err
	}
	filter := m.refuseFilter(msg.Filters)
	var foreign []string
	declined := 0
	seen := map[string]bool{}
	for _, id := range msg.OfferIds {
		if seen[id] {
			continue
		}
		seen[id] = true
		o := m.offers[id]
		if o == nil {
			continue // rescinded or used meanwhile: a benign race
		}
		if o.frameworkID != fw.id {
			foreign = append(foreign, id)
			continue
		}
		m.dropOffer(o)
		m.alloc.Recover(now, fw.id, o.agentID, o.resources, filter)
		declined++
	}
	if declined > 0 {
		fw.declined += uint64(declined)
		m.counters.OffersDeclined += uint64(declined)
		m.emit(Event{Kind: EventOffersDeclined, At: now, FrameworkID: fw.id, Count: declined})
	}
	if len(foreign) > 0 {
		return m.refuse(from, "offers %s do not belong to framework %s", strings.Join(foreign, ", "), fw.id)
	}
	return nil
}

func (m *Master) revive(from Peer, msg *kernelpb.Revive) error {
	fw, err := m.frameworkFor(from, msg.FrameworkId)
	if err != nil {
		return err
	}
	// The allocator suppresses and revives whole frameworks: roles in the
	// message are accepted and ignored.
	m.alloc.Revive(fw.id)
	return nil
}

func (m *Master) suppress(from Peer, msg *kernelpb.Suppress) error {
	fw, err := m.frameworkFor(from, msg.FrameworkId)
	if err != nil {
		return err
	}
	m.alloc.Suppress(fw.id)
	return nil
}

// --- offers ---

func sortedOfferIDs(all map[string]*offerState, ids map[string]struct{}) []string {
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	// Offer ids are made from a counter: order by it, not by the string.
	slices.SortFunc(out, func(a, b string) int {
		return cmpSeq(all[a].seq, all[b].seq)
	})
	return out
}

// dropOffer removes an offer from the books, nothing more.
func (m *Master) dropOffer(o *offerState) {
	delete(m.offers, o.id)
	if fw := m.frameworks[o.frameworkID]; fw != nil {
		delete(fw.offers, o.id)
	}
	if a := m.agents[o.agentID]; a != nil {
		delete(a.offers, o.id)
	}
}

// rescindOffer withdraws an offer: recoverToAlloc gives its resources back
// to the allocator, notify sends Rescind to the framework if connected.
func (m *Master) rescindOffer(now time.Time, o *offerState, recoverToAlloc, notify bool) {
	m.dropOffer(o)
	if recoverToAlloc {
		m.alloc.Recover(now, o.frameworkID, o.agentID, o.resources, 0)
	}
	fw := m.frameworks[o.frameworkID]
	if fw != nil {
		fw.rescinded++
		if notify && fw.connected {
			m.send(fw.peer, &kernelpb.Rescind{Epoch: m.cfg.Epoch, OfferId: o.id})
		}
	}
	m.counters.OffersRescinded++
	m.emit(Event{Kind: EventOffersRescinded, At: now, FrameworkID: o.frameworkID, AgentID: o.agentID, Count: 1})
}

func (m *Master) expireOffers(now time.Time) {
	if m.cfg.OfferTimeout <= 0 || len(m.offers) == 0 {
		return
	}
	var expired []*offerState
	for _, o := range m.offers {
		if !now.Before(o.created.Add(m.cfg.OfferTimeout)) {
			expired = append(expired, o)
		}
	}
	slices.SortFunc(expired, func(a, b *offerState) int { return cmpSeq(a.seq, b.seq) })
	for _, o := range expired {
		m.rescindOffer(now, o, true, true)
	}
}
