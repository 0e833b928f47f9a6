package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/actors/executor"
	"github.com/pandodc/pando/runtime/wasm"
)

// newExecutorCmd is `pando executor`, which an agent started with
// --executor process runs to hold its WASM tasks; not for people to run.
func newExecutorCmd() *cobra.Command {
	var listen, workDir, logLevel string
	var orphanTimeout time.Duration
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
			rt, err := wasm.New(wasm.Config{CacheDir: filepath.Join(workDir, "wasm-cache")})
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
	return cmd
}

// executorCommand runs this binary's `pando executor` for an agent.
func executorCommand(workDir, logLevel string) func() *exec.Cmd {
	return func() *exec.Cmd {
		self, err := os.Executable()
		if err != nil {
			self = os.Args[0]
		}
		return exec.Command(self, "executor", "--work-dir", workDir, "--log-level", logLevel)
	}
}
