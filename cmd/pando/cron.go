package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/frameworks/cron"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/store"
)

// cronAPI is where the master serves the cron framework's Chronos API.
const cronAPI = "/api/v1/cron"

// startCron starts the cron framework beside the master and mounts its
// API under /api/v1/cron.
func startCron(m *node.Master, st store.Store, api *client.Client, logger *slog.Logger) (*cron.Framework, error) {
	c, err := cron.New(cron.Config{Store: st, Master: api, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("cron framework: %w", err)
	}
	if err := c.Start(sdk.Config{System: m.System.Actors, Master: m.PID, Logger: logger}); err != nil {
		return nil, fmt.Errorf("cron framework: %w", err)
	}
	m.Mux.Handle(cronAPI+"/", http.StripPrefix(cronAPI, c.Handler()))
	return c, nil
}

func newCronCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cron",
		Short: "Scheduled and dependent jobs (the cron framework, Chronos's API)",
	}
	var apiURL string
	cmd.PersistentFlags().StringVar(&apiURL, "api", "", "base URL of a `pando cron serve` (default: the master's, which serves the built-in one)")
	cronClient := func() (*client.Client, error) {
		if apiURL != "" {
			return client.New(apiURL)
		}
		return g.client()
	}
	do := func(cmd *cobra.Command, method, path string, body io.Reader, out any) error {
		c, err := cronClient()
		if err != nil {
			return err
		}
		return c.Do(cmd.Context(), method, cronAPI+"/v1/scheduler/"+path, body, out)
	}
	job := func(name string) string { return "job/" + url.PathEscape(name) }
	cmd.AddCommand(&cobra.Command{
		Use:   "add JOB.json",
		Short: "Add or replace the jobs of a file (one job or an array, parents first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			defer f.Close()
			jobs, err := cron.DecodeJobs(f)
			if err != nil {
				return usageError("%s: %v", args[0], err)
			}
			for i, j := range jobs {
				kind := cron.KindScheduled
				if len(j.Parents) > 0 {
					kind = cron.KindDependent
				}
				body, _ := json.Marshal(j)
				if err := do(cmd, http.MethodPost, kind, bytes.NewReader(body), nil); err != nil {
					return fmt.Errorf("%s: job %q not added (%d of %d added before it): %w", args[0], j.Name, i, len(jobs), err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s\n", j.Name)
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "ls",
		Short: "List the jobs, their schedules and counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var jobs []cron.JobView
			if err := do(cmd, http.MethodGet, "jobs", nil, &jobs); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), jobs, "NAME\tSCHEDULE\tNEXT\tOK\tERRORS\tSKIPPED\tACTIVE\tLAST SUCCESS\tLAST ERROR", func(w io.Writer) {
				for _, j := range jobs {
					when := j.Schedule
					if when == "" {
						when = "after " + strings.Join(j.Parents, ",")
					}
					next := "-"
					if !j.NextSlot.IsZero() && !j.Disabled {
						next = j.NextSlot.Local().Format(time.DateTime)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", j.Name, when, next, j.SuccessCount, j.ErrorCount,
						j.SkipCount, len(j.Active), orDash(j.LastSuccess), orDash(j.LastError))
				}
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "run NAME",
		Short: "Run a job now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return do(cmd, http.MethodPut, job(args[0]), nil, nil)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "history NAME",
		Short: "A job's ended runs, oldest first, and the active ones",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v cron.JobView
			if err := do(cmd, http.MethodGet, job(args[0]), nil, &v); err != nil {
				return err
			}
			runs := append(v.History, v.Active...)
			return g.print(cmd.OutOrStdout(), runs, "SLOT\tTRIGGER\tSTATE\tATTEMPT\tTASK\tENDED\tMESSAGE", func(w io.Writer) {
				for _, r := range runs {
					state, ended := r.State, "-"
					if r.Slots > 1 {
						state = fmt.Sprintf("%s (%d slots)", state, r.Slots)
					}
					if !r.Ended.IsZero() {
						ended = r.Ended.Local().Format(time.DateTime)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Slot.Local().Format(time.DateTime), r.Trigger, state, r.Attempt, orDash(r.TaskID), ended, strings.Trim(r.Note+"; "+r.Message, "; "))
				}
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a job (and kill its running tasks)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return do(cmd, http.MethodDelete, job(args[0]), nil, nil)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "graph",
		Short: "The jobs' dependency graph in Graphviz's DOT (JSON with --json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.json {
				var gr cron.Graph
				if err := do(cmd, http.MethodGet, "graph/json", nil, &gr); err != nil {
					return err
				}
				return g.print(cmd.OutOrStdout(), gr, "", nil)
			}
			c, err := cronClient()
			if err != nil {
				return err
			}
			body, err := c.Stream(cmd.Context(), cronAPI+"/v1/scheduler/graph/dot")
			if err != nil {
				return err
			}
			defer body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), body)
			return err
		},
	})
	cmd.AddCommand(newCronServeCmd(g))
	return cmd
}

// newCronServeCmd runs the cron framework in a process of its own, as a
// third-party framework runs (for a master started with --no-frameworks).
func newCronServeCmd(g *globals) *cobra.Command {
	var statePath, httpAddr, name string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the cron framework in its own process (pando dev and pando master run one already)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			st, err := store.OpenBolt(statePath)
			if err != nil {
				return err
			}
			defer st.Close()
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			fw, err := cron.New(cron.Config{Store: st, Master: api, Logger: logger, FrameworkName: name})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", httpAddr)
			if err != nil {
				return usageError("--http: %v", err)
			}
			srv := &http.Server{Handler: http.StripPrefix(cronAPI, fw.Handler()), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			if err := fw.Start(sdk.Config{MasterURL: api.Base(), Logger: logger}); err != nil {
				return err
			}
			defer fw.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "cron framework %q: API at http://%s%s (pando cron --api http://%s ...)\n", name, ln.Addr(), cronAPI, ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&statePath, "state", "cron.db", "file keeping the jobs, their histories and the framework id")
	cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:5052", "address of the cron API")
	cmd.Flags().StringVar(&name, "name", "cron", "framework name")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
