package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/pandodc/pando/internal/atomicfile"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/kernel/kernelpb"
)

// Checkpoint keeps in the agent's work dir what it needs after a restart,
// as a Mesos agent does: its id, and the tasks whose runtime lets them
// outlive the agent (containers), each as the RunTask that launched it.
// A task's file is written when it launches; when it ends, its end is
// written beside it (<task>.end), and both are removed once the master
// has acknowledged that end, so that an end is never lost to a restart.
// (WASM tasks in an executor process need none of it: the executor
// keeps them, and their ends, itself.)
// Each file is written whole (internal/atomicfile): a crash leaves the old
// file or the new one, never half of one.
type Checkpoint struct {
	dir string
}

// OpenCheckpoint opens (making it if needed) the checkpoint in dir.
func OpenCheckpoint(dir string) (*Checkpoint, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tasks"), 0o755); err != nil {
		return nil, fmt.Errorf("agent checkpoint: %w", err)
	}
	return &Checkpoint{dir: dir}, nil
}

// AgentID is the id the agent had before its restart; "" on a first start.
func (c *Checkpoint) AgentID() (string, error) {
	data, err := os.ReadFile(filepath.Join(c.dir, "agent-id"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("agent checkpoint: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// SaveAgentID records the id the master gave.
func (c *Checkpoint) SaveAgentID(id string) error {
	return c.write(filepath.Join(c.dir, "agent-id"), []byte(id+"\n"))
}

// SaveTask records a task as launched for a framework.
func (c *Checkpoint) SaveTask(frameworkID, frameworkName string, info *kernelpb.TaskInfo) error {
	ref := kagent.TaskRef{FrameworkID: frameworkID, TaskID: info.GetTaskId()}
	path, err := c.taskPath(ref)
	if err != nil {
		return err
	}
	data, err := proto.Marshal(&kernelpb.RunTask{FrameworkId: frameworkID, FrameworkName: frameworkName, Task: info})
	if err != nil {
		return fmt.Errorf("agent checkpoint: %w", err)
	}
	return c.write(path, data)
}

// SaveEnd records how a task ended, until its end is acknowledged.
func (c *Checkpoint) SaveEnd(ref kagent.TaskRef, end *kernelpb.TaskStatus) error {
	path, err := c.taskPath(ref)
	if err != nil {
		return err
	}
	data, err := proto.Marshal(end)
	if err != nil {
		return fmt.Errorf("agent checkpoint: %w", err)
	}
	return c.write(endPath(path), data)
}

// End is how a task ended, if SaveEnd recorded it; nil if it had not.
func (c *Checkpoint) End(ref kagent.TaskRef) (*kernelpb.TaskStatus, error) {
	path, err := c.taskPath(ref)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(endPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent checkpoint: %w", err)
	}
	var end kernelpb.TaskStatus
	if err := proto.Unmarshal(data, &end); err != nil || !kernelpb.IsTerminal(end.GetState()) {
		return nil, fmt.Errorf("agent checkpoint: %s is corrupt (%v); remove it to take the task back as running", endPath(path), err)
	}
	return &end, nil
}

// RemoveTask forgets a task whose end was acknowledged.
func (c *Checkpoint) RemoveTask(ref kagent.TaskRef) error {
	path, err := c.taskPath(ref)
	if err != nil {
		return err
	}
	for _, p := range []string{endPath(path), path} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("agent checkpoint: %w", err)
		}
	}
	return nil
}

func endPath(taskPath string) string { return strings.TrimSuffix(taskPath, ".pb") + ".end" }

// checkpointEnd keeps a checkpointed task's end until the master has
// acknowledged it: a restart in between reports it again, as it was.
func (a *Actor) checkpointEnd(ref kagent.TaskRef, end *kernelpb.TaskStatus) {
	if err := a.cfg.Checkpoint.SaveEnd(ref, end); err != nil {
		a.cfg.Logger.Warn("agent: cannot keep a task's end; a restart before its acknowledgement would lose it", "task", ref.TaskID, "error", err)
	}
}

// forgetCheckpoint removes a task's checkpoint once its end is acknowledged.
func (a *Actor) forgetCheckpoint(ref kagent.TaskRef) {
	if _, ok := a.checkpointed[ref]; !ok {
		return
	}
	delete(a.checkpointed, ref)
	if err := a.cfg.Checkpoint.RemoveTask(ref); err != nil {
		a.cfg.Logger.Warn("agent: forgetting an ended task's checkpoint", "task", ref.TaskID, "error", err)
	}
}

// Tasks lists the tasks recorded as launched and not ended. A file that
// cannot be read is an error naming it: the agent must not silently forget
// a task that may still run.
func (c *Checkpoint) Tasks() ([]kagent.Recovered, error) {
	paths, err := filepath.Glob(filepath.Join(c.dir, "tasks", "*", "*.pb"))
	if err != nil {
		return nil, fmt.Errorf("agent checkpoint: %w", err)
	}
	out := make([]kagent.Recovered, 0, len(paths))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("agent checkpoint: %w", err)
		}
		var msg kernelpb.RunTask
		if err := proto.Unmarshal(data, &msg); err != nil || msg.GetTask().GetTaskId() == "" {
			return nil, fmt.Errorf("agent checkpoint: %s is corrupt (%v); move it away to start without that task", path, err)
		}
		out = append(out, kagent.Recovered{FrameworkID: msg.FrameworkId, FrameworkName: msg.FrameworkName, Task: msg.Task})
	}
	return out, nil
}

func (c *Checkpoint) taskPath(ref kagent.TaskRef) (string, error) {
	dir, err := sandboxDir(filepath.Join(c.dir, "tasks"), ref) // the same id checks as a sandbox's
	if err != nil {
		return "", err
	}
	return dir + ".pb", nil
}

func (c *Checkpoint) write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("agent checkpoint: %w", err)
	}
	if err := atomicfile.Write(path, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("agent checkpoint: %w", err)
	}
	return nil
}
