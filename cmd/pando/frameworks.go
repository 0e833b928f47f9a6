package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/pandodc/pando/actors/node"
	"github.com/pandodc/pando/frameworks/batch"
	"github.com/pandodc/pando/sdk"
	"github.com/pandodc/pando/sdk/client"
	"github.com/pandodc/pando/sdk/store"
)

// builtins are the frameworks Pando ships, run in the master's process but
// talking to it only through sdk/, as any framework would.
type builtins struct {
	store store.Store
	batch *batch.Framework
}

// startBuiltins starts the built-in frameworks against m, with their state
// in dataDir, and mounts their APIs on m's HTTP server.
func startBuiltins(m *node.Master, dataDir string, logger *slog.Logger) (*builtins, error) {
	st, err := store.OpenBolt(filepath.Join(dataDir, "frameworks.db"))
	if err != nil {
		return nil, err
	}
	// The master's HTTP API, as any framework would use it.
	api, err := client.New(m.URL)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("batch framework: %w", err)
	}
	b, err := batch.New(batch.Config{Store: st, Cluster: batch.APICluster(api), Logger: logger})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("batch framework: %w", err)
	}
	if err := b.Start(sdk.Config{System: m.System.Actors, Master: m.PID, Logger: logger}); err != nil {
		st.Close()
		return nil, fmt.Errorf("batch framework: %w", err)
	}
	m.Mux.Handle("/api/v1/batch/", http.StripPrefix("/api/v1/batch", b.Handler()))
	return &builtins{store: st, batch: b}, nil
}

func (b *builtins) Stop() error {
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
	Master   *node.Master
	builtins *builtins
}

func startMaster(opts node.MasterOptions, withFrameworks bool) (*masterProcess, error) {
	m, err := node.StartMaster(opts)
	if err != nil {
		return nil, err
	}
	p := &masterProcess{Master: m}
	if withFrameworks {
		if p.builtins, err = startBuiltins(m, opts.DataDir, opts.Logger); err != nil {
			_ = m.Stop(context.Background())
			return nil, err
		}
	}
	return p, nil
}

func (p *masterProcess) Stop(ctx context.Context) error {
	var err error
	if p.builtins != nil {
		err = p.builtins.Stop()
	}
	return errors.Join(err, p.Master.Stop(ctx))
}
