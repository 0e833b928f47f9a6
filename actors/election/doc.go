// Package election elects the leading master through Consul and fences
// the ones that no longer lead.
//
// Masters contend for one lock, the KV key <prefix>/leader (prefix "pando"
// by default), acquired with a Consul session. The session is tied to the
// node's serfHealth and to an HTTP health check of the master itself, has a
// TTL, and a short lock-delay. The winner leads; the others stand by,
// watch the key with blocking queries, and contend again when it is
// released or its session ends.
//
// The epoch of a leader is the Raft index (ModifyIndex) of the lock key
// read right after the acquire, while the lock is held. Raft indexes only
// grow, so every later acquisition has a larger one, even if somebody
// deletes the key in between (the key's LockIndex would then start again
// from 1, which is why it is not used). The epoch rides on every master
// message (kernel.proto) and agents drop messages from older epochs.
//
// A leader that cannot renew its session steps down on its own, before
// Consul could give the lock to anybody else: the decision is made by
// Lease, a pure core fed with times, and the Elector is the thin shell
// that talks to Consul. FindLeader lets agents, framework drivers and the
// CLI find the current leader's addresses.
package election
