package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/pandodc/pando/runtime"
)

// Launch creates the task's container and starts it. The returned Task (a
// *Task) is running.
func (r *Runtime) Launch(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	t, err := r.launch(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("launching container task %s: %w", spec.TaskID, err)
	}
	return t, nil
}

func (r *Runtime) launch(ctx context.Context, spec runtime.Spec) (*Task, error) {
	if spec.TaskID == "" {
		return nil, errors.New("the task has no id")
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errClosed
	}
	r.launching.Add(1)
	r.mu.Unlock()
	defer r.launching.Done()
	if err := prepareSandbox(spec.Sandbox); err != nil {
		return nil, err
	}
	set, err := r.prepare(ctx, spec.Digest, spec.Artifact)
	if err != nil {
		return nil, err
	}
	launched := false // from then on the task holds the images, until it ends
	defer func() {
		if !launched {
			r.release(set)
		}
	}()
	prepared, err := set.pick(spec.Image)
	if err != nil {
		return nil, err
	}
	img, imgCfg := prepared.image, prepared.config
	args := processArgs(imgCfg.Config.Entrypoint, imgCfg.Config.Cmd, spec.Command, spec.Args)
	if len(args) == 0 {
		return nil, fmt.Errorf("the image %s has no entrypoint or cmd, and the task gives no command", spec.Image)
	}

	agentID := r.cfg.AgentID
	if agentID == "" {
		agentID = spec.AgentID
	}
	id := ContainerID(agentID, spec.Ref())
	cgroup := CgroupParent + "/" + id
	grace := r.killGrace(spec)
	started := time.Now()
	labels := map[string]string{
		LabelTaskID:      spec.TaskID,
		LabelFrameworkID: spec.FrameworkID,
		LabelAgentID:     agentID,
		labelSandbox:     spec.Sandbox,
		labelKillGraceMS: msLabel(grace),
		labelTimeoutMS:   msLabel(spec.Timeout),
		labelStartedAt:   strconv.FormatInt(started.UnixMilli(), 10),
	}
	specOpts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
		oci.WithEnv(envList(spec)),
		oci.WithHostNamespace(specs.NetworkNamespace),
		oci.WithHostHostsFile,
		oci.WithHostResolvconf,
		oci.WithMounts(append([]specs.Mount{{
			Destination: SandboxMount, Type: "bind", Source: spec.Sandbox,
			Options: []string{"rbind", "rw"},
		}}, inputMounts(spec.Inputs)...)),
		oci.WithCgroup(cgroup),
	}
	if spec.WorkingDir != "" {
		specOpts = append(specOpts, oci.WithProcessCwd(spec.WorkingDir))
	}
	if spec.MemoryBytes > 0 {
		specOpts = append(specOpts, oci.WithMemoryLimit(spec.MemoryBytes))
	}
	if spec.CPUMilli > 0 {
		shares, quota, period := cpuLimits(spec.CPUMilli)
		specOpts = append(specOpts, oci.WithCPUShares(shares), oci.WithCPUCFS(quota, period))
	}

	cctx := r.nsContext(ctx)
	ctr, err := r.client.NewContainer(cctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(r.cfg.Snapshotter),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(specOpts...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return nil, fmt.Errorf("creating its container: %w", err)
	}
	// From here on, a failure removes what was made.
	cleanup := func() {
		dctx, cancel := context.WithTimeout(r.root, 30*time.Second)
		defer cancel()
		dctx = context.WithoutCancel(dctx)
		if task, err := ctr.Task(dctx, nil); err == nil {
			if _, err := task.Delete(dctx, containerd.WithProcessKill); ignoreNotFound(err) != nil {
				r.log.Warn("removing the task of a failed launch", "task", spec.TaskID, "err", err)
			}
		}
		if err := ctr.Delete(dctx, containerd.WithSnapshotCleanup); ignoreNotFound(err) != nil {
			r.log.Warn("removing the container of a failed launch", "task", spec.TaskID, "err", err)
		}
	}
	task, err := ctr.NewTask(cctx, logsTo(spec.Sandbox))
	if err != nil {
		cleanup()
		if isNotFoundExec(err) {
			return nil, fmt.Errorf("its command %q is not in the image (or not executable there): %w", args[0], err)
		}
		return nil, fmt.Errorf("creating its process: %w", err)
	}
	// Wait before Start, so that no exit can be missed; the wait lives as
	// long as the runtime, not the launch.
	statusC, err := task.Wait(r.root)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("waiting on its process: %w", err)
	}
	if r.cfg.BeforeStart != nil {
		info := StartInfo{TaskID: spec.TaskID, ContainerID: id, PID: task.Pid(), CgroupPath: cgroup, Labels: labels}
		if err := r.cfg.BeforeStart(ctx, info); err != nil {
			cleanup()
			return nil, fmt.Errorf("before starting it: %w", err)
		}
	}
	t := newTask(r, spec.Ref(), ctr, task, cgroup, labels, spec.MemoryBytes, grace, spec.Timeout, started)
	t.images = set
	if err := t.isolate(ctx); err != nil {
		cleanup()
		return nil, fmt.Errorf("before starting it: %w", err)
	}
	if !r.track(t) {
		t.unisolate()
		cleanup()
		return nil, errClosed
	}
	if err := task.Start(cctx); err != nil {
		r.untrack(t)
		r.watchers.Done()
		t.unisolate()
		cleanup()
		return nil, fmt.Errorf("starting its process: %w", err)
	}
	launched = true
	go t.watch(statusC)
	return t, nil
}

// processArgs follows Kubernetes: a command replaces the entrypoint and the
// image's cmd; args replace the cmd.
func processArgs(entrypoint, cmd, command, args []string) []string {
	if len(command) > 0 {
		return append(append([]string(nil), command...), args...)
	}
	if len(args) > 0 {
		cmd = args
	}
	return append(append([]string(nil), entrypoint...), cmd...)
}

// envList is the task's environment, in a stable order; PANDO_TASK_ID is
// set unless the spec sets it. The image's variables (PATH) stay unless
// replaced.
func envList(spec runtime.Spec) []string {
	env := make([]string, 0, len(spec.Env)+1)
	if _, ok := spec.Env["PANDO_TASK_ID"]; !ok {
		env = append(env, "PANDO_TASK_ID="+spec.TaskID)
	}
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+spec.Env[k])
	}
	return env
}

// cpuLimits turns thousandths of a core into cgroup v1 shares (1024 a core)
// and a CFS quota per 100ms period.
func cpuLimits(milli int64) (shares uint64, quota int64, period uint64) {
	period = 100_000
	quota = milli * int64(period) / 1000
	quota = max(quota, 1000) // the kernel's floor is 1ms
	shares = uint64(max(milli*1024/1000, 2))
	return shares, quota, period
}

// idPattern is what containerd accepts as an identifier.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)

// ContainerID is the container (and cgroup) name of a task on an agent:
// the task id (its first 60 bytes) when containerd accepts it, else
// "pando", then a hash of agent, framework and task. Task ids are unique
// only within a framework, and neither containerd namespaces nor daemons
// keep apart what they share on a host: runc's state directory
// (/run/containerd/runc/<namespace>) and the cgroup /pando/<id>. Two
// frameworks' "web-1", or two agents' on one host, get two containers.
func ContainerID(agentID string, ref runtime.TaskRef) string {
	sum := sha256.Sum256([]byte(agentID + "\x00" + ref.FrameworkID + "\x00" + ref.TaskID))
	suffix := hex.EncodeToString(sum[:6])
	name := ref.TaskID
	if len(name) > 60 {
		name = strings.TrimRight(name[:60], "._-")
	}
	if !idPattern.MatchString(name) {
		name = "pando"
	}
	return name + "-" + suffix
}

// inputMounts shows the task's inputs read-only, in order: runc mounts
// them one after the other, so an archive's tree lands inside /input.
func inputMounts(inputs []runtime.Mount) []specs.Mount {
	out := make([]specs.Mount, 0, len(inputs))
	for _, in := range inputs {
		out = append(out, specs.Mount{Destination: in.Target, Type: "bind", Source: in.Source, Options: []string{"rbind", "ro"}})
	}
	return out
}

// prepareSandbox makes the task's sandbox (the runtime bind-mounts it, so it
// must exist) and removes a previous run's logs.
func prepareSandbox(dir string) error {
	if dir == "" {
		return errors.New("the task has no sandbox directory")
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("its sandbox %s is not an absolute path", dir)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating the sandbox %s: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("checking the sandbox: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("its sandbox %s is not a directory", dir)
	}
	for _, name := range []string{"stdout", "stderr"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the old %s from the sandbox: %w", name, err)
		}
	}
	return nil
}

// loggerScript is the shim's logger (containerd's "binary" log URI): it gets
// the task's stdout on fd 3 and stderr on fd 4, and closes fd 5 once ready.
// It ignores SIGTERM (the shim sends one when the task is deleted) so that
// both copies drain their pipe to the end before it exits.
const loggerScript = `trap '' TERM
exec 5>&-
/bin/cat <&3 >>"$d/stdout" 4<&- &
/bin/cat <&4 >>"$d/stderr" 3<&- &
exec 3<&- 4<&-
wait`

// logsTo has the shim write the task's stdout and stderr into the
// sandbox's files, appending, with /bin/sh and /bin/cat of the host.
func logsTo(sandbox string) cio.Creator {
	// The shim runs the binary with each query key and value as
	// arguments, in a map's order: one key, so the sandbox is in the script.
	return cio.BinaryIO("/bin/sh", map[string]string{"-c": "d=" + shellQuote(sandbox) + "\n" + loggerScript})
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
