package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(os.Stderr, "pando:", msg)
	}
	os.Exit(code)
}

// globals are the flags every client command shares.
type globals struct {
	master string
	json   bool
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "pando",
		Short:         "Pando pools machines into one computer and shares it between frameworks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.master, "master", "", "master HTTP address (default $PANDO_MASTER or http://127.0.0.1:5050)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print JSON instead of text")
	root.AddCommand(
		newDevCmd(), newMasterCmd(), newAgentCmd(g), newExecutorCmd(),
		newRunCmd(g), newPsCmd(g), newJobsCmd(g), newLogsCmd(g), newFetchCmd(g), newKillCmd(g),
		newAgentsCmd(g), newFrameworksCmd(g), newUploadCmd(g), newImageCmd(g), newTopCmd(g), newCronCmd(g),
		newAppCmd(g), newRolesCmd(g), newWeightsCmd(g),
	)
	return root
}
