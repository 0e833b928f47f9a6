// Package allocator is Pando's resource allocator: hierarchical Dominant
// Resource Fairness across roles (weighted) and across the frameworks of a
// role, with decline filters, suppress/revive and minimum allocatable
// resources. Offered means allocated, so offers never overlap. It records
// why a framework got nothing in a round, to answer "why is my task not
// launching?". Pure and deterministic: no clock (time is a parameter), no
// I/O, no goroutines.
//
// # The algorithm
//
// A role's share is its dominant share (the largest, over resource names,
// of what the role holds divided by the cluster total) divided by its
// weight. Within a role, a framework's share is the dominant share of what
// it holds under that role; Share reports what it holds under all its
// roles. Shares count scalar resources only: ranges (ports) take part in
// the minimum allocatable check but not in DRF, as in Mesos. Ties are
// broken by role name, then framework id.
//
// Round visits every agent with free resources once, from a starting index
// that moves from round to round. An agent goes whole to the lowest-share
// role that has an eligible framework, and in it to the lowest-share
// eligible framework: everything free there that the role may use
// (unreserved, plus reserved for it). One offer per agent per framework
// per round, as in Mesos; what is reserved for other roles is offered to
// them in the same visit. Shares are updated after each allocation, so the
// next agent sees them.
//
// Eligible means: subscribed and not suppressed, no decline filter running
// for this agent, and the free resources it would get contain one of the
// MinAllocatable sets (compared by quantity, whatever their role).
//
// # Accounting
//
// For every agent, free + everything held there == total, always: Allocate
// takes only what is free and Recover returns only what is held (the rest
// of a request is ignored, never turned into negative or phantom
// resources). Resources reported as used by a framework that has not
// subscribed yet (an agent re-registering after a master failover) are held
// by a placeholder that the framework adopts when it subscribes; reports of
// the same tasks by both the agent and the framework are not counted
// twice.
//
// # Speed
//
// Roles, and the frameworks of each role, are kept sorted by share in
// slices; an allocation moves one framework and one role to their new
// places (binary search and copy), from shares recomputed out of cached
// integer vectors, never by walking Resources. Suppressed frameworks are
// not in the orders; a framework that filtered an agent costs one map
// lookup when the walk passes it, so the cost of filters is bounded by
// how many there are. When the cluster total changes (agents come and go)
// every share is stale: the orders are rebuilt once, at the next round.
// See allocator_bench_test.go for the measured cost of a round.
//
// # Why
//
// The round itself only counts agents and stamps their candidacy; after it,
// each framework that got nothing is classified (suppressed, no agents, no
// free resources, below the minimum, filtered everywhere by its own
// declines, or outranked by lower shares) and Why formats that on demand.
package allocator
