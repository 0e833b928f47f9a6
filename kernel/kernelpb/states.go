package kernelpb

// IsTerminal reports whether a task in state s has ended for good.
func IsTerminal(s TaskState) bool {
	switch s {
	case TaskState_TASK_FINISHED, TaskState_TASK_FAILED, TaskState_TASK_KILLED,
		TaskState_TASK_LOST, TaskState_TASK_ERROR:
		return true
	}
	return false
}
