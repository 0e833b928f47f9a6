package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/actors/registry"
	"github.com/pandodc/pando/frameworks/batch"
	"github.com/pandodc/pando/frameworks/cron"
	"github.com/pandodc/pando/frameworks/services"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/store"
)

// builtins are the frameworks Pando ships, run in the master's process but
// talking to it only through sdk/, as any framework would.
type builtins struct {
	store    store.Store
	batch    *batch.Framework
	cron     *cron.Framework
	services *services.Framework
}

// startBuiltins starts the built-in frameworks against m, with their state
// in dataDir, and mounts their APIs on m's HTTP server.
func startBuiltins(m *node.Master, dataDir string, logger *slog.Logger) (*builtins, error) {
	// An elected master keeps its frameworks' state in the fenced
	// registry (Consul), where the master elected after it finds it; a
	// master alone keeps it in a file of its data dir, beside its own
	// registry's (which only it opens, so no write needs fencing).
	var st store.Store
	if reg := m.Registry(); reg != nil && m.Elected() {
		st = registry.AsStore(reg, "frameworks/")
	} else {
		bolt, err := store.OpenBolt(filepath.Join(dataDir, "frameworks.db"))
		if err != nil {
			return nil, err
		}
		st = bolt
	}
	// The master's HTTP API, as any framework would use it.
	api, err := client.New(m.URL)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("batch framework: %w", err)
	}
	b, err := batch.New(batch.Config{Store: st, Cluster: batch.APICluster(api), Leases: api, Logger: logger})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("batch framework: %w", err)
	}
	if err := b.Start(sdk.Config{System: m.System.Actors, Master: m.PID, Logger: logger}); err != nil {
		st.Close()
		return nil, fmt.Errorf("batch framework: %w", err)
	}
	m.Mux.Handle("/api/v1/batch/", http.StripPrefix("/api/v1/batch", b.Handler()))
	c, err := startCron(m, st, api, logger)
	if err != nil {
		b.Close()
		st.Close()
		return nil, err
	}
	svc, err := startServices(m, st, api, logger)
	if err != nil {
		c.Close()
		b.Close()
		st.Close()
		return nil, err
	}
	return &builtins{store: st, batch: b, cron: c, services: svc}, nil
}

func (b *builtins) Stop() error {
	b.services.Close()
	b.cron.Close()
	b.batch.Close()
	return b.store.Close()
}

// devCluster is what `pando dev` runs.
type devCluster struct {
	*node.Dev
	builtins *builtins
}

func startDev(ctx context.Context, opts node.DevOptions) (*devCluster, error) {
	dev, err := node.StartDev(ctx, opts)
	if err != nil {
		return nil, err
	}
	b, err := startBuiltins(dev.Master, opts.DataDir, opts.Logger)
	if err != nil {
		_ = dev.Stop(ctx)
		return nil, err
	}
	return &devCluster{Dev: dev, builtins: b}, nil
}

func (d *devCluster) Stop(ctx context.Context) error {
	return errors.Join(d.builtins.Stop(), d.Dev.Stop(ctx))
}

// masterProcess is what `pando master` runs.
type masterProcess struct {
	Master *node.Master

	mu       sync.Mutex
	builtins *builtins // nil until the master leads
}

// startMaster starts a master and, once it leads, the built-in frameworks
// (at once without HA; a stand-by waits for its election, or ctx).
func startMaster(ctx context.Context, opts node.MasterOptions, withFrameworks bool) (*masterProcess, error) {
	m, err := node.StartMaster(opts)
	if err != nil {
		return nil, err
	}
	p := &masterProcess{Master: m}
	if !withFrameworks {
		return p, nil
	}
	start := func() error {
		b, err := startBuiltins(m, opts.DataDir, opts.Logger)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.builtins = b
		p.mu.Unlock()
		return nil
	}
	if opts.HA == nil {
		if err := start(); err != nil {
			_ = m.Stop(context.Background())
			return nil, err
		}
		return p, nil
	}
	go func() {
		select {
		case <-m.Leading():
			if err := start(); err != nil {
				opts.Logger.Error("master: the built-in frameworks did not start", "error", err)
			}
		case <-m.Lost():
		case <-ctx.Done():
		}
	}()
	return p, nil
}

func (p *masterProcess) Stop(ctx context.Context) error {
	var err error
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.builtins != nil {
		err = p.builtins.Stop()
	}
	return errors.Join(err, p.Master.Stop(ctx))
}

func newFrameworksCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "frameworks",
		Short: "List frameworks, their share, and why they got no offers",
		Long: `List frameworks, their share, and why they got no offers.

WHY NO OFFERS is the reason of the last allocation round. NOT OFFERED counts
the rounds in which the framework got nothing, by reason (lower_share,
filtered_by_declines, suppressed, no_free_resources, below_minimum,
no_agents), and its tasks refused because the offers were too small, by
the resource they lacked ("too small: mem 3").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var fws []client.Framework
			if err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/frameworks", nil, &fws); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), fws, "ID\tNAME\tROLES\tCONNECTED\tSHARE\tTASKS\tWHY NO OFFERS\tNOT OFFERED", func(w io.Writer) {
				for _, f := range fws {
					why := f.Why
					if f.Adopted {
						why = "not subscribed since the master failed over"
						if f.RemoveAt != nil {
							why += fmt.Sprintf("; its tasks are killed at %s unless it does", f.RemoveAt.Local().Format(time.DateTime))
						}
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%.3f\t%d\t%s\t%s\n", f.ID, f.Name, strings.Join(f.Roles, ","), f.Connected, f.Share, f.Tasks, why, notOffered(f))
				}
			})
		},
	}
}

// notOffered prints a framework's counts, most frequent reason first:
// "lower_share 12, suppressed 2; too small: mem 3".
func notOffered(f client.Framework) string {
	out := counts(f.NotOffered)
	if small := counts(f.TooSmall); small != "" {
		if out != "" {
			out += "; "
		}
		out += "too small: " + small
	}
	return out
}

func counts(m map[string]uint64) string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s %d", name, m[name]))
	}
	return strings.Join(parts, ", ")
}
