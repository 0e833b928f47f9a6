// Package node boots the actor side of one Pando process: an actor system
// with Pando's logging, and, when the process must be reachable from
// others, protoactor's gRPC remoting on a given address.
package node
