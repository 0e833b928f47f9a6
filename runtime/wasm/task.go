package wasm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pandodc/pando/runtime"
)

// task is one running instance.
type task struct {
	done    chan struct{} // closed when exit is set
	exit    runtime.Exit
	cancel  context.CancelFunc // ends the task's context: Kill
	killed  atomic.Bool        // Kill was called before the task ended
	timeout time.Duration
	mem     limitedMemory
	cpu     taskCPU
	// stdout and stderr are what the guest writes to: its logs, through
	// its CPU measure (see settlingWriter).
	stdout, stderr settlingWriter
	logs           *taskLogs
	// ports get a preopened listener each (see listen); woken is set
	// when the runtime woke the guest for the end of its context (it
	// connected to those listeners, or cut a sleep short): see classify.
	ports []uint16
	woken atomic.Bool
}

var _ runtime.Task = (*task)(nil)

// run is the task's goroutine: instantiate, run _start, classify its end.
//
// It calls _start itself rather than letting InstantiateModule do it, so
// that a failure to instantiate (CauseLaunchFailed) is told apart from a
// failure of the program (exit code, trap) without parsing error text.
func (t *task) run(r *Runtime, ctx context.Context, c wazero.CompiledModule, cfg wazero.ModuleConfig) {
	defer r.tasks.Done()
	if len(t.ports) > 0 {
		t.cpu.beginLocked() // it may block on a socket: see taskCPU
	} else {
		t.cpu.begin()
	}
	stderr := t.logs.stderr
	ictx, instantiated := t.listen(experimental.WithMemoryAllocator(ctx, &t.mem))
	mod, err := r.wz.InstantiateModule(ictx, c, cfg)
	if err != nil {
		t.exit = runtime.Exit{
			Outcome: runtime.Failed, Cause: runtime.CauseLaunchFailed,
			Message: "could not be instantiated: " + firstLine(err.Error()),
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			t.exit.Message += " (another process, or an outgoing connection, holds the port on the host; offer the agent ports outside the ephemeral range or reserve them)"
		}
		fmt.Fprintf(stderr, "pando: task %s: %v\n", t.exit.Message, err)
	} else {
		instantiated(mod)
		// Checked present by checkCommand; wazero watches ctx during the
		// call (WithCloseOnContextDone) and closes the instance when it
		// is done.
		_, err = mod.ExportedFunction("_start").Call(ictx)
		_ = mod.Close(context.Background()) // a _start that returned leaves it open
		t.exit = t.classify(ctx, err)
		if t.exit.Cause == runtime.CauseTrap {
			// The message has the first line; the log gets the wasm
			// stack trace too, for whoever debugs the program.
			fmt.Fprintf(stderr, "pando: task %s\n", err)
		}
	}
	t.logs.close()
	t.exit.Message += t.logs.failure() // the guest saw its writes fail; say why
	t.mem.release()
	t.cancel() // release the context's timer
	t.cpu.end()
	close(t.done)
}

// classify turns how _start returned into an Exit.
func (t *task) classify(ctx context.Context, err error) runtime.Exit {
	if t.logs.budget.Exceeded() && !t.killed.Load() {
		// Stopped by the limit, or ended on its own after its writes
		// failed: either way the limit is why.
		code := -1
		if ee := (*sys.ExitError)(nil); errors.As(err, &ee) {
			code = int(ee.ExitCode())
		} else if err == nil {
			code = 0
		}
		return runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseOutputLimit, Code: code,
			Message: fmt.Sprintf("wrote more than its output limit of %s (stdout and stderr together) and was stopped", runtime.FormatBytes(t.logs.budget.Max))}
	}
	var ee *sys.ExitError
	isExit := errors.As(err, &ee)
	// wazero reports the context's end with these two exit codes; a guest
	// could exit with them too, hence the check of ctx.
	// A guest woken to be stopped (from accept, or from a sleep cut short)
	// may have exited by itself first, even with code 0: it was still
	// killed, or timed out, as Mesos reports a task it was killing.
	if ctx.Err() != nil && (t.woken.Load() || isExit && (ee.ExitCode() == sys.ExitCodeContextCanceled || ee.ExitCode() == sys.ExitCodeDeadlineExceeded)) {
		switch {
		case t.killed.Load():
			return runtime.Exit{Outcome: runtime.Killed, Cause: runtime.CauseKilled, Message: "was killed"}
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseTimeout, Message: fmt.Sprintf("ran past its timeout of %s", t.timeout)}
		default: // the runtime's context: Close
			return runtime.Exit{Outcome: runtime.Killed, Cause: runtime.CauseKilled, Message: "was killed because its runtime was closed"}
		}
	}
	if err == nil || isExit && ee.ExitCode() == 0 {
		return runtime.Exit{Outcome: runtime.Finished, Message: "exited with code 0"}
	}
	code := -1
	if isExit {
		code = int(ee.ExitCode())
	}
	if t.mem.refused.Load() {
		// Go programs die with "fatal error: out of memory" (exit code 2)
		// when memory.grow fails; others may trap. Either way the cause
		// is the limit we enforced.
		return runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseMemoryLimit, Code: code,
			Message: fmt.Sprintf("needed more than its %s of memory", runtime.FormatBytes(t.mem.limit))}
	}
	if isExit {
		return runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseExitNonZero, Code: code,
			Message: fmt.Sprintf("exited with code %d", code)}
	}
	msg := err.Error()
	if inner := errors.Unwrap(err); inner != nil {
		msg = inner.Error() // drop wazero's "module[] function[_start] failed: "
	}
	return runtime.Exit{Outcome: runtime.Failed, Cause: runtime.CauseTrap, Code: code,
		Message: "trapped: " + firstLine(msg)}
}

// Wait blocks until the task ends or ctx is done.
func (t *task) Wait(ctx context.Context) (runtime.Exit, error) {
	select {
	case <-t.done:
		return t.exit, nil
	case <-ctx.Done():
		return runtime.Exit{}, fmt.Errorf("waiting for a WASM task: %w", ctx.Err())
	}
}

// Kill stops the task and waits until it has stopped or ctx is done.
// Killing an ended task does nothing.
func (t *task) Kill(ctx context.Context) error {
	select {
	case <-t.done:
		return nil
	default:
	}
	t.killed.Store(true)
	t.cancel()
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("killing a WASM task: it has not stopped yet: %w", ctx.Err())
	}
}

// Stats reports the instance's linear memory (now, its peak, its limit),
// the CPU time of the thread running it (see taskCPU), and the bytes
// written to its stdout and stderr. After the task ended, memory is 0 and
// the rest are its totals.
func (t *task) Stats(ctx context.Context) (runtime.Stats, error) {
	return runtime.Stats{
		MemoryBytes:     t.mem.size.Load(),
		MemoryPeakBytes: t.mem.peak.Load(),
		MemoryLimit:     t.mem.limit,
		CPUTime:         t.cpu.used(),
		StdoutBytes:     t.logs.stdout.Written(),
		StderrBytes:     t.logs.stderr.Written(),
		Unavailable:     t.unavailable(),
	}, nil
}

func (t *task) unavailable() []string {
	if len(t.ports) > 0 {
		return unavailableWithPorts
	}
	return unavailable
}

// unavailable is what Stats cannot say of a WASM task. Network counts are
// not in it for a task without ports: it has no sockets, so they are 0.
// Callers must not modify it.
var unavailable = []string{"io: a WASM task's file IO is done by the agent's process and is not counted per task"}

// unavailableWithPorts is unavailable for a task with listeners.
var unavailableWithPorts = append(slices.Clip(unavailable), "net: a WASM task's sockets are the agent's process's and are not counted per task")

// interruptibleSleep replaces wazero's time.Sleep for the guest's sleeps
// (WASI poll_oneoff), which would otherwise keep a killed task sleeping,
// unkillable, until its sleep ends. While it sleeps the task does not count
// CPU time nor hold its thread (see taskCPU).
func interruptibleSleep(ctx context.Context, cpu *taskCPU, woken *atomic.Bool) sys.Nanosleep {
	done := ctx.Done()
	return func(ns int64) {
		if ns <= 0 {
			return
		}
		cpu.pause()
		defer cpu.resume()
		t := time.NewTimer(time.Duration(ns))
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			woken.Store(true) // see classify
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// workers runs tasks on goroutines kept between tasks. A new goroutine's
// stack starts small and wazero's calls grow it, copying it several times:
// at thousands of tiny tasks a second that copying cost more than running
// the guest. A worker idle for workerIdle, or any once stop is closed,
// ends.
type workers struct {
	jobs chan func() // unbuffered: a send succeeds only to an idle worker
	stop chan struct{}
}

const workerIdle = 10 * time.Second

func newWorkers() *workers {
	return &workers{jobs: make(chan func()), stop: make(chan struct{})}
}

// run runs fn on an idle worker, or on a new one.
func (w *workers) run(fn func()) {
	select {
	case w.jobs <- fn:
	default:
		go w.loop(fn)
	}
}

func (w *workers) loop(fn func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(workerIdle)
		select {
		case fn = <-w.jobs:
		case <-idle.C:
			return
		case <-w.stop:
			return
		}
	}
}

// close ends the idle workers; busy ones end after their task.
func (w *workers) close() { close(w.stop) }
