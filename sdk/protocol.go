package sdk

import (
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// The protocol and resource types a framework touches, so that a framework
// imports sdk alone. They are aliases: values pass to and from kernelpb
// and resources unchanged.
type (
	TaskInfo      = kernelpb.TaskInfo
	TaskStatus    = kernelpb.TaskStatus
	TaskState     = kernelpb.TaskState
	Reason        = kernelpb.Reason
	Offer         = kernelpb.Offer
	Filters       = kernelpb.Filters
	FrameworkInfo = kernelpb.FrameworkInfo
	ReconcileTask = kernelpb.ReconcileTask
	Resources     = resources.Resources
)

// Task states.
const (
	TaskUnknown  = kernelpb.TaskState_TASK_UNKNOWN
	TaskStaging  = kernelpb.TaskState_TASK_STAGING
	TaskStarting = kernelpb.TaskState_TASK_STARTING
	TaskRunning  = kernelpb.TaskState_TASK_RUNNING
	TaskKilling  = kernelpb.TaskState_TASK_KILLING
	TaskFinished = kernelpb.TaskState_TASK_FINISHED
	TaskFailed   = kernelpb.TaskState_TASK_FAILED
	TaskKilled   = kernelpb.TaskState_TASK_KILLED
	TaskLost     = kernelpb.TaskState_TASK_LOST
	TaskError    = kernelpb.TaskState_TASK_ERROR
	// TaskUnreachable: the task's agent stopped answering; it may come
	// back (RUNNING again) or be LOST. Only frameworks that set
	// FrameworkInfo.PartitionAware get it; others get TaskLost.
	TaskUnreachable = kernelpb.TaskState_TASK_UNREACHABLE
)

// DroppedLaunchReason is the reason of the TASK_LOST the driver reports
// for a task it never handed to the master (see IsDroppedLaunch).
const DroppedLaunchReason = kernelpb.Reason_REASON_INVALID_OFFERS

// IsTerminal reports whether a task in state s has ended for good
// (FINISHED, FAILED, KILLED, LOST, ERROR). TASK_UNKNOWN is not terminal:
// it is the answer for a task the master has no record of, which a
// framework treats as lost as lost.
func IsTerminal(s TaskState) bool { return kernelpb.IsTerminal(s) }

// IsDroppedLaunch reports whether st is the TASK_LOST of a launch that
// never happened: the driver could not send its Accept (the offer was
// rescinded or used, or the driver was disconnected), or the master
// refused the Accept's offers. The task did not run; relaunch it on
// another offer and do not count it as a failure.
func IsDroppedLaunch(st *TaskStatus) bool {
	return st.GetState() == TaskLost && st.GetReason() == DroppedLaunchReason
}

// ParseResources parses resources in text form ("cpus:0.5;mem:128MiB").
func ParseResources(s string) (Resources, error) { return resources.Parse(s) }

// MustParseResources is ParseResources for constants; it panics on bad
// input.
func MustParseResources(s string) Resources { return resources.MustParse(s) }

// OfferResources returns an offer's resources.
func OfferResources(o *Offer) (Resources, error) { return resources.FromProto(o.GetResources()) }
