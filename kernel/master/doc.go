// Package master is the Pando master as a pure state machine: it registers
// agents and frameworks, turns the allocator's decisions into offers,
// validates accepts and launches tasks, tracks every task's state, forwards
// status updates and their acknowledgements, pings agents, and times out
// offers, agents and disconnected frameworks (Mesos semantics), as well as
// frameworks known only from tasks adopted after a master failover.
//
// It is pure and deterministic, in the style of etcd's raft: no goroutines,
// no clock, no I/O, no randomness. A shell (an actor) feeds it inputs with
// Step (messages from agents and frameworks, and peer disconnections), Tick
// (the passage of time) and Allocate (an allocation round), then drains the
// messages to send and the events to record with Ready. Identifiers come
// from counters and every output is produced in a sorted, reproducible
// order, so the same inputs always give the same outputs.
//
// A malformed or rogue input never panics: it is refused, with an Error
// message back to a framework, and returned as an error for logging.
package master
