package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	aagent "github.com/pandodc/pando/actors/agent"
	"github.com/pandodc/pando/actors/executor"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/tasklog"
	"github.com/pandodc/pando/runtime/wasm"
)

// Where an agent runs its WASM tasks (AgentOptions.Executor).
const (
	ExecutorInProcess = "inprocess"
	ExecutorProcess   = "process"
)

// ExecutorRecord is the file, under an agent's work dir, that names its
// executor process: "<pid> <start time> <address>".
const ExecutorRecord = "checkpoint/executor"

// CompileCacheDir is where, in an agent's work dir, wazero keeps compiled
// modules: the runtime writes there (in the agent's process or its
// executor's) and the agent's cache collection bounds it.
func CompileCacheDir(workDir string) string { return filepath.Join(workDir, "wasm-cache") }

// The executor process keeps each task's record and end for the agent:
// a signature drift would silently make the agent lose them.
var _ aagent.RecordingRuntime = (*executor.Client)(nil)

// startWASM starts the runtime of WASM tasks: in the agent's process, or
// an executor process's client, attached again to the executor of the
// agent's previous run if it still runs, with the tasks it kept.
func startWASM(ctx context.Context, opts AgentOptions, system *System, agentID, logDir string, logger *slog.Logger) (runtime.Runtime, *tasklog.Store, []aagent.RecoveredTask, error) {
	switch opts.Executor {
	case "", ExecutorInProcess:
		executor.EndRecorded(filepath.Join(opts.WorkDir, ExecutorRecord), logger)
		logs, err := tasklog.Open(tasklog.Config{Dir: logDir})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("agent: %w (check --work-dir)", err)
		}
		rt, err := wasm.New(wasm.Config{CacheDir: CompileCacheDir(opts.WorkDir), Logs: logs, MaxOutputBytes: opts.MaxTaskOutputBytes, ModuleIdle: opts.ArtifactCacheGrace})
		if err != nil {
			logs.Close()
			return nil, nil, nil, fmt.Errorf("agent: starting the WASM runtime: %w", err)
		}
		return rt, logs, nil, nil
	case ExecutorProcess:
	default:
		return nil, nil, nil, fmt.Errorf("agent: --executor %q: want %s or %s", opts.Executor, ExecutorProcess, ExecutorInProcess)
	}
	if opts.ExecutorCommand == nil {
		return nil, nil, nil, errors.New("agent: an executor process needs the command that runs one")
	}
	client, kept, err := executor.Open(ctx, executor.ClientConfig{
		System: system.Actors, Command: opts.ExecutorCommand, Logger: logger,
		Record:  filepath.Join(opts.WorkDir, ExecutorRecord),
		LogFile: filepath.Join(opts.WorkDir, "executor.log"),
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("agent: %w (or run WASM tasks in the agent's process: --executor %s)", err, ExecutorInProcess)
	}
	// The executor process keeps its tasks' logs in logDir too (see
	// newExecutorCmd), where the agent's sandboxes read them.
	return client, nil, aagent.ExecutorTasks(ctx, kept, agentID, logger), nil
}
