package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/pandodc/pando/runtime"
)

var _ runtime.Execer = (*Runtime)(nil)

// maxExecOutput is how much of an exec's output is kept: enough to say why
// a health check failed.
const maxExecOutput = 4096

// Exec runs argv inside a running task's container (its namespaces, cgroup,
// user and environment, as its own process has them) and waits for it, or
// for ctx, which kills it. It returns the exit code and the output (stdout
// and stderr together, the first 4KiB).
func (r *Runtime) Exec(ctx context.Context, ref runtime.TaskRef, argv []string) (int, string, error) {
	taskID := ref.TaskID
	if len(argv) == 0 {
		return 0, "", fmt.Errorf("exec in task %s: no command", taskID)
	}
	r.mu.Lock()
	t := r.tasks[ref]
	r.mu.Unlock()
	if t == nil {
		return 0, "", fmt.Errorf("exec in task %s: no such running container task", taskID)
	}
	ctx = r.nsContext(ctx)
	spec, err := t.container.Spec(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("exec in task %s: reading its container's spec: %w", taskID, err)
	}
	pspec := *spec.Process
	pspec.Args = argv
	pspec.Terminal = false

	var id [8]byte
	_, _ = rand.Read(id[:])
	execID := "exec-" + hex.EncodeToString(id[:])
	out := &limitedBuffer{limit: maxExecOutput}
	proc, err := t.task.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return 0, "", fmt.Errorf("exec %q in task %s: %w", argv, taskID, err)
	}
	// Deleted whatever happens, with a context of its own (ctx may be
	// done), bounded: a check must never hang on containerd.
	defer func() {
		dctx, cancel := context.WithTimeout(r.nsContext(context.Background()), 10*time.Second)
		defer cancel()
		_, _ = proc.Delete(dctx)
	}()
	statusC, err := proc.Wait(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("exec %q in task %s: %w", argv, taskID, err)
	}
	if err := proc.Start(ctx); err != nil {
		return 0, "", fmt.Errorf("exec %q in task %s: starting it: %w", argv, taskID, err)
	}
	select {
	case st := <-statusC:
		code, _, err := st.Result()
		if err != nil {
			return 0, "", fmt.Errorf("exec %q in task %s: %w", argv, taskID, err)
		}
		// The output, whole, once the shim closes the pipes; a process the
		// command left behind may hold them open: then what came by ctx's end.
		copied := make(chan struct{})
		go func() { proc.IO().Wait(); close(copied) }()
		select {
		case <-copied:
		case <-ctx.Done():
			proc.IO().Cancel()
		}
		return int(code), out.String(), nil
	case <-ctx.Done():
		_ = proc.Kill(r.nsContext(context.Background()), 9)
		select { // killed: wait for it, briefly, so that Delete can remove it
		case <-statusC:
		case <-time.After(5 * time.Second):
		}
		return 0, "", fmt.Errorf("exec %q in task %s: %w", argv, taskID, ctx.Err())
	}
}

// limitedBuffer keeps the first limit bytes written to it and drops the
// rest; safe for the two writers (stdout, stderr) of an exec.
type limitedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
