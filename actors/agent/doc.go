// Package agent is the agent's actor shell. The agent actor owns the pure
// kernel/agent state machine: it registers with the master, turns RunTask
// into an executor actor per task (a supervised child, so a crashed
// executor is reported as a failed task, not lost), forwards the executors'
// reports as status updates that it retries until acknowledged, and serves
// task sandboxes (stdout, stderr) over HTTP.
package agent
