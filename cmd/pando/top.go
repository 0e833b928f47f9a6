package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/sdk/client"
)

// newTopCmd shows what running tasks use, asking every agent for the
// usage of its tasks (GET <agent>/api/v1/usage).
func newTopCmd(g *globals) *cobra.Command {
	var interval time.Duration
	var once bool
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Show what running tasks use: cpu, memory, network and disk IO (refreshes on a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			refresh := isTerminal(out) && !once && !g.json
			for {
				usage, notes, err := clusterUsage(cmd.Context(), c)
				if err != nil {
					return err
				}
				if refresh {
					fmt.Fprint(out, "\x1b[H\x1b[2J") // home, clear screen
				}
				if err := printUsage(g, out, usage); err != nil {
					return err
				}
				for _, n := range notes {
					fmt.Fprintln(cmd.ErrOrStderr(), "pando top:", n)
				}
				if !refresh {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "how often to refresh on a terminal")
	cmd.Flags().BoolVar(&once, "once", false, "print once and exit, even on a terminal")
	return cmd
}

// clusterUsage asks each active agent for its tasks' usage. An agent that
// does not answer is a note, not a failure: the others are still shown.
func clusterUsage(ctx context.Context, c *client.Client) ([]client.TaskUsage, []string, error) {
	agents, err := c.Agents(ctx)
	if err != nil {
		return nil, nil, err
	}
	var all []client.TaskUsage
	var notes []string
	for _, a := range agents {
		if !a.Active || a.HTTPAddress == "" {
			continue
		}
		ac, err := client.New(a.HTTPAddress)
		if err != nil {
			notes = append(notes, fmt.Sprintf("agent %s: %v", a.ID, err))
			continue
		}
		var usage []client.TaskUsage
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = ac.Do(actx, http.MethodGet, "/api/v1/usage", nil, &usage)
		cancel()
		if err != nil {
			notes = append(notes, fmt.Sprintf("agent %s (%s) did not answer: %v", a.ID, a.HTTPAddress, err))
			continue
		}
		for i := range usage {
			usage[i].AgentID = a.ID
		}
		all = append(all, usage...)
	}
	slices.SortFunc(all, func(a, b client.TaskUsage) int { return strings.Compare(a.TaskID, b.TaskID) })
	return all, notes, nil
}

func printUsage(g *globals, w io.Writer, usage []client.TaskUsage) error {
	return g.print(w, usage, "TASK\tAGENT\tCPU(s)\tMEM\tMEM PEAK\tLIMIT\tNET RX\tNET TX\tIO R\tIO W\tOUT\tUNAVAILABLE", func(tw io.Writer) {
		for _, u := range usage {
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.TaskID, u.AgentID, u.CPUSeconds,
				humanBytes(int64(u.MemBytes)), humanBytes(int64(u.MemPeakBytes)), humanBytes(int64(u.MemLimitBytes)),
				humanBytes(int64(u.NetRxBytes)), humanBytes(int64(u.NetTxBytes)),
				humanBytes(int64(u.IOReadBytes)), humanBytes(int64(u.IOWriteBytes)),
				humanBytes(int64(u.StdoutBytes+u.StderrBytes)), strings.Join(u.Unavailable, "; "))
		}
	})
}
