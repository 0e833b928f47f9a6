package batchapi

import (
	"time"

	"github.com/pandodc/pando/sdk"
)

// JobSpec is a batch job submission (POST /api/v1/batch/jobs). A job runs
// either a WASM module (Module) or a container (Container), never both.
type JobSpec struct {
	Name string `json:"name,omitempty"`
	// Module is the content address of the WASM module, "sha256:<hex>".
	Module string `json:"module,omitempty"`
	// Container runs an OCI image instead of a module.
	Container *ContainerSpec `json:"container,omitempty"`
	// Args are the module's arguments, or what replaces the image's Cmd.
	Args      []string          `json:"args,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Instances int               `json:"instances"`
	// Resources per instance in text form ("cpus:0.1;mem:64MiB"); empty
	// means the batch framework's default.
	Resources string `json:"resources,omitempty"`
	// TimeoutMS kills an instance that runs longer (milliseconds, as
	// everywhere in the protocol); 0 means none.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// Retries is how many times a failed instance is relaunched.
	Retries int `json:"retries,omitempty"`
	// KillGraceMS is how long a kill waits after SIGTERM before SIGKILL;
	// 0 means the agent's default.
	KillGraceMS int64 `json:"kill_grace_ms,omitempty"`
	// Inputs are artifacts every instance sees read-only at their Path
	// (under /input/), fetched once per agent.
	Inputs []Input `json:"inputs,omitempty"`
	// Each runs one instance per entry: instance i sees Each[i] read-only
	// at EachPath, and its Name in $PANDO_INPUT_NAME. With Each, Instances
	// is len(Each) (0 is taken to mean so). Path is ignored.
	Each []Input `json:"each,omitempty"`
}

// Input is an artifact an instance reads.
type Input struct {
	// Digest is its content address, "sha256:<hex>" (as uploaded).
	Digest string `json:"digest"`
	// Path is where instances see it, under /input/ ("/input/data.csv").
	Path string `json:"path,omitempty"`
	// Archive: the artifact is a tar archive shown as a directory tree.
	Archive bool `json:"archive,omitempty"`
	// Name is what the user called it (the file's name), for people.
	Name string `json:"name,omitempty"`
}

// EachPath is where an instance of a job with Each inputs sees its own.
const EachPath = "/input/item"

// Variables set in instances of jobs with Each inputs.
const (
	// EnvInputName holds the name of the instance's Each input.
	EnvInputName = "PANDO_INPUT_NAME"
	// EnvInputPath holds EachPath.
	EnvInputPath = "PANDO_INPUT"
)

// ContainerSpec is the container of a container job.
type ContainerSpec struct {
	// Image is the content address of the image tarball, "sha256:<hex>"
	// (GET /api/v1/images lists them).
	Image string `json:"image"`
	// ImageName picks the image in the tarball ("busybox:latest").
	ImageName string `json:"image_name,omitempty"`
	// Command replaces the image's Entrypoint; empty keeps it.
	Command []string `json:"command,omitempty"`
	// WorkingDir replaces the image's working directory; empty keeps it.
	WorkingDir string `json:"working_dir,omitempty"`
}

// JobStatus is a batch job's progress (GET /api/v1/batch/jobs/{id}).
type JobStatus struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Module    string   `json:"module,omitempty"`
	Image     string   `json:"image,omitempty"`
	ImageName string   `json:"image_name,omitempty"`
	Args      []string `json:"args,omitempty"`
	Resources string   `json:"resources"`
	Instances int      `json:"instances"`
	Retries   int      `json:"retries"`
	TimeoutMS int64    `json:"timeout_ms,omitempty"`

	Pending  int `json:"pending"`
	Staging  int `json:"staging"`
	Running  int `json:"running"`
	Finished int `json:"finished"`
	Failed   int `json:"failed"`
	Killed   int `json:"killed"`
	// Retried counts relaunches after FAILED/ERROR; LostRetried after LOST.
	Retried     int `json:"retried"`
	LostRetried int `json:"lost_retried"`

	State       string     `json:"state"`
	SubmittedAt time.Time  `json:"submitted_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	DurationS   float64    `json:"duration_s"`
	// Why says why instances are pending, when the framework knows.
	Why string `json:"why,omitempty"`
	// Declined counts, per reason, the offers that could not take one of
	// the job's instances (too small in which resource, which constraint).
	Declined *sdk.Why     `json:"declined,omitempty"`
	Failures []JobFailure `json:"failures,omitempty"`
}

// Done reports whether every instance has reached an end.
func (j JobStatus) Done() bool {
	switch j.State {
	case "finished", "failed", "killed":
		return true
	}
	return false
}

// JobFailure describes one failed attempt of an instance (FAILED, ERROR,
// LOST or an unasked-for KILLED); the instance may have been retried since.
type JobFailure struct {
	Instance int    `json:"instance"`
	TaskID   string `json:"task_id"`
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	ExitCode int    `json:"exit_code"`
	// Input names the instance's Each input, for jobs that have them.
	Input string `json:"input,omitempty"`
}

// TaskStatusView is one instance's current attempt
// (GET /api/v1/batch/jobs/{id}/tasks lists them in instance order).
type TaskStatusView struct {
	Instance int    `json:"instance"`
	Attempt  int    `json:"attempt"`
	TaskID   string `json:"task_id"`
	// FrameworkID names the batch framework's sandboxes on the agents
	// (<agent>/api/v1/sandbox/{framework}/{task}/...).
	FrameworkID string    `json:"framework_id,omitempty"`
	State       string    `json:"state"`
	AgentID     string    `json:"agent_id,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Message     string    `json:"message,omitempty"`
	ExitCode    int32     `json:"exit_code"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// Ended reports whether the attempt has reached an end (finished, failed
// or killed); a failed one may be retried as a new attempt.
func (t TaskStatusView) Ended() bool {
	switch t.State {
	case "finished", "failed", "killed":
		return true
	}
	return false
}

// Started reports whether the attempt was launched on an agent (a
// pending instance, or one killed before it started, has no task there).
func (t TaskStatusView) Started() bool {
	return t.AgentID != "" && t.State != "pending"
}
