package batch

import (
	"slices"
	"testing"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
)

func unreachable(taskID string) *kernelpb.TaskStatus {
	return &kernelpb.TaskStatus{TaskId: taskID, State: kernelpb.TaskState_TASK_UNREACHABLE, AgentId: "a1",
		Reason: kernelpb.Reason_REASON_AGENT_UNREACHABLE}
}

// runningJob submits a job of n instances and runs them all on a1.
func runningJob(t *testing.T, n int) (*Framework, *fakeDriver) {
	t.Helper()
	f, d := newFW(t, newMemStore(), nil)
	submit(t, f, JobSpec{Instances: n})
	f.onOffers(d, []*kernelpb.Offer{offer("o1", "a1", "cpus:4;mem:4GiB")})
	for _, id := range d.lastAccept(t) {
		f.onUpdate(d, status(id, kernelpb.TaskState_TASK_RUNNING))
	}
	if j := mustJob(t, f, "job-1"); j.Running != n {
		t.Fatalf("job %+v, want %d running", j, n)
	}
	return f, d
}

func TestBatchSubscribesPartitionAware(t *testing.T) {
	f, _ := newFW(t, newMemStore(), nil)
	if f.cfg.UnreachableTimeout != DefaultUnreachableTimeout {
		t.Fatalf("UnreachableTimeout defaults to %v", f.cfg.UnreachableTimeout)
	}
	if !f.frameworkInfo().GetPartitionAware() {
		t.Fatal("the batch framework does not subscribe partition-aware")
	}
}

func TestUnreachableInstanceThatComesBackKeepsRunning(t *testing.T) {
	f, d := runningJob(t, 2)
	f.onUpdate(d, unreachable("job-1.0.0"))
	if j := mustJob(t, f, "job-1"); j.Running != 2 || j.Pending != 0 || j.LostRetried != 0 {
		t.Fatalf("after UNREACHABLE: %+v, want it still counted running and nothing relaunched", j)
	}
	f.expireUnreachable(time.Now().Add(DefaultUnreachableTimeout / 2))
	// Meanwhile the framework asks the master about it again.
	if last := d.reconciles[len(d.reconciles)-1]; len(last) != 1 || last[0].GetTaskId() != "job-1.0.0" || last[0].GetAgentId() != "a1" {
		t.Fatalf("last reconciliation %v, want the unreachable job-1.0.0 on a1", last)
	}
	// The agent re-registers: the master says the task is back.
	f.onUpdate(d, status("job-1.0.0", kernelpb.TaskState_TASK_RUNNING))
	f.expireUnreachable(time.Now().Add(2 * DefaultUnreachableTimeout))
	j := mustJob(t, f, "job-1")
	if j.Running != 2 || j.Pending != 0 || j.LostRetried != 0 || len(d.kills) != 0 {
		t.Fatalf("after the agent came back: %+v, kills %v; want both running, none relaunched or killed", j, d.kills)
	}
}

func TestUnreachableTooLongRelaunchesOnceAndKillsTheOld(t *testing.T) {
	f, d := runningJob(t, 2)
	f.onUpdate(d, unreachable("job-1.1.0"))
	f.expireUnreachable(time.Now().Add(DefaultUnreachableTimeout + time.Second))
	if !slices.Equal(d.kills, []string{"job-1.1.0"}) {
		t.Fatalf("kills %v, want the unreachable job-1.1.0", d.kills)
	}
	j := mustJob(t, f, "job-1")
	if j.Running != 1 || j.Pending != 1 || j.LostRetried != 1 {
		t.Fatalf("after the timeout: %+v, want 1 running, 1 pending (relaunch), 1 lost relaunch", j)
	}
	if d.revive == 0 {
		t.Fatal("no revive for the relaunch")
	}
	f.onOffers(d, []*kernelpb.Offer{offer("o2", "a2", "cpus:1;mem:1GiB")})
	if got := d.lastAccept(t); !slices.Equal(got, []string{"job-1.1.1"}) {
		t.Fatalf("relaunched %v, want job-1.1.1", got)
	}
	f.onUpdate(d, &kernelpb.TaskStatus{TaskId: "job-1.1.1", State: kernelpb.TaskState_TASK_RUNNING, AgentId: "a2"})
	// The old agent comes back with the old task: it is killed, and the
	// instance still counts once.
	f.onUpdate(d, status("job-1.1.0", kernelpb.TaskState_TASK_RUNNING))
	if !slices.Equal(d.kills, []string{"job-1.1.0", "job-1.1.0"}) {
		t.Fatalf("kills %v, want the returning job-1.1.0 killed again", d.kills)
	}
	// Its LOST, when the master removes the agent, changes nothing.
	f.onUpdate(d, &kernelpb.TaskStatus{TaskId: "job-1.1.0", State: kernelpb.TaskState_TASK_LOST, AgentId: "a1", Reason: kernelpb.Reason_REASON_AGENT_REMOVED})
	if j := mustJob(t, f, "job-1"); j.Running != 2 || j.Pending != 0 || j.LostRetried != 1 {
		t.Fatalf("at the end: %+v, want 2 running, one lost relaunch", j)
	}
}

func TestUnreachableThenLostRelaunchesAtOnce(t *testing.T) {
	f, d := runningJob(t, 1)
	f.onUpdate(d, unreachable("job-1.0.0"))
	f.onUpdate(d, &kernelpb.TaskStatus{TaskId: "job-1.0.0", State: kernelpb.TaskState_TASK_LOST, AgentId: "a1", Reason: kernelpb.Reason_REASON_AGENT_REMOVED})
	if j := mustJob(t, f, "job-1"); j.Pending != 1 || j.LostRetried != 1 {
		t.Fatalf("after LOST: %+v, want a relaunch pending", j)
	}
	// No second relaunch when the unreachable wait would have ended.
	f.expireUnreachable(time.Now().Add(2 * DefaultUnreachableTimeout))
	if j := mustJob(t, f, "job-1"); j.Pending != 1 || j.LostRetried != 1 || len(d.kills) != 0 {
		t.Fatalf("after the timeout: %+v, kills %v; want the one relaunch only", j, d.kills)
	}
}
