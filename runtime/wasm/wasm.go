package wasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/pandodc/pando/internal/shell"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/tasklog"
)

// SandboxMount is where a task sees its sandbox directory: the only part of
// the host filesystem mounted in it.
const SandboxMount = "/sandbox"

// maxMemoryBytes is the most a 32-bit WebAssembly memory can hold (4GiB).
const maxMemoryBytes = 65536 * 65536

// Config configures a Runtime.
type Config struct {
	// CacheDir, if not empty, keeps compiled modules on disk there so that
	// an agent restart does not recompile them; "" keeps them in memory only.
	CacheDir string
	// DefaultMemoryBytes caps the memory of tasks whose Spec.MemoryBytes is
	// 0; 0 means the WebAssembly maximum, 4GiB.
	DefaultMemoryBytes uint64
	// Logs keeps the tasks' stdout and stderr (see package tasklog); nil
	// gives each task's logs files of their own in its sandbox.
	Logs *tasklog.Store
	// MaxOutputBytes caps what one task writes to stdout and stderr
	// together; a task that writes more is stopped and ends Failed with
	// CauseOutputLimit. 0 means no limit.
	MaxOutputBytes uint64
	// ModuleIdle is how long a compiled module that no task runs stays in
	// memory; 0 means DefaultModuleIdle.
	ModuleIdle time.Duration
}

// DefaultModuleIdle is Config.ModuleIdle's default.
const DefaultModuleIdle = 10 * time.Minute

// Runtime runs WebAssembly tasks. It is safe for concurrent use.
type Runtime struct {
	cfg   Config
	wz    wazero.Runtime
	cache wazero.CompilationCache
	base  wazero.ModuleConfig // what every task's ModuleConfig starts from
	logs  *tasklog.Store
	// ownLogs is set when logs is the runtime's own, closed with it.
	ownLogs bool

	// root is the parent of every task's context: Close cancels it.
	root       context.Context
	cancelRoot context.CancelFunc
	tasks      sync.WaitGroup
	workers    *workers

	mu      sync.RWMutex
	closed  bool
	modules map[string]*module // by digest (or path when no digest)

	compiles int // compilations done, for tests of singleflight
}

// module is one compiled artifact, or its compilation in progress.
type module struct {
	ready    chan struct{} // closed when compiled and err are set
	compiled wazero.CompiledModule
	// minMemory is the memory the module needs to start, in bytes.
	minMemory uint64
	err       error
	// running counts the tasks launched from it, and lastUsed (monotonic
	// ns) is when one last started or ended: dropIdleModules closes a
	// module whose count is 0 and whose lastUsed is old. The count goes up
	// only under the runtime's read lock, so that it cannot go up on a
	// module being dropped (under the write lock).
	running  atomic.Int64
	lastUsed atomic.Int64
}

// release says a task of m has ended.
func (m *module) release() {
	m.lastUsed.Store(monotonic())
	m.running.Add(-1)
}

var _ runtime.Runtime = (*Runtime)(nil)

// New makes a Runtime: one wazero runtime, with WASI preview1, for all tasks.
func New(cfg Config) (*Runtime, error) {
	var (
		cache wazero.CompilationCache
		err   error
	)
	if cfg.CacheDir != "" {
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("opening the WASM compilation cache in %s: %w", cfg.CacheDir, err)
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	// WithCloseOnContextDone makes compiled code check, in loops and
	// calls, whether its instance was closed: without it a guest that spins
	// could be neither killed nor timed out.
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithCompilationCache(cache)
	ctx := context.Background()
	wz := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wz); err != nil {
		_ = wz.Close(ctx)
		_ = cache.Close(ctx)
		return nil, fmt.Errorf("instantiating WASI preview1: %w", err)
	}
	logs, ownLogs := cfg.Logs, false
	if logs == nil {
		if logs, err = tasklog.Open(tasklog.Config{}); err != nil {
			_ = wz.Close(ctx)
			_ = cache.Close(ctx)
			return nil, err
		}
		ownLogs = true
	}
	root, cancel := context.WithCancel(ctx)
	r := &Runtime{
		logs:    logs,
		ownLogs: ownLogs,
		cfg:     cfg,
		wz:      wz,
		cache:   cache,
		// Anonymous instances (WithName("")) so that any number of tasks
		// of one module coexist; real clocks and randomness, because
		// wazero's defaults are deterministic fakes and Go's runtime needs
		// them (its scheduler, time.Now, map seeds).
		base: wazero.NewModuleConfig().
			WithName("").
			WithStartFunctions(). // run calls _start itself, see there
			WithSysWalltime().
			WithSysNanotime().
			WithRandSource(rand.Reader),
		root:       root,
		cancelRoot: cancel,
		workers:    newWorkers(),
		modules:    make(map[string]*module),
	}
	idle := cfg.ModuleIdle
	if idle <= 0 {
		idle = DefaultModuleIdle
	}
	go shell.Every(root, max(idle/4, 10*time.Millisecond), func(time.Time) { r.dropIdleModules(idle) })
	return r, nil
}

// dropIdleModules closes the compiled modules no task has run for idle.
// Their machine code (megabytes for a Go program) would otherwise stay in
// memory for as long as the agent runs, one copy per module it ever ran.
// The next task of one compiles it again, from the compilation cache on
// disk while the agent's artifact cache keeps it there.
func (r *Runtime) dropIdleModules(idle time.Duration) int {
	now := monotonic()
	var drop []*module
	r.mu.Lock()
	if r.closed { // Close releases them all
		r.mu.Unlock()
		return 0
	}
	for key, m := range r.modules {
		select {
		case <-m.ready:
		default:
			continue // still compiling
		}
		if m.err == nil && m.running.Load() == 0 && now-m.lastUsed.Load() >= int64(idle) {
			delete(r.modules, key)
			drop = append(drop, m)
		}
	}
	r.mu.Unlock()
	for _, m := range drop {
		_ = m.compiled.Close(context.Background())
	}
	return len(drop)
}

// Prepare compiles the module at path, once per digest: concurrent calls for
// one digest wait for one compilation.
func (r *Runtime) Prepare(ctx context.Context, digest, path string) error {
	_, err := r.prepare(ctx, digest, path)
	return err
}

func moduleKey(digest, path string) string {
	if digest == "" {
		return "path:" + path
	}
	return digest
}

func (r *Runtime) prepare(ctx context.Context, digest, path string) (*module, error) {
	key := moduleKey(digest, path)
	r.mu.RLock()
	m, ok := r.modules[key]
	closed := r.closed
	r.mu.RUnlock()
	if closed {
		return nil, errClosed
	}
	if !ok {
		r.mu.Lock()
		if m, ok = r.modules[key]; !ok {
			m = &module{ready: make(chan struct{})}
			m.lastUsed.Store(monotonic())
			r.modules[key] = m
			r.compiles++
		}
		r.mu.Unlock()
		if !ok {
			m.compiled, m.minMemory, m.err = r.compile(ctx, path)
			if m.err != nil {
				// Forget failures: the next attempt may find the file
				// (a malformed module fails again, cheaply: it is
				// rejected before compiling).
				r.mu.Lock()
				delete(r.modules, key)
				r.mu.Unlock()
			}
			close(m.ready)
		}
	}
	select {
	case <-m.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the compilation of %s: %w", path, ctx.Err())
	}
	return m, m.err
}

// Compiled says whether the module of digest is compiled in memory: a
// launch of it would not wait for a compilation.
func (r *Runtime) Compiled(digest string) bool {
	r.mu.RLock()
	m, ok := r.modules[digest]
	r.mu.RUnlock()
	if !ok {
		return false
	}
	select {
	case <-m.ready:
		return m.err == nil
	default:
		return false
	}
}

// acquire prepares a task's module and counts the task, so that the module
// is not dropped while the task runs; the caller releases it when the task
// ends (or does not start).
func (r *Runtime) acquire(ctx context.Context, digest, path string) (*module, error) {
	for {
		m, err := r.prepare(ctx, digest, path)
		if err != nil {
			return nil, err
		}
		r.mu.RLock()
		current := r.modules[moduleKey(digest, path)] == m
		if current {
			m.lastUsed.Store(monotonic())
			m.running.Add(1)
		}
		r.mu.RUnlock()
		if current {
			return m, nil
		}
		// Dropped since prepare found it: compile it again.
	}
}

var errClosed = errors.New("the WASM runtime is closed")

// wasmMagic starts every WebAssembly binary; a core module's version follows.
var (
	wasmMagic       = []byte("\x00asm")
	wasmCoreVersion = []byte{1, 0, 0, 0}
)

func (r *Runtime) compile(ctx context.Context, path string) (wazero.CompiledModule, uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("reading WASM module: %w", err)
	}
	if !bytes.HasPrefix(b, wasmMagic) {
		return nil, 0, fmt.Errorf("%s is not a WebAssembly module (it starts with %q, not %q); build Go programs with GOOS=wasip1 GOARCH=wasm", path, b[:min(len(b), 8)], wasmMagic)
	}
	if len(b) < 8 || !bytes.Equal(b[4:8], wasmCoreVersion) {
		return nil, 0, fmt.Errorf("%s is a WebAssembly binary but not a core module of version 1 (version bytes % x): components and other versions are not supported; build a WASI preview1 command (GOOS=wasip1 GOARCH=wasm)", path, b[4:min(len(b), 8)])
	}
	c, err := r.wz.CompileModule(ctx, b)
	if err != nil {
		return nil, 0, fmt.Errorf("compiling WASM module %s: %w", path, err)
	}
	if err := checkCommand(c); err != nil {
		_ = c.Close(ctx)
		return nil, 0, fmt.Errorf("WASM module %s cannot run as a task: %w", path, err)
	}
	var minMem uint64
	for _, m := range c.ExportedMemories() {
		minMem = max(minMem, uint64(m.Min())*65536)
	}
	return c, minMem, nil
}

// checkCommand rejects, before any launch, modules that could only fail at
// instantiation, with the reason.
func checkCommand(c wazero.CompiledModule) error {
	if f, ok := c.ExportedFunctions()["_start"]; !ok {
		return errors.New("it exports no _start function, so it is not a WASI command (a Go program needs a main package, built with GOOS=wasip1 GOARCH=wasm)")
	} else if len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0 {
		return errors.New("its _start function takes parameters or returns results; a WASI command's _start takes and returns nothing")
	}
	for _, f := range c.ImportedFunctions() {
		if mod, name, _ := f.Import(); mod != wasi_snapshot_preview1.ModuleName {
			return fmt.Errorf("it imports %s.%s, but tasks are given only WASI preview1 (%s)", mod, name, wasi_snapshot_preview1.ModuleName)
		}
	}
	if len(c.ImportedMemories()) != 0 {
		return errors.New("it imports its memory, but tasks are given none; a WASI command defines and exports its own")
	}
	return nil
}

// Launch starts a task: a new instance of the spec's module, running its
// _start in a goroutine of its own.
func (r *Runtime) Launch(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	m, err := r.acquire(ctx, spec.Digest, spec.Artifact)
	if err != nil {
		return nil, fmt.Errorf("launching task %s: %w", spec.TaskID, err)
	}
	running := false // once the task's goroutine runs, it releases m
	defer func() {
		if !running {
			m.release()
		}
	}()
	if spec.Sandbox == "" {
		return nil, fmt.Errorf("launching task %s: it has no sandbox directory", spec.TaskID)
	}
	limit := spec.MemoryBytes
	if limit == 0 {
		limit = r.cfg.DefaultMemoryBytes
	}
	if limit == 0 || limit > maxMemoryBytes {
		limit = maxMemoryBytes
	}

	sb, err := prepareSandbox(spec.Sandbox)
	if err != nil {
		return nil, fmt.Errorf("launching task %s: %w", spec.TaskID, err)
	}
	t := &task{
		done: make(chan struct{}),
		mem:  limitedMemory{limit: limit},
	}
	// Past its output limit a task is stopped: its context's cancel is
	// set before it runs, and it writes nothing before.
	t.logs = r.newTaskLogs(spec, sb, time.Now().UnixNano(), func() {
		if t.cancel != nil {
			t.cancel()
		}
	})
	stdout, stderr := t.logs.stdout, t.logs.stderr
	if m.minMemory > limit {
		// Instantiating would make wazero panic (an allocator must give
		// the initial memory), and the task could never run anyway.
		t.exit = runtime.Exit{
			Outcome: runtime.Failed, Cause: runtime.CauseMemoryLimit,
			Message: fmt.Sprintf("needed more than its %s of memory (the module needs %s to start)", runtime.FormatBytes(limit), runtime.FormatBytes(m.minMemory)),
		}
		fmt.Fprintln(stderr, "pando: task", t.exit.Message)
		t.logs.close()
		close(t.done)
		return t, nil
	}

	argv := make([]string, 0, 1+len(spec.Args))
	argv = append(argv, spec.TaskID)
	argv = append(argv, spec.Args...)
	t.stdout, t.stderr = settlingWriter{log: stdout, cpu: &t.cpu}, settlingWriter{log: stderr, cpu: &t.cpu}
	cfg := r.base.
		WithArgs(argv...).
		WithStdout(&t.stdout).
		WithStderr(&t.stderr).
		WithFSConfig(withInputs(sb.fsConfig(), spec.Inputs))
	if _, ok := spec.Env["PANDO_TASK_ID"]; !ok {
		cfg = cfg.WithEnv("PANDO_TASK_ID", spec.TaskID)
	}
	if _, ok := spec.Env["PWD"]; !ok {
		// Go's wasip1 port resolves relative paths against $PWD: make
		// them land in the sandbox, as they would in a container.
		cfg = cfg.WithEnv("PWD", SandboxMount)
	}
	// Sorted: a map's order changes from run to run, and a program that
	// prints or hashes its environ must see the same one every time.
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		cfg = cfg.WithEnv(k, spec.Env[k])
	}
	// Where its listeners are, unless the launcher said so already.
	listenEnv := listenerEnv(spec.Ports, sandboxDirs+len(spec.Inputs)) // every dir mounted (sandbox, inputs) comes before the listeners
	for _, k := range slices.Sorted(maps.Keys(listenEnv)) {
		if _, ok := spec.Env[k]; !ok {
			cfg = cfg.WithEnv(k, listenEnv[k])
		}
	}

	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		t.logs.close()
		return nil, fmt.Errorf("launching task %s: %w", spec.TaskID, errClosed)
	}
	r.tasks.Add(1)
	r.mu.RUnlock()

	// The task's context outlives Launch's: it derives from the runtime's
	// (Close stops every task), carries the timeout, and its cancel is Kill.
	// wazero watches it and closes the instance when it is done.
	var taskCtx context.Context
	if spec.Timeout > 0 {
		taskCtx, t.cancel = context.WithTimeout(r.root, spec.Timeout)
	} else {
		taskCtx, t.cancel = context.WithCancel(r.root)
	}
	t.timeout = spec.Timeout
	cfg = cfg.WithNanosleep(interruptibleSleep(taskCtx, &t.cpu, &t.woken))
	t.ports = spec.Ports
	running = true
	r.workers.run(func() {
		defer m.release()
		t.run(r, taskCtx, m.compiled, cfg)
	})
	return t, nil
}

// withInputs adds the task's inputs to its filesystem, read-only: a guest
// can neither change nor remove them (writes fail with EROFS).
func withInputs(fsc wazero.FSConfig, inputs []runtime.Mount) wazero.FSConfig {
	for _, in := range inputs {
		fsc = fsc.WithReadOnlyDirMount(in.Source, in.Target)
	}
	return fsc
}

// Recover is not supported: instances die with the process that runs them.
func (r *Runtime) Recover(ctx context.Context) (map[runtime.TaskRef]runtime.Task, error) {
	return nil, runtime.ErrNotSupported
}

// Close stops every running task (they end Killed), waits for them until ctx
// is done, and releases the compiled modules.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancelRoot()
	r.workers.close()

	ended := make(chan struct{})
	go func() { r.tasks.Wait(); close(ended) }()
	var err error
	select {
	case <-ended:
	case <-ctx.Done():
		err = fmt.Errorf("closing the WASM runtime: tasks still running: %w", ctx.Err())
	}
	if e := r.wz.Close(context.Background()); e != nil && err == nil {
		err = fmt.Errorf("closing the WASM runtime: %w", e)
	}
	if e := r.cache.Close(context.Background()); e != nil && err == nil {
		err = fmt.Errorf("closing the WASM compilation cache: %w", e)
	}
	if r.ownLogs {
		if e := r.logs.Close(); e != nil && err == nil {
			err = fmt.Errorf("closing the task logs: %w", e)
		}
	}
	return err
}
