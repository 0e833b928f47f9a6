package kernelpb

// Rank orders task states along the task lifecycle (STAGING 1, STARTING 2,
// RUNNING 3, KILLING 4, every terminal state 5; 0 for anything else), so
// that a late or duplicated update never moves a task backwards.
//
// TASK_UNREACHABLE ranks 0: it is not a step of the task's lifecycle but
// the master's loss of sight of it, and the task may come back in any
// state when its agent does. No agent reports it (the master refuses an
// agent's UNREACHABLE as it refuses UNKNOWN), and a task in it holds no
// resources in the master's books, since its agent is out of the allocator.
func Rank(s TaskState) int {
	switch s {
	case TaskState_TASK_STAGING:
		return 1
	case TaskState_TASK_STARTING:
		return 2
	case TaskState_TASK_RUNNING:
		return 3
	case TaskState_TASK_KILLING:
		return 4
	case TaskState_TASK_FINISHED, TaskState_TASK_FAILED, TaskState_TASK_KILLED,
		TaskState_TASK_LOST, TaskState_TASK_ERROR:
		return 5
	}
	return 0
}

// IsTerminal reports whether a task in state s has ended for good.
// TASK_UNREACHABLE is not terminal: the task may come back.
func IsTerminal(s TaskState) bool { return Rank(s) == 5 }
