package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/actors/election/consultest"
	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/runtime/container/containerdtest"
	"github.com/pandodc/pando/sdk/client"
)

// noRedirects reads what a master answers itself: a stand-by that lacks
// an artifact would send the request to the leader.
var noRedirects = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// ownArtifacts is GET /api/v1/artifacts of m: the artifacts it holds itself.
func ownArtifacts(m *haMaster) ([]client.Artifact, error) {
	resp, err := noRedirects.Get(m.url + "/api/v1/artifacts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", m.id, resp.Status)
	}
	var list []client.Artifact
	return list, json.NewDecoder(resp.Body).Decode(&list)
}

// ownArtifact is GET /api/v1/artifacts/{digest} of m, without redirects.
func ownArtifact(m *haMaster, digest string) ([]byte, error) {
	resp, err := noRedirects.Get(m.url + "/api/v1/artifacts/" + digest)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", m.id, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func holds(list []client.Artifact, digest string) bool {
	return slices.ContainsFunc(list, func(a client.Artifact) bool { return a.Digest == digest })
}

// TestHAStandbysMirrorArtifacts: a module and an image tarball uploaded to
// the leader reach the stand-bys, which serve them themselves; after
// SIGKILL of the leader, the new one lists and serves them, keeps the
// image catalog, and a job naming the module by digest runs on an agent
// that never fetched it (the master that took the upload is gone).
func TestHAStandbysMirrorArtifacts(t *testing.T) {
	skipIfShort(t)
	consul := consultest.Start(t)
	bin := buildPando(t)
	l := newLab(t)
	masters := startHAMasters(l, bin, consul.Addr, 3)
	leader, epoch := leaderAmong(l, masters, 60*time.Second)
	var standbys []*haMaster
	var urls []string
	for _, m := range masters {
		urls = append(urls, m.url)
		if m != leader {
			standbys = append(standbys, m)
		}
	}
	lc, err := client.New(leader.url)
	if err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(wasmbuild.MustBuild(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	tarball, err := os.ReadFile(containerdtest.BusyboxTarball(t))
	if err != nil {
		t.Fatal(err)
	}

	uploaded := time.Now()
	art, err := call(func(ctx context.Context) (client.Artifact, error) { return lc.Upload(ctx, module, "wasm") })
	if err != nil {
		t.Fatal(err)
	}
	imported, err := call(func(ctx context.Context) ([]client.Image, error) {
		return lc.ImportImage(ctx, bytes.NewReader(tarball))
	})
	if err != nil || len(imported) != 1 {
		t.Fatalf("importing the busybox tarball: %+v, %v", imported, err)
	}
	image := imported[0]
	for _, m := range standbys {
		l.waitFor(20*time.Second, m.id+" holding the module and the tarball", func() (bool, string) {
			list, err := ownArtifacts(m)
			if err != nil {
				return false, err.Error()
			}
			return holds(list, art.Digest) && holds(list, image.Digest), fmt.Sprintf("%+v", list)
		})
		t.Logf("%s mirrored the upload (module %d B, tarball %d B) %s after it started", m.id, len(module), len(tarball), time.Since(uploaded).Round(time.Millisecond))
		got, err := ownArtifact(m, art.Digest)
		if err != nil || !bytes.Equal(got, module) {
			t.Fatalf("stand-by %s serving the module itself: %d bytes, %v; want the %d uploaded", m.id, len(got), err, len(module))
		}
	}
	// The catalog is copied once its tarball is there: give it one round.
	time.Sleep(1500 * time.Millisecond)

	killedAt := time.Now()
	leader.proc.kill()
	next, _, serving := newLeaderServing(l, standbys, epoch, killedAt)
	t.Logf("%s serves %s after the kill", next.id, serving.Round(time.Millisecond))
	if got, err := ownArtifact(next, art.Digest); err != nil || !bytes.Equal(got, module) {
		t.Errorf("the new leader serving the module: %d bytes, %v", len(got), err)
	}
	nc, err := client.New(next.url)
	if err != nil {
		t.Fatal(err)
	}
	images, err := call(nc.Images)
	if err != nil || !slices.ContainsFunc(images, func(im client.Image) bool {
		return im.Name == image.Name && im.Digest == image.Digest
	}) {
		t.Errorf("pando image ls on the new leader: %+v, %v; want %s at %s", images, err, image.Name, image.Digest)
	}
	if r := pando(t, bin, next.url, "image", "ls"); r.code != 0 || !strings.Contains(r.stdout, image.Name) {
		t.Errorf("pando image ls: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// An agent that never fetched the module runs a job naming it.
	l.start("pando agent-1", bin, "agent", "--master", strings.Join(urls, ","), "--hostname", "agent-1",
		"--http", freeAddr(t), "--remoting", freeAddr(t), "--work-dir", t.TempDir(),
		"--resources", "cpus:1;mem:512MiB", "--log-level", "info")
	waitAgents(l, next, 1)
	job, err := call(func(ctx context.Context) (batchapi.JobStatus, error) {
		return batchapi.NewClient(nc).Submit(ctx, batchapi.JobSpec{
			Name: "mirrored", Module: art.Digest, Instances: 1, Resources: "cpus:0.1;mem:32MiB",
		})
	})
	if err != nil {
		t.Fatalf("submitting a job naming the mirrored module: %v", err)
	}
	cl := &cluster{lab: l, bin: bin, url: next.url, c: nc}
	if j := cl.waitJobDone(job.ID, 30*time.Second); j.Finished != 1 || j.Failed != 0 {
		t.Errorf("the job on the mirrored module: %+v; want one instance finished", j)
	}
	t.Logf("the job on the mirrored module ended %s after the kill", time.Since(killedAt).Round(time.Millisecond))
}
