package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/sdk/client"
)

func (g *globals) client() (*client.Client, error) {
	c, err := client.New(firstAnswering(client.SplitMasters(client.MasterFromEnv(g.master))))
	if err != nil {
		return nil, usageError("%v", err)
	}
	return c, nil
}

// firstAnswering picks, of several masters, the first that answers (a
// stand-by redirects to the leader); the first one when none does, so that
// the error names it. One master is taken as it is.
func firstAnswering(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	if len(urls) == 1 {
		return urls[0]
	}
	for _, u := range urls {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/api/v1/health", nil)
		if err == nil {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					cancel()
					return u
				}
			}
		}
		cancel()
	}
	return urls[0]
}

// table prints rows as aligned columns, or v as JSON with --json.
func (g *globals) print(w io.Writer, v any, header string, rows func(tw io.Writer)) error {
	if g.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	return tw.Flush()
}

func newPsCmd(g *globals) *cobra.Command {
	var state, framework, job string
	var all bool
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List tasks (active ones; --all for recently ended too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if state != "" {
				q.Set("state", strings.ToUpper(state))
			}
			if framework != "" {
				q.Set("framework", framework)
			}
			if job != "" {
				q.Set("prefix", job+".")
			}
			if all {
				q.Set("all", "1")
			}
			tasks, err := c.Tasks(cmd.Context(), q)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), tasks, "ID\tSTATE\tAGENT\tFRAMEWORK\tRESOURCES\tMESSAGE", func(w io.Writer) {
				for _, t := range tasks {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, taskState(t), t.AgentID, t.FrameworkID, t.Resources, t.Message)
				}
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only tasks in this state (e.g. running, failed)")
	cmd.Flags().StringVar(&framework, "framework", "", "only tasks of this framework id")
	cmd.Flags().StringVar(&job, "job", "", "only tasks of this batch job")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "include recently ended tasks")
	return cmd
}

// taskState shows a task's state with who ended it, when the master knows
// (an operator's kill: "KILLED (by operator)"), and a running task's health
// when it has a check ("RUNNING (healthy)").
func taskState(t client.Task) string {
	state := strings.TrimPrefix(t.State, "TASK_")
	switch t.Reason {
	case "KILLED_BY_OPERATOR":
		return state + " (by operator)"
	case "KILLED_BY_FRAMEWORK":
		return state + " (by framework)"
	case "TASK_UNHEALTHY":
		return state + " (unhealthy)"
	}
	if t.Healthy != nil && state == "RUNNING" {
		if *t.Healthy {
			return state + " (healthy)"
		}
		return state + " (unhealthy)"
	}
	return state
}

func newJobsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "jobs",
		Short: "List batch jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			jobs, err := batchapi.NewClient(c).Jobs(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), jobs, "JOB\tNAME\tSTATE\tFINISHED\tFAILED\tRUNNING\tPENDING\tDURATION\tWHY PENDING", func(w io.Writer) {
				for _, j := range jobs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%.2fs\t%s\n", j.ID, j.Name, j.State, j.Finished, j.Instances, j.Failed, j.Running, j.Pending, j.DurationS, whyPending(j))
				}
			})
		},
	}
}

func newAgentsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "agents",
		Short: "List agents and their resources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			agents, err := c.Agents(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), agents, "ID\tHOSTNAME\tACTIVE\tTASKS\tUSED\tTOTAL\tRUNTIMES", func(w io.Writer) {
				for _, a := range agents {
					fmt.Fprintf(w, "%s\t%s\t%v\t%d\t%s\t%s\t%s\n", a.ID, a.Hostname, a.Active, a.Tasks, a.Used, a.Total, agentRuntimes(a))
				}
			})
		},
	}
}

func newLogsCmd(g *globals) *cobra.Command {
	f := logsFlags{}
	cmd := &cobra.Command{
		Use:   "logs TASK|JOB",
		Short: "Print a task's stdout (or --stderr), or that of every instance of a batch job",
		Long: `Prints a task's stdout (or --stderr). Given a batch job, prints the log of
every instance in instance order (each instance's latest attempt); --prefix
starts each line with "[N] ", --instance N prints one instance. With
--follow, a job's instances are printed in order as they run: each is
followed until it ends, then the next; one that ended meanwhile is printed
whole (its latest attempt), and one retried while it is followed prints its
new attempt after the failed one.`,
		Example: `  pando logs job-1 --prefix
  pando logs job-1 --instance 3 --stderr
  pando logs job-1.3.0 --follow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if strings.TrimSpace(id) == "" {
				return usageError("give a task id or a job id (pando ps, pando jobs list them)")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			tasks, isJob, err := jobTasks(cmd.Context(), c, id)
			if err != nil {
				return err
			}
			if f.instance < -1 {
				return usageError("--instance must not be negative, got %d", f.instance)
			}
			if isJob {
				if tasks, err = pickInstance(tasks, id, f.instance); err != nil {
					return err
				}
				if f.follow {
					return followJob(cmd.Context(), c, id, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
				}
				return jobLogs(cmd.Context(), c, id, tasks, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			if f.prefix || f.instance >= 0 {
				return usageError("--prefix and --instance are for a batch job; %q is a task id, or no job's", id)
			}
			body, err := c.Logs(cmd.Context(), id, f.stream(), f.follow)
			if err != nil {
				return err
			}
			defer body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), body)
			if err != nil && cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&f.stderr, "stderr", false, "print stderr instead of stdout")
	cmd.Flags().BoolVarP(&f.follow, "follow", "f", false, "keep printing until the task (or the job) ends")
	cmd.Flags().BoolVar(&f.prefix, "prefix", false, `start each line of a job's logs with its instance number ("[3] ")`)
	cmd.Flags().IntVar(&f.instance, "instance", -1, "print only this instance of a job")
	return cmd
}

func newKillCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "kill TASK|JOB",
		Short: "Kill a task, or every instance of a batch job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return killTaskOrJob(cmd.Context(), c, args[0], cmd.OutOrStdout())
		},
	}
}

func killTaskOrJob(ctx context.Context, c *client.Client, id string, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := batchapi.NewClient(c).Kill(ctx, id)
	if err == nil {
		fmt.Fprintf(w, "killing job %s\n", id)
		return nil
	}
	if !client.IsStatus(err, http.StatusNotFound) {
		return err
	}
	err = c.KillTask(ctx, id)
	if client.IsStatus(err, http.StatusNotFound) {
		return &exitError{code: 1, err: fmt.Errorf("no job or task named %q (see pando jobs, pando ps)", id)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "killing task %s\n", id)
	return nil
}

// agentRuntimes says which task runtimes an agent has, and why it lacks
// containers when it does ("wasm (no containers: ...)").
func agentRuntimes(a client.Agent) string {
	rts := a.Attributes["runtimes"]
	if why, ok := strings.CutPrefix(a.Attributes["container"], "unavailable: "); ok {
		return rts + " (no containers: " + why + ")"
	}
	return rts
}

// whyPending says why a job's instances wait: the framework's note and the
// offers it declined, by reason ("declined 12 offers: too small: mem 12").
func whyPending(j batchapi.JobStatus) string {
	if j.Pending == 0 {
		return ""
	}
	parts := []string{}
	if j.Why != "" {
		parts = append(parts, j.Why)
	}
	if j.Declined != nil && j.Declined.Offers > 0 {
		parts = append(parts, "declined "+j.Declined.String())
	}
	return strings.Join(parts, "; ")
}
