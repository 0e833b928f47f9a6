package client

import (
	"time"

	"github.com/pandodc/pando/internal/httpjson"
)

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
	// Free is what the allocator has left to offer on the agent (Used
	// counts what tasks and outstanding offers hold); "" while inactive.
	// Resources are in the text form resources.Parse reads.
	Free string `json:"free"`
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
	// NotOffered counts, by the allocator's reason, the allocation rounds
	// in which the framework got nothing; TooSmall counts, by resource
	// name, its tasks refused at Accept because the offers were short of
	// that resource. Together they answer "why is my task not launching?".
	NotOffered map[string]uint64 `json:"not_offered,omitempty"`
	TooSmall   map[string]uint64 `json:"too_small,omitempty"`
}

// Role is one entry of GET /api/v1/roles: a role with a subscribed
// framework or a weight set.
type Role struct {
	Name string `json:"name"`
	// Weight is the role's weight in DRF (1 unless set): a role of weight
	// 2 is entitled to twice the share of a role of weight 1.
	Weight float64 `json:"weight"`
	// Frameworks counts the subscribed frameworks in the role.
	Frameworks int `json:"frameworks"`
	// Share is the role's dominant share of the cluster, in [0, 1].
	Share float64 `json:"share"`
}

// Weight is one role's weight, in GET and PUT /api/v1/weights (Mesos's
// shape: [{"role": "eng", "weight": 2}]).
type Weight struct {
	Role   string  `json:"role"`
	Weight float64 `json:"weight"`
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
	// Usage is what the task used, once it ended (its terminal update).
	Usage *TaskUsage `json:"usage,omitempty"`
	// Healthy is what the task's health check last said; absent when it
	// has none or was not checked yet.
	Healthy *bool `json:"healthy,omitempty"`
}

// Artifact is the answer to an upload.
type Artifact struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// ArtifactLease is POST /api/v1/artifacts/leases: Holder (a framework's
// name for what needs them, e.g. "batch/<framework>/<job>") keeps Digests
// from being collected for TTLSeconds; posting again renews or replaces
// the lease, DELETE /api/v1/artifacts/leases?holder=H ends it.
type ArtifactLease struct {
	Holder     string   `json:"holder"`
	Digests    []string `json:"digests"`
	TTLSeconds int64    `json:"ttl_s"`
}

// ErrorBody is what every API error answers with.
type ErrorBody = httpjson.ErrorBody

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

// SandboxEntry is one entry of a sandbox directory, as an agent lists it
// (GET <agent>/api/v1/sandbox/{framework}/{task}/files/out/...).
type SandboxEntry struct {
	Name string `json:"name"`
	// Type is "file", "dir", or "other" (a symbolic link, a FIFO...: not
	// served).
	Type string `json:"type"`
	Size int64  `json:"size,omitempty"`
}
