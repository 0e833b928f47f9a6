// Package registry is the master's small, fenced key-value registry:
// admitted and unreachable agents, framework ids and infos, roles and
// weights, as opaque bytes under "/"-separated keys.
//
// Every write is fenced: it lands only while the writer still leads. Two
// implementations satisfy Registry and pass one shared test suite:
//
//   - Consul, for highly available masters: each write is a KV
//     transaction that first checks that the leader key is still held by
//     this master's session (KVCheckSession), so a deposed leader's write
//     fails with ErrFenced even if it does not know yet that it was
//     deposed.
//   - Embedded, when no Consul is configured: a bbolt file (sdk/store's
//     Bolt) that keeps the newest epoch; opening it takes a newer epoch,
//     and a write from a handle of an older epoch fails with ErrFenced.
//
// Each entry has a Version that changes on every write, so that
// read-modify-write steps can check-and-set with PutIf and DeleteIf.
//
// What the master keeps there:
//
//   - agents/<id>: every agent the leader admitted, marked unreachable or
//     removed (JSON). An AgentWriter writes what changed of the master's
//     RegistryAgents every second, in transactions of MaxOps, never on a
//     task's path; a new leader reads them back with LoadAgents and awaits
//     them (kernel/master KnownAgents).
//   - frameworks/<name>/...: the built-in frameworks' own state (their
//     framework id and jobs), through AsStore.
package registry
