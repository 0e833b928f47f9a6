package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/actors/executor"
	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/runtime/tasklog"
	"github.com/pandodc/pando/runtime/wasm"
)

// newExecutorCmd is `pando executor`, which an agent started with
// --executor process runs to hold its WASM tasks; not for people to run.
func newExecutorCmd() *cobra.Command {
	var listen, workDir, logLevel string
	var orphanTimeout time.Duration
	var maxOutput uint64
	var moduleIdle time.Duration
	cmd := &cobra.Command{
		Use:    "executor",
		Short:  "Run an agent's WASM tasks in a process that outlives the agent (started by 'pando agent')",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			// Small logs go to segments in the agent's log dir, where the
			// agent's sandboxes read them, as they do the in-process
			// runtime's.
			logs, err := tasklog.Open(tasklog.Config{Dir: filepath.Join(workDir, "logs")})
			if err != nil {
				return fmt.Errorf("executor: %w (check --work-dir)", err)
			}
			defer logs.Close() // after Serve closed the runtime: every log is on disk
			rt, err := wasm.New(wasm.Config{CacheDir: node.CompileCacheDir(workDir), Logs: logs, MaxOutputBytes: maxOutput, ModuleIdle: moduleIdle})
			if err != nil {
				return err
			}
			return executor.Serve(cmd.Context(), executor.ServeOptions{
				Listen: listen, Runtime: rt, Ready: os.Stdout, OrphanTimeout: orphanTimeout, Logger: logger,
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:0", "address for actor remoting (port 0: any free port); the address is printed on stdout")
	fl.StringVar(&workDir, "work-dir", filepath.Join(defaultDataDir(), "agent"), "the agent's work dir (for the compilation cache)")
	fl.DurationVar(&orphanTimeout, "orphan-timeout", executor.DefaultOrphanTimeout, "how long tasks keep running after the agent's process is gone, for a restarted agent to take them back; negative: forever")
	fl.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	fl.Uint64Var(&maxOutput, "task-output-limit", node.DefaultMaxTaskOutput, "bytes a task may write to stdout and stderr together (the agent passes its --task-output-limit)")
	fl.DurationVar(&moduleIdle, "module-idle", wasm.DefaultModuleIdle, "how long a compiled module no task runs stays in memory (the agent passes its --artifact-cache-grace)")
	return cmd
}

// executorCommand runs this binary's `pando executor` for an agent.
func executorCommand(workDir, logLevel string, maxTaskOutput uint64, moduleIdle time.Duration) func() *exec.Cmd {
	return func() *exec.Cmd {
		self, err := os.Executable()
		if err != nil {
			self = os.Args[0]
		}
		return exec.Command(self, "executor", "--work-dir", workDir, "--log-level", logLevel,
			"--task-output-limit", strconv.FormatUint(maxTaskOutput, 10), "--module-idle", moduleIdle.String())
	}
}
