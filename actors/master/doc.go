// Package master is the master's actor shell. One actor owns the pure
// kernel/master state machine: it feeds it the messages agents and framework
// drivers send (locally or over protoactor remoting), the ticks of a timer,
// and allocation rounds (on a timer and, batched, after events), then sends
// what the state machine says to send. Its HTTP API reads the state through
// the actor, so there is one writer and no locks.
package master
