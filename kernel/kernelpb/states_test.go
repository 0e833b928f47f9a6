package kernelpb

import "testing"

// Every state must have a place in Rank: a lifecycle rank, or 0 for the
// two that are not lifecycle steps. A state added to kernel.proto without
// one fails here.
func TestEveryStateHasARank(t *testing.T) {
	for n := range TaskState_name {
		s := TaskState(n)
		offLifecycle := s == TaskState_TASK_UNKNOWN || s == TaskState_TASK_UNREACHABLE
		if (Rank(s) == 0) != offLifecycle {
			t.Errorf("%v has rank %d", s, Rank(s))
		}
	}
	if IsTerminal(TaskState_TASK_UNREACHABLE) {
		t.Error("UNREACHABLE is terminal, but an unreachable task may come back")
	}
	if !IsTerminal(TaskState_TASK_LOST) {
		t.Error("LOST is not terminal")
	}
}
