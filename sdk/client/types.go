package client

import "time"

// MasterInfo is GET /api/v1/master: who the master is and how to reach its
// actor (framework drivers subscribe there).
type MasterInfo struct {
	Version      string    `json:"version"`
	Epoch        uint64    `json:"epoch"`
	ActorAddress string    `json:"actor_address"`
	ActorID      string    `json:"actor_id"`
	StartedAt    time.Time `json:"started_at"`
}

// Agent is one entry of GET /api/v1/agents.
type Agent struct {
	ID           string            `json:"id"`
	Hostname     string            `json:"hostname"`
	HTTPAddress  string            `json:"http_address,omitempty"`
	Active       bool              `json:"active"`
	Total        string            `json:"total"`
	Used         string            `json:"used"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	Tasks        int               `json:"tasks"`
	RegisteredAt time.Time         `json:"registered_at"`
}

// Framework is one entry of GET /api/v1/frameworks.
type Framework struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Roles     []string `json:"roles"`
	Connected bool     `json:"connected"`
	// Share is the framework's dominant share of the cluster, in [0, 1].
	Share float64 `json:"share"`
	// Why says why the framework got no offer in the last allocation round.
	Why    string `json:"why,omitempty"`
	Offers int    `json:"offers"`
	Tasks  int    `json:"tasks"`
	// Adopted: known only from the tasks agents reported after a master
	// failover; the framework has not subscribed since. At RemoveAt the
	// master gives up on it and kills those tasks.
	Adopted  bool       `json:"adopted,omitempty"`
	RemoveAt *time.Time `json:"remove_at,omitempty"`
}

// Task is one entry of GET /api/v1/tasks.
type Task struct {
	ID          string    `json:"id"`
	Name        string    `json:"name,omitempty"`
	FrameworkID string    `json:"framework_id"`
	AgentID     string    `json:"agent_id"`
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	Message     string    `json:"message,omitempty"`
	ExitCode    int       `json:"exit_code"`
	Resources   string    `json:"resources"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Artifact is the answer to an upload.
type Artifact struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// JobSpec is a batch job submission (POST /api/v1/batch/jobs).
type JobSpec struct {
	Name string `json:"name,omitempty"`
	// Module is the content address of the WASM module, "sha256:<hex>".
	Module    string            `json:"module"`
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
}

// ErrorBody is what every API error answers with.
type ErrorBody struct {
	Error string `json:"error"`
}

// JobStatus is a batch job's progress (GET /api/v1/batch/jobs/{id}); the
// batch framework serves this very type.
type JobStatus struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Module    string   `json:"module"`
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
	Why      string       `json:"why,omitempty"`
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
}

// Image is one entry of GET /api/v1/images: an image of an OCI image
// tarball imported with `pando image import`. Container tasks name the
// tarball by Digest and the image in it by Name.
type Image struct {
	Name string `json:"name"`
	// Digest is the content address of the tarball holding the image.
	Digest         string    `json:"digest"`
	ManifestDigest string    `json:"manifest_digest"`
	Platforms      []string  `json:"platforms"`
	Size           int64     `json:"size"`
	ImportedAt     time.Time `json:"imported_at"`
}

// TaskUsage is one entry of an agent's GET /api/v1/usage: what a running
// task uses now (memory) and has used since it started (the rest).
type TaskUsage struct {
	TaskID        string   `json:"task_id"`
	FrameworkID   string   `json:"framework_id"`
	AgentID       string   `json:"agent_id,omitempty"`
	CPUSeconds    float64  `json:"cpu_seconds"`
	MemBytes      uint64   `json:"mem_bytes"`
	MemPeakBytes  uint64   `json:"mem_peak_bytes"`
	MemLimitBytes uint64   `json:"mem_limit_bytes"`
	NetRxBytes    uint64   `json:"net_rx_bytes"`
	NetTxBytes    uint64   `json:"net_tx_bytes"`
	NetRxPackets  uint64   `json:"net_rx_packets"`
	NetTxPackets  uint64   `json:"net_tx_packets"`
	IOReadBytes   uint64   `json:"io_read_bytes"`
	IOWriteBytes  uint64   `json:"io_write_bytes"`
	StdoutBytes   uint64   `json:"stdout_bytes"`
	StderrBytes   uint64   `json:"stderr_bytes"`
	Unavailable   []string `json:"unavailable,omitempty"`
}
