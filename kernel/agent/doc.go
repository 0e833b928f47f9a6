// Package agent is the Pando agent as a pure state machine: it registers
// with the master (and re-registers, with its tasks, after a master
// failover), accepts RunTask and KillTask, answers pings, and runs the
// status update manager: every task's updates queue in order, only the
// oldest is outstanding, and it is resent with exponential backoff until
// the framework's acknowledgement comes back through the master.
//
// It is pure and deterministic, like kernel/master: no goroutines, no
// clock, no I/O. The shell feeds it Start, Step (messages from the master),
// TaskEvent (what the task runtime reports), MasterChanged and Tick, and
// drains with Ready the messages for the master and the tasks to launch or
// kill. Messages from a master older than the newest one seen (by epoch)
// are dropped: that is the fencing a deposed master cannot get around.
//
// Tests: scenario files in testdata/*.txt in the master's trace format
// (scenario_test.go, with -rewrite), and a fuzz test of Step that checks
// the agent's promises after every input (fuzz_test.go).
package agent
