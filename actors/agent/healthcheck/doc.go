// Package healthcheck is how an agent checks the health of its tasks, next
// to them, as Mesos agents do (the scheduler does not make every check
// itself): an HTTP GET, a TCP connect or a command, on a schedule set by the
// task's kernelpb.HealthCheck.
//
// The schedule is a pure core with time as a parameter (Schedule: when the
// next check runs, what a result changes, when the task is to be killed);
// Probe makes one check; the agent's actor shell runs them in a goroutine
// per task and turns their outcomes into status updates.
//
// The rules, as in Mesos:
//   - the first check runs delay_ms after the task is RUNNING, then one
//     every interval_ms (default 10s); a check that takes longer than
//     timeout_ms (default 20s) failed;
//   - failures during grace_period_ms after the task started count for
//     nothing and are not reported, until the task has been healthy once;
//   - every change of health is an Outcome to report, the first result too;
//   - max_consecutive_failures failures in a row (counted after the grace
//     period) kill the task; 0 never kills.
package healthcheck
