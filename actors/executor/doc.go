// Package executor runs an agent's WASM tasks in a `pando executor`
// process of their own, so that they outlive a restart of the agent, as
// Mesos executors and containerd shims let tasks outlive theirs.
//
// Two halves speak the protobuf protocol of executorpb over actor
// remoting on 127.0.0.1:
//
//   - Serve is the executor process: an actor ("executor") that runs tasks
//     on a runtime.Runtime (wazero), pushes each task's exit to the
//     attached agent and keeps it until the agent forgets it;
//   - Client is the agent's side: a runtime.Runtime whose tasks run in
//     that process. It starts the process (in a session of its own, so
//     that a SIGKILL of the agent leaves it running), records it in a
//     file, attaches again to the one recorded after a restart and hands
//     back its tasks (Recovered), and watches it: when the process dies,
//     every task it ran ends with ErrCrashed, and the next launch starts
//     a new process.
//
// Tests: client_test.go drives a real executor process (the test binary
// itself, re-executed) through launches, kills, a detach and re-attach
// while tasks end, and a SIGKILL of the process.
package executor
