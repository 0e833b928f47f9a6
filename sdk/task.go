package sdk

import (
	"fmt"
	"maps"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// TaskBuilder builds TaskInfos of one shape; start one with WasmTask or
// ContainerTask, set what differs from the defaults, and call On for each
// offer the task goes to:
//
//	tb := sdk.WasmTask(module, "arg").Resources(need).Timeout(time.Minute)
//	d.Accept([]string{o.GetId()}, []*sdk.TaskInfo{tb.On(o, "hello-1")}, nil)
//
// A builder is a value to copy freely: every method returns a new one.
type TaskBuilder struct {
	t *kernelpb.TaskInfo
}

// WasmTask starts a task that runs the WebAssembly module with content
// address module ("sha256:<hex>", as an upload returns) and args.
func WasmTask(module string, args ...string) TaskBuilder {
	return TaskBuilder{t: &kernelpb.TaskInfo{
		Runtime: &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: module, Args: args}},
	}}
}

// Image is an OCI image a container task runs: the content address of the
// image tarball uploaded to the master, and which image of the tarball.
type Image struct {
	// Digest is the tarball's content address, "sha256:<hex>".
	Digest string
	// Name picks the image in the tarball ("busybox:latest"); empty when
	// the tarball holds one image.
	Name string
}

// ContainerTask starts a task that runs image. Without Command and Args
// it runs the image's own entrypoint and command.
func ContainerTask(image Image) TaskBuilder {
	return TaskBuilder{t: &kernelpb.TaskInfo{
		Runtime: &kernelpb.TaskInfo_Container{Container: &kernelpb.ContainerTask{Image: image.Digest, ImageName: image.Name}},
	}}
}

func (b TaskBuilder) with(f func(t *kernelpb.TaskInfo)) TaskBuilder {
	t := kernelpb.CloneTaskInfo(b.t)
	f(t)
	return TaskBuilder{t: t}
}

// Resources sets what each task gets.
func (b TaskBuilder) Resources(r Resources) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) { t.Resources = r.ToProto() })
}

// Name sets the task's name (default: its id).
func (b TaskBuilder) Name(name string) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) { t.Name = name })
}

// Env adds environment variables.
func (b TaskBuilder) Env(env map[string]string) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) {
		if t.Env == nil {
			t.Env = map[string]string{}
		}
		maps.Copy(t.Env, env)
	})
}

// Labels adds labels (shown by the API, e.g. which job a task belongs to).
func (b TaskBuilder) Labels(labels map[string]string) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) {
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		maps.Copy(t.Labels, labels)
	})
}

// Timeout kills a task that runs longer; 0 means none.
func (b TaskBuilder) Timeout(d time.Duration) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) { t.TimeoutMs = d.Milliseconds() })
}

// KillGrace is how long a kill waits after SIGTERM before SIGKILL; 0 means
// the agent's default.
func (b TaskBuilder) KillGrace(d time.Duration) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) { t.KillGracePeriodMs = d.Milliseconds() })
}

// Inputs adds artifacts the task reads: each agent fetches and verifies
// one once, and the task sees it read-only at its path under /input/.
func (b TaskBuilder) Inputs(inputs ...*kernelpb.Input) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) { t.Inputs = append(t.Inputs, inputs...) })
}

// Command replaces a container image's entrypoint (container tasks only).
func (b TaskBuilder) Command(cmd ...string) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) {
		if c := t.GetContainer(); c != nil {
			c.Command = cmd
		}
	})
}

// Args replaces a container image's command, or a WASM module's args.
func (b TaskBuilder) Args(args ...string) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) {
		if c := t.GetContainer(); c != nil {
			c.Args = args
		} else if w := t.GetWasm(); w != nil {
			w.Args = args
		}
	})
}

// WorkingDir sets a container's working directory (container tasks only).
func (b TaskBuilder) WorkingDir(dir string) TaskBuilder {
	return b.with(func(t *kernelpb.TaskInfo) {
		if c := t.GetContainer(); c != nil {
			c.WorkingDir = dir
		}
	})
}

// Shape is the tasks' shape for Fit: their resources, and the given
// constraints plus, for a container task, "the agent has a container
// runtime".
func (b TaskBuilder) Shape(group string, cs ...Constraint) Shape {
	need, _ := resources.FromProto(b.t.GetResources())
	if b.t.GetContainer() != nil {
		cs = append(cs, HasRuntime("container"))
	}
	return Shape{Resources: need, Constraints: cs, Group: group}
}

// Check reports what is wrong with the shape, before any task is built.
func (b TaskBuilder) Check() error {
	if b.t == nil {
		return fmt.Errorf("sdk: task builder not started: use sdk.WasmTask or sdk.ContainerTask")
	}
	if w := b.t.GetWasm(); w != nil {
		if err := CheckDigest(w.GetModule()); err != nil {
			return fmt.Errorf("module: %w", err)
		}
	}
	if c := b.t.GetContainer(); c != nil {
		if err := CheckDigest(c.GetImage()); err != nil {
			return fmt.Errorf("image: %w", err)
		}
	}
	if b.t.GetTimeoutMs() < 0 || b.t.GetKillGracePeriodMs() < 0 {
		return fmt.Errorf("sdk: timeout and kill grace must not be negative")
	}
	return nil
}

// On returns a new task with id for the agent of offer o.
func (b TaskBuilder) On(o *Offer, id string) *TaskInfo {
	t := kernelpb.CloneTaskInfo(b.t)
	t.TaskId = id
	if t.Name == "" {
		t.Name = id
	}
	t.AgentId = o.GetAgentId()
	return t
}

// CheckDigest reports whether d is a content address as Pando writes them,
// "sha256:" and 64 lowercase hex digits (kernelpb.ParseDigest, the one
// check the master and agents make too).
func CheckDigest(d string) error {
	if _, err := kernelpb.ParseDigest(d); err != nil {
		return fmt.Errorf("%w (upload the artifact first)", err)
	}
	return nil
}
