package batch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pandodc/pando/sdk/client"
)

// Leaser keeps a job's artifacts (module, image, inputs) from the master's
// artifact collection for the job's lifetime. *client.Client is one.
type Leaser interface {
	LeaseArtifacts(ctx context.Context, holder string, digests []string, ttl time.Duration) error
	ReleaseArtifacts(ctx context.Context, holder string) error
}

// leaseTTL is how long a lease lasts unrenewed: a framework that is gone
// longer lets its artifacts go. Leases are renewed at a third of it.
const leaseTTL = time.Hour

// leaseHolder names a job's lease on the master.
func (f *Framework) leaseHolder(jobID string) string {
	return "batch/" + f.cfg.FrameworkName + "/" + jobID
}

// jobDigests are the artifacts a job's tasks name.
func jobDigests(spec JobSpec) []string {
	var out []string
	if spec.Container != nil {
		out = append(out, spec.Container.Image)
	} else {
		out = append(out, spec.Module)
	}
	for _, in := range spec.Inputs {
		out = append(out, in.Digest)
	}
	for _, in := range spec.Each {
		out = append(out, in.Digest)
	}
	return out
}

// lease takes the job's lease before it is accepted; an artifact the
// master does not hold is the submitter's mistake.
func (f *Framework) lease(ctx context.Context, jobID string, spec JobSpec) error {
	if f.cfg.Leases == nil {
		return nil
	}
	err := f.cfg.Leases.LeaseArtifacts(ctx, f.leaseHolder(jobID), jobDigests(spec), leaseTTL)
	if client.IsStatus(err, http.StatusNotFound) {
		var api *client.APIError
		errors.As(err, &api)
		return fmt.Errorf("%w: %s", ErrInvalid, api.Message)
	}
	if err != nil {
		return fmt.Errorf("batch: keeping the job's artifacts on the master: %w", err)
	}
	return nil
}

// release lets the master collect an ended job's artifacts (after its
// grace period).
func (f *Framework) release(jobID string) {
	if f.cfg.Leases == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.cfg.Leases.ReleaseArtifacts(ctx, f.leaseHolder(jobID)); err != nil {
		f.log.Warn("releasing a job's artifacts (they go when the lease expires)", "job", jobID, "error", err)
	}
}

// renewLoop renews the leases of the jobs that have not ended, at once
// (after a restart of the framework or of the master) and every third of
// their time to live.
func (f *Framework) renewLoop() {
	defer f.persistWG.Done()
	for {
		f.mu.Lock()
		live := map[string]JobSpec{}
		for id, j := range f.jobs {
			if !j.done() {
				live[id] = j.spec
			}
		}
		f.mu.Unlock()
		for id, spec := range live {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := f.cfg.Leases.LeaseArtifacts(ctx, f.leaseHolder(id), jobDigests(spec), leaseTTL); err != nil {
				f.log.Warn("renewing a job's artifact lease", "job", id, "error", err)
			}
			cancel()
		}
		select {
		case <-f.closed:
			return
		case <-time.After(leaseTTL / 3):
		}
	}
}
