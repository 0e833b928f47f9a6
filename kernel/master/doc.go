// Package master is the Pando master as a pure state machine: it registers
// agents and frameworks, turns the allocator's decisions into offers,
// validates accepts and launches tasks, tracks every task's state, forwards
// status updates and their acknowledgements, pings agents (one that misses
// its pings is unreachable, its tasks TASK_UNREACHABLE to partition-aware
// frameworks, until it comes back or times out), and times out offers,
// unreachable agents and disconnected frameworks (Mesos semantics), as well
// as frameworks known only from tasks adopted after a master failover.
//
// It is pure and deterministic, in the style of etcd's raft: no goroutines,
// no clock, no I/O, no randomness. A shell (an actor) feeds it inputs with
// Step (messages from agents and frameworks, and the shell's own inputs:
// Disconnected when a peer's connection ends, OperatorKill for an
// operator's kill, KnownAgents for the registry's agents when an elected
// master starts; RegistryAgents is what the shell writes back), Tick (the passage of time) and Allocate (an allocation
// round), then drains the messages to send and the events to record with
// Ready. Every change goes through these; queries read the master through
// its read-only Views (ReadOnly), which cannot step it. Identifiers come
// from counters and every output is produced in a sorted, reproducible
// order, so the same inputs always give the same outputs.
//
// A malformed or rogue input never panics: it is refused, with an Error
// message back to a framework, and returned as an error for logging.
//
// Tests: scenario files in testdata/*.txt (scenario_test.go; `go test -run
// TestScenarios -rewrite` records them afresh), a seeded random simulation
// with faults and master failovers checking invariants after every step
// (property_test.go), and a fuzz test checking the same invariants.
package master
