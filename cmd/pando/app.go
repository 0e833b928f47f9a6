package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/frameworks/services"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/store"
)

// startServices starts the services framework beside the master, with
// Marathon's API under services.APIPrefix.
func startServices(m *node.Master, st store.Store, api *client.Client, logger *slog.Logger) (*services.Framework, error) {
	svc, err := services.New(services.Config{Store: st, Master: api, Logger: logger})
	if err == nil {
		err = svc.Start(sdk.Config{System: m.System.Actors, Master: m.PID, Logger: logger})
	}
	if err != nil {
		return nil, fmt.Errorf("services framework: %w", err)
	}
	m.Mux.Handle(services.APIPrefix+"/", http.StripPrefix(services.APIPrefix, svc.Handler()))
	return svc, nil
}

// newAppCmd is `pando app`: the services framework's apps, through its
// Marathon API on the master.
func newAppCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Deploy and manage long-running services (Marathon-style apps)",
	}
	apps := func(cmd *cobra.Command, c *client.Client, method, path string, body, out any) error {
		var r io.Reader
		if body != nil {
			data, err := json.Marshal(body)
			if err != nil {
				return err
			}
			r = bytes.NewReader(data)
		}
		return c.Do(cmd.Context(), method, services.APIPrefix+path, r, out)
	}
	// change sends a change and prints the deployment it started.
	change := func(cmd *cobra.Command, method, path string, body any, what string) error {
		c, err := g.client()
		if err != nil {
			return err
		}
		var out map[string]string
		if err := apps(cmd, c, method, path, body, &out); err != nil {
			return err
		}
		if g.json {
			return g.print(cmd.OutOrStdout(), out, "", nil)
		}
		if out["deploymentId"] != "" {
			what += fmt.Sprintf(": version %s, %s", out["version"], out["deploymentId"])
		}
		fmt.Fprintln(cmd.OutOrStdout(), what)
		return nil
	}
	show := func(cmd *cobra.Command, id string) (services.AppStatus, error) {
		c, err := g.client()
		if err != nil {
			return services.AppStatus{}, err
		}
		var out struct {
			App services.AppStatus `json:"app"`
		}
		return out.App, apps(cmd, c, http.MethodGet, "/v2/apps"+appPath(id), nil, &out)
	}

	deploy := &cobra.Command{
		Use:   "deploy APP.json",
		Short: "Create an app, or deploy a new version of it (rolling)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(data, &fields); err != nil {
				return usageError("%s is not JSON: %v", args[0], err)
			}
			var id string
			if err := json.Unmarshal(fields["id"], &id); err != nil || id == "" {
				return usageError(`%s has no "id"`, args[0])
			}
			path := "/v2/apps" + appPath(id)
			if force, _ := cmd.Flags().GetBool("force"); force {
				path += "?force=true"
			}
			return change(cmd, http.MethodPut, path, fields, "deploying "+appPath(id))
		},
	}
	deploy.Flags().Bool("force", false, "deploy even while a deployment of the app is in progress (it is replaced)")
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List apps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var out struct {
				Apps []services.AppStatus `json:"apps"`
			}
			if err := apps(cmd, c, http.MethodGet, "/v2/apps", nil, &out); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), out.Apps, "ID\tINSTANCES\tHEALTHY\tDEPLOYING\tVERSION\tWAITING", func(w io.Writer) {
				for _, a := range out.Apps {
					fmt.Fprintf(w, "%s\t%d/%d\t%d\t%v\t%s\t%s\n", a.ID, a.TasksRunning, *a.Instances, a.TasksHealthy, len(a.Deployments) > 0, a.Version, a.Waiting)
				}
			})
		},
	}
	showCmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show an app: instances, health, versions, deployment progress",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := show(cmd, args[0])
			if err != nil {
				return err
			}
			c, _ := g.client()
			var vs struct {
				Versions []string `json:"versions"`
			}
			if err := apps(cmd, c, http.MethodGet, "/v2/apps"+appPath(args[0])+"/versions", nil, &vs); err != nil {
				return err
			}
			if g.json {
				return g.print(cmd.OutOrStdout(), map[string]any{"app": a, "versions": vs.Versions}, "", nil)
			}
			printApp(cmd.OutOrStdout(), a, vs.Versions)
			return nil
		},
	}
	scale := &cobra.Command{
		Use:   "scale ID N",
		Short: "Set an app's instance count (restarts nothing; replaces a deployment in progress)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return usageError("instances %q: want a whole number, 0 or more", args[1])
			}
			return change(cmd, http.MethodPut, "/v2/apps"+appPath(args[0])+"?force=true", map[string]int{"instances": n}, fmt.Sprintf("scaling %s to %d", appPath(args[0]), n))
		},
	}
	rollback := &cobra.Command{
		Use:   "rollback ID [VERSION]",
		Short: "Deploy an earlier version: VERSION, or undo the deployment in progress, or the version before",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := appPath(args[0])
			if len(args) == 2 {
				return change(cmd, http.MethodPut, "/v2/apps"+id, map[string]string{"version": args[1]}, "rolling "+id+" back to "+args[1])
			}
			a, err := show(cmd, id)
			if err != nil {
				return err
			}
			if len(a.Deployments) > 0 {
				d := a.Deployments[0]
				return change(cmd, http.MethodDelete, "/v2/deployments/"+d.ID, nil, "cancelling "+d.ID+" of "+id+", back to "+d.FromVersion)
			}
			c, _ := g.client()
			var vs struct {
				Versions []string `json:"versions"`
			}
			if err := apps(cmd, c, http.MethodGet, "/v2/apps"+id+"/versions", nil, &vs); err != nil {
				return err
			}
			if len(vs.Versions) < 2 {
				return fmt.Errorf("%s has one version only: nothing to roll back to", id)
			}
			return change(cmd, http.MethodPut, "/v2/apps"+id, map[string]string{"version": vs.Versions[1]}, "rolling "+id+" back to "+vs.Versions[1])
		},
	}
	rm := &cobra.Command{
		Use:   "rm ID",
		Short: "Kill an app's instances and delete it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return change(cmd, http.MethodDelete, "/v2/apps"+appPath(args[0]), nil, "deleting "+appPath(args[0]))
		},
	}
	cmd.AddCommand(deploy, ls, showCmd, scale, rollback, rm)
	return cmd
}

// appPath writes an app id as Marathon paths do: "/web".
func appPath(id string) string { return "/" + strings.Trim(id, "/") }

func printApp(w io.Writer, a services.AppStatus, versions []string) {
	fmt.Fprintf(w, "App:        %s\nVersion:    %s\nInstances:  %d running of %d (%d healthy, %d unhealthy, %d staging)\n",
		a.ID, a.Version, a.TasksRunning, *a.Instances, a.TasksHealthy, a.TasksUnhealthy, a.TasksStaged)
	for _, d := range a.Deployments {
		p := d.Progress
		fmt.Fprintf(w, "Deployment: %s to %s: %d of %d new healthy, %d old left (at least %d healthy, at most %d running)\n",
			d.ID, d.Version, p.NewHealthy, p.Target, p.Old, p.MinHealthy, p.MaxTotal)
	}
	if a.Waiting != "" {
		fmt.Fprintf(w, "Waiting:    %s\n", a.Waiting)
	}
	if a.LastTaskFailure != "" {
		fmt.Fprintf(w, "Last failure: %s\n", a.LastTaskFailure)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tHOST\tPORTS\tSTATE\tHEALTH\tVERSION")
	for _, in := range a.Tasks {
		health := "unknown"
		if len(a.HealthChecks) == 0 {
			health = "-" // no health check: running counts as healthy
		} else if in.Healthy != nil {
			health = map[bool]string{true: "healthy", false: "unhealthy"}[*in.Healthy]
		}
		ports := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(in.Ports)), ","), "[]")
		state := strings.TrimPrefix(in.State, "TASK_")
		if in.Killing {
			state += " (killing)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.Host, ports, state, health, in.Version)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nVersions (newest first): %s\n", strings.Join(versions, ", "))
}
