package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/actors/executor/executorpb"
	"github.com/pandodc/pando/runtime"
)

// ErrCrashed ends the Wait of a task whose executor process died.
var ErrCrashed = errors.New("executor crashed")

// ClientConfig configures the agent's side.
type ClientConfig struct {
	// System is the agent's actor system; it must listen for remoting,
	// since the executor process reports to it.
	System *actor.ActorSystem
	// Command makes the command that runs an executor process: one that
	// calls Serve with Ready on its stdout (`pando executor`).
	Command func() *exec.Cmd
	// Record is the file the running executor process is recorded in, so
	// that the agent's next run attaches to it again.
	Record string
	// LogFile receives the executor process's own log (its stderr).
	LogFile string
	// RequestTimeout bounds each request to the process (default 30s).
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Client is a runtime.Runtime whose tasks run in an executor process.
type Client struct {
	cfg  ClientConfig
	self *actor.PID // receives the process's Exited reports

	mu       sync.Mutex
	proc     *process // nil until started, and after it died
	tasks    map[key]*remoteTask
	detached atomic.Bool
}

// errDetached answers what a detached client is asked.
var errDetached = errors.New("executor: the agent has let go of its executor process")

// Recovered is a task of the executor that the agent's previous run
// launched: still running, or ended and not yet forgotten (its Wait then
// returns at once with how it ended).
type Recovered struct {
	// Record is what LaunchRecorded was given with it.
	Record []byte
	Task   runtime.Task
}

// Open attaches to the executor process the agent's previous run
// recorded, if it still runs, and returns its tasks; otherwise it starts a
// new executor process.
func Open(ctx context.Context, cfg ClientConfig) (*Client, []Recovered, error) {
	if cfg.System == nil || cfg.Command == nil || cfg.Record == "" {
		return nil, nil, errors.New("executor: the client needs an actor system, a command and a record file")
	}
	if cfg.System.Address() == "nonhost" {
		return nil, nil, errors.New("executor: the agent's actor system does not listen for remoting, so an executor process could not report to it")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, tasks: map[key]*remoteTask{}}
	var err error
	c.self, err = cfg.System.Root.SpawnNamed(actor.PropsFromFunc(c.receive), "executor-client")
	if err != nil {
		return nil, nil, fmt.Errorf("executor: spawning the client actor: %w", err)
	}
	recovered, err := c.reattach()
	if err != nil {
		cfg.System.Root.Stop(c.self)
		return nil, nil, err
	}
	if c.proc == nil {
		if _, err := c.process(); err != nil {
			cfg.System.Root.Stop(c.self)
			return nil, nil, err
		}
	}
	return c, recovered, nil
}

// reattach attaches to the recorded executor process, if it still runs.
func (c *Client) reattach() ([]Recovered, error) {
	p, err := readRecord(c.cfg.Record)
	if err != nil || p == nil {
		return nil, err
	}
	if started, ok := procStart(p.pid); !ok || started != p.started {
		c.cfg.Logger.Warn("executor: the executor process of the agent's previous run is gone; the master settles the tasks it ran when the agent re-registers without them", "pid", p.pid)
		removeRecord(c.cfg.Record)
		return nil, nil
	}
	attached, err := c.attach(p)
	if err != nil {
		// It runs but does not answer: nobody could follow its tasks.
		c.cfg.Logger.Warn("executor: the executor process of the agent's previous run does not answer; killing it", "pid", p.pid, "error", err)
		_ = killProcess(p.pid)
		removeRecord(c.cfg.Record)
		return nil, nil
	}
	watchProcess(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.proc = p
	go c.watch(p)
	out := make([]Recovered, 0, len(attached.GetTasks()))
	for _, e := range attached.GetTasks() {
		k := key{e.GetSpec().GetFrameworkId(), e.GetSpec().GetTaskId()}
		t := newRemoteTask(c, k, p)
		if e.GetExit() != nil {
			t.end(exitFromProto(e.GetExit()), nil)
		}
		c.tasks[k] = t
		out = append(out, Recovered{Record: e.GetSpec().GetRecord(), Task: t})
	}
	c.cfg.Logger.Warn("executor: attached to the executor process of the agent's previous run", "pid", p.pid, "tasks", len(out))
	return out, nil
}

func (c *Client) attach(p *process) (*executorpb.Attached, error) {
	reply, err := c.request(p, &executorpb.Attach{ClientAddress: c.self.Address, ClientId: c.self.Id, AgentPid: int32(os.Getpid())}, 5*time.Second)
	if err != nil {
		return nil, err
	}
	attached, ok := reply.(*executorpb.Attached)
	if !ok {
		return nil, fmt.Errorf("executor: answered Attach with %T", reply)
	}
	return attached, nil
}

// process returns the executor process, starting one if there is none.
func (c *Client) process() (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.detached.Load() {
		return nil, errDetached
	}
	if c.proc != nil {
		return c.proc, nil
	}
	p, err := startProcess(c.cfg.Command(), c.cfg.LogFile)
	if err != nil {
		return nil, err
	}
	if _, err := c.attach(p); err != nil {
		_ = killProcess(p.pid)
		return nil, err
	}
	if err := writeRecord(c.cfg.Record, p); err != nil {
		_ = killProcess(p.pid)
		return nil, err
	}
	c.proc = p
	go c.watch(p)
	c.cfg.Logger.Info("executor: started an executor process", "pid", p.pid, "address", p.address)
	return p, nil
}

// watch ends the tasks of a process that died with ErrCrashed.
func (c *Client) watch(p *process) {
	<-p.exited
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == p {
		c.proc = nil
		removeRecord(c.cfg.Record)
	}
	n := 0
	for _, t := range c.tasks {
		if t.proc == p && t.end(runtime.Exit{}, fmt.Errorf("%w: %s", ErrCrashed, p.why)) {
			n++
		}
	}
	if n > 0 {
		c.cfg.Logger.Warn("executor: the executor process died with tasks running", "why", p.why, "tasks", n)
	}
}

// PID is the executor process's id (0 when none runs).
func (c *Client) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.pid
}

func (c *Client) receive(ctx actor.Context) {
	if msg, ok := ctx.Message().(*executorpb.Exited); ok {
		c.mu.Lock()
		t := c.tasks[keyOf(msg.GetTask())]
		c.mu.Unlock()
		if t != nil {
			t.end(exitFromProto(msg.GetExit()), nil)
		}
	}
}

func (c *Client) request(p *process, msg any, timeout time.Duration) (any, error) {
	if c.detached.Load() {
		return nil, errDetached
	}
	reply, err := c.cfg.System.Root.RequestFuture(p.actor, msg, timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("executor (pid %d) did not answer %T: %w", p.pid, msg, err)
	}
	return reply, nil
}

// Prepare implements runtime.Runtime: the executor compiles a module on
// its first launch (and reports a malformed one then).
func (c *Client) Prepare(context.Context, string, string) error { return nil }

// Launch implements runtime.Runtime.
func (c *Client) Launch(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	return c.LaunchRecorded(ctx, spec, nil)
}

// LaunchRecorded launches a task and keeps record with it in the executor,
// to be handed back by Open after a restart of the agent.
func (c *Client) LaunchRecorded(ctx context.Context, spec runtime.Spec, record []byte) (runtime.Task, error) {
	p, err := c.process()
	if err != nil {
		return nil, err
	}
	k := key{spec.FrameworkID, spec.TaskID}
	t := newRemoteTask(c, k, p)
	c.mu.Lock()
	c.tasks[k] = t // before the launch: its Exited may overtake the answer
	c.mu.Unlock()
	timeout := c.cfg.RequestTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	reply, err := c.request(p, &executorpb.Launch{Spec: specProto(spec, record)}, timeout)
	if err == nil {
		if l, ok := reply.(*executorpb.Launched); !ok {
			err = fmt.Errorf("executor: answered Launch with %T", reply)
		} else if l.GetError() != "" {
			err = errors.New(l.GetError())
		}
	}
	if err != nil {
		c.mu.Lock()
		delete(c.tasks, k)
		c.mu.Unlock()
		// The launch may have happened unanswered: nobody would follow it.
		c.cfg.System.Root.Send(p.actor, &executorpb.Kill{Task: k.proto()})
		return nil, err
	}
	return t, nil
}

// Forget tells the executor that an ended task need not be kept for a
// restart of the agent any longer: its end has been acknowledged.
func (c *Client) Forget(frameworkID, taskID string) {
	k := key{frameworkID, taskID}
	c.mu.Lock()
	t, ok := c.tasks[k]
	if !ok || !t.ended() || c.detached.Load() {
		c.mu.Unlock()
		return
	}
	delete(c.tasks, k)
	c.mu.Unlock()
	select {
	case <-t.proc.exited:
	default:
		c.cfg.System.Root.Send(t.proc.actor, &executorpb.Forget{Tasks: []*executorpb.TaskKey{k.proto()}})
	}
}

// Recover implements runtime.Runtime: Open hands back the tasks of a
// previous run, with their records.
func (c *Client) Recover(context.Context) (map[runtime.TaskRef]runtime.Task, error) {
	return nil, runtime.ErrNotSupported
}

// Close shuts the executor process down, ending its tasks: the agent
// stops cleanly.
func (c *Client) Close(ctx context.Context) error {
	defer c.cfg.System.Root.Stop(c.self)
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	if p == nil || c.detached.Load() {
		return nil
	}
	timeout := c.cfg.RequestTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if _, err := c.request(p, &executorpb.Shutdown{}, timeout); err != nil {
		_ = killProcess(p.pid)
		return err
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		_ = killProcess(p.pid)
	}
	return nil
}

// remoteTask is a task running in the executor process.
type remoteTask struct {
	c    *Client
	key  key
	proc *process

	once sync.Once
	done chan struct{}
	exit runtime.Exit
	err  error
}

func newRemoteTask(c *Client, k key, p *process) *remoteTask {
	return &remoteTask{c: c, key: k, proc: p, done: make(chan struct{})}
}

// end records how the task ended; false if it had already.
func (t *remoteTask) end(exit runtime.Exit, err error) bool {
	ended := false
	t.once.Do(func() {
		t.exit, t.err, ended = exit, err, true
		close(t.done)
	})
	return ended
}

func (t *remoteTask) ended() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// Wait implements runtime.Task.
func (t *remoteTask) Wait(ctx context.Context) (runtime.Exit, error) {
	select {
	case <-t.done:
		return t.exit, t.err
	case <-ctx.Done():
		return runtime.Exit{}, ctx.Err()
	}
}

// Kill implements runtime.Task.
func (t *remoteTask) Kill(ctx context.Context) error {
	if t.ended() {
		return nil
	}
	timeout := t.c.cfg.RequestTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	reply, err := t.c.request(t.proc, &executorpb.Kill{Task: t.key.proto()}, timeout)
	if err != nil {
		if t.ended() {
			return nil // it died with its process meanwhile
		}
		return err
	}
	if k, ok := reply.(*executorpb.Killed); ok && k.GetError() != "" {
		return fmt.Errorf("killing task %s: %s", t.key.taskID, k.GetError())
	}
	return nil
}

// Stats implements runtime.Task.
func (t *remoteTask) Stats(ctx context.Context) (runtime.Stats, error) {
	reply, err := t.c.request(t.proc, &executorpb.GetStats{Task: t.key.proto()}, 5*time.Second)
	if err != nil {
		return runtime.Stats{}, err
	}
	st, ok := reply.(*executorpb.StatsReply)
	if !ok {
		return runtime.Stats{}, fmt.Errorf("executor: answered GetStats with %T", reply)
	}
	if st.GetError() != "" {
		return runtime.Stats{}, errors.New(st.GetError())
	}
	return statsFromProto(st.GetStats()), nil
}

// Detach leaves the executor process running with its tasks, for the
// agent's next run to attach to (the agent failed to start): the client
// no longer speaks to it.
func (c *Client) Detach() {
	c.detached.Store(true)
	_ = c.cfg.System.Root.StopFuture(c.self).Wait()
}
