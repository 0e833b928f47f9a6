// Package election elects the leading master through Consul and fences
// the ones that no longer lead.
//
// Masters contend for one lock, the KV key <prefix>/leader (prefix "pando"
// by default), acquired with a Consul session. The session is tied to the
// node's serfHealth and to an HTTP health check of the master itself, has
// a TTL (10s), and a short lock-delay (1s). The winner leads and publishes
// its addresses in the key; the others stand by, watch the key with
// blocking queries, and contend again when it is released or its session
// ends.
//
// # Epoch
//
// A leader's epoch is the ModifyIndex of the lock key read (consistently)
// right after the acquire, while the lock is still held: at least the
// acquire's Raft index, and below the index of any later acquisition,
// which can only happen after this session ended. Raft indexes only grow,
// so epochs strictly increase across leaders even if somebody deletes the
// key in between. The key's LockIndex is not used: it counts acquisitions
// of that key only, and starts again from 1 when the key is recreated.
// The epoch rides on every master message (kernel.proto); agents drop
// messages from older epochs, and the registry refuses a deposed leader's
// writes.
//
// # Stepping down
//
// A leader that cannot renew its session steps down on its own before
// Consul could give the lock to anybody else: Consul keeps a session at
// least a TTL after the last renew it received, and the leader stops after
// StepDownAfter (TTL/2) counted from when it sent its last successful
// renew. Every request it makes is bounded by that deadline. It steps down
// at once when Consul says the session or the lock is gone (its health
// check failed, the session was destroyed). The decision is Lease's, a
// pure core fed with times; the Elector is the shell that talks to Consul.
//
// The lock-delay only adds a margin: with fencing, a deposed leader that
// has not noticed yet cannot do harm (its registry writes fail, agents
// ignore its older epoch), so a short one (1s) is enough and keeps
// failover fast.
//
// # What Pando keeps in Consul
//
//   - KV <prefix>/leader: the lock; its value is the leader's JSON
//     LeaderInfo {id, http_url, remoting_addr, epoch, since}.
//   - KV <prefix>/registry/...: the master's registry (package registry).
//   - Sessions named pando-master-<id>: behaviour "release", TTL 10s,
//     lock-delay 1s, checks serfHealth and pando-master-<id>:health.
//   - Service pando-master, instance id pando-master-<id>, address and port
//     of the master's HTTP API, meta id, http_url, remoting_addr; the
//     leader's instance has the tag "leader".
//   - Check pando-master-<id>:health ("Pando master <id> health"): HTTP GET
//     of the master's /api/v1/health every 1s (timeout 2s); a master whose
//     check stays critical for 1m is deregistered.
//
// Find the leader with FindLeader (the lock key, authoritative) or list
// the masters with ListMasters (the catalog). Point Pando at a Consul agent
// with NewClient(addr) (--consul) or CONSUL_HTTP_ADDR; the ACL token comes
// from CONSUL_HTTP_TOKEN, and TLS settings from the other CONSUL_*
// variables, as api.DefaultConfig reads them.
package election
