// Package agent is the agent's actor shell. The agent actor owns the pure
// kernel/agent state machine: it registers with the master, hands each
// RunTask to its framework's executor actor (a supervised child, spawned
// with the framework's first task here; a crashed executor's tasks are
// reported failed, not lost), forwards the executors' reports as status
// updates that it retries until acknowledged, and serves task sandboxes
// (stdout, stderr) over HTTP, removing old ones.
package agent
