package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/internal/httpjson"
	"github.com/pandodc/pando/sdk/client"
)

// DefaultMirrorInterval is how often a stand-by master copies what it
// lacks of the leader's artifacts and image catalog
// (HAOptions.MirrorInterval).
const DefaultMirrorInterval = time.Second

// mirrorListTimeout bounds one read of the leader's listings; a download
// runs as long as it needs, until the leader changes.
const mirrorListTimeout = 5 * time.Second

// mirrorLeader runs while this master stands by: every MirrorInterval it
// fetches the leader's artifacts it does not hold (artifacts.MissingArtifacts
// decides) and adopts the leader's image catalog, so that after a
// failover the new leader serves what was uploaded to the old one. It ends
// when this master leads, loses its place, or stops.
func (m *Master) mirrorLeader() {
	h := m.ha
	defer close(h.mirrorDone)
	tick := time.NewTicker(cmp.Or(h.mirrorInterval, DefaultMirrorInterval))
	defer tick.Stop()
	lastErr := ""
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.leading:
			return
		case <-h.lost:
			return
		case <-tick.C:
		}
		st := m.State()
		if st.Leader || st.LeaderURL == "" || st.LeaderURL == m.URL {
			continue
		}
		fetched, err := m.mirrorOnce(st.LeaderURL)
		if fetched > 0 {
			m.logger.Info("master: mirrored the leader's artifacts", "leader", st.LeaderID, "fetched", fetched)
		}
		// A failing leader fails every round: say so once, not every second.
		if why := fmt.Sprint(err); err != nil && why != lastErr {
			m.logger.Warn("master: cannot mirror the leader's artifacts; will retry", "leader", st.LeaderID, "error", err)
			lastErr = why
		} else if err == nil {
			lastErr = ""
		}
	}
}

// mirrorOnce is one round against the leader at leaderURL: it returns how
// many artifacts it fetched.
func (m *Master) mirrorOnce(leaderURL string) (int, error) {
	ctx, cancel := m.whileLeaderIs(leaderURL)
	defer cancel()
	leader, err := client.New(leaderURL)
	if err != nil {
		return 0, err
	}
	var theirs []client.Artifact
	if err := getWithin(ctx, leader, "/api/v1/artifacts", &theirs); err != nil {
		return 0, fmt.Errorf("listing the leader's artifacts: %w", err)
	}
	stored, err := m.Artifacts.List()
	if err != nil {
		return 0, err
	}
	ours := make(map[string]bool, len(stored))
	for d := range stored {
		ours[d] = true
	}
	fetched := 0
	var errs []error
	for _, a := range artifacts.MissingArtifacts(theirs, ours) {
		if err := m.fetchArtifact(ctx, leaderURL, a); err != nil {
			errs = append(errs, err)
			continue
		}
		fetched++
	}
	var images []client.Image
	if err := getWithin(ctx, leader, "/api/v1/images", &images); err != nil {
		errs = append(errs, fmt.Errorf("reading the leader's image catalog: %w", err))
	} else if _, err := m.Images.Adopt(images); err != nil {
		errs = append(errs, err)
	}
	return fetched, errors.Join(errs...)
}

// fetchArtifact streams artifact a from the leader into the store,
// verified against its digest.
func (m *Master) fetchArtifact(ctx context.Context, leaderURL string, a client.Artifact) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, leaderURL+"/api/v1/artifacts/"+a.Digest, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s from the leader: %w", a.Digest, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching %s from the leader: it answered %s", a.Digest, resp.Status)
	}
	if _, err := m.Artifacts.PutVerified(resp.Body, a.Digest, a.Size); err != nil {
		return fmt.Errorf("mirroring %s: %w", a.Digest, err)
	}
	return nil
}

// getWithin reads path from the leader as JSON, within mirrorListTimeout.
func getWithin(ctx context.Context, c *client.Client, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, mirrorListTimeout)
	defer cancel()
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// whileLeaderIs is a context that ends when the master stops, leads,
// loses its place, or learns of a leader other than leaderURL: a download
// from a leader that froze does not outlive its term.
func (m *Master) whileLeaderIs(leaderURL string) (context.Context, context.CancelFunc) {
	h := m.ha
	ctx, cancel := context.WithCancel(h.ctx)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-h.leading:
			case <-h.lost:
			case <-t.C:
				if m.State().LeaderURL == leaderURL {
					continue
				}
			}
			cancel()
			return
		}
	}()
	return ctx, cancel
}

// artifactMissing answers a download of an artifact this master lacks: a
// stand-by sends it to the leader, which may have it.
func (m *Master) artifactMissing(w http.ResponseWriter, r *http.Request) {
	if m.ha == nil || m.State().Leader {
		httpjson.Error(w, http.StatusNotFound, "no artifact %s on this master; upload it first", r.PathValue("digest"))
		return
	}
	m.standby(w, r)
}
