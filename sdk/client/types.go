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

// ErrorBody is what every API error answers with.
type ErrorBody struct {
	Error string `json:"error"`
}

// Image is one entry of GET /api/v1/images: an image in a tarball the
// master holds.
type Image struct {
	// Name is the image's reference, "busybox:latest".
	Name string `json:"name"`
	// Digest is the content address of the tarball, "sha256:<hex>".
	Digest       string `json:"digest"`
	Size         int64  `json:"size"`
	Architecture string `json:"architecture,omitempty"`
}
