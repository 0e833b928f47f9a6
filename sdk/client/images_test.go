package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	busyTar = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	twoTar  = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestResolveImage(t *testing.T) {
	images := []Image{
		{Name: "busybox:latest", Digest: busyTar, Size: 1},
		{Name: "alpine:3", Digest: twoTar},
		{Name: "redis:7", Digest: twoTar},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/images" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(images)
	}))
	defer srv.Close()
	c, _ := New(srv.URL)
	ctx := context.Background()
	for ref, want := range map[string]string{"busybox:latest": "busybox:latest", "busybox": "busybox:latest", busyTar: "busybox:latest", "redis:7": "redis:7"} {
		im, err := c.ResolveImage(ctx, ref)
		if err != nil || im.Name != want {
			t.Errorf("ResolveImage(%q) = %+v, %v; want %s", ref, im, err, want)
		}
	}
	for ref, want := range map[string]string{
		"nginx":                  "has alpine:3, busybox:latest, redis:7",
		twoTar:                   "holds 2 images (alpine:3, redis:7)",
		"sha256:" + busyTar[8:9]: "no image tarball",
		"":                       "empty image reference",
	} {
		if _, err := c.ResolveImage(ctx, ref); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ResolveImage(%q) error %v, want it to say %q", ref, err, want)
		}
	}
}

func TestResolveImageWithoutImageList(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c, _ := New(srv.URL)
	if im, err := c.ResolveImage(context.Background(), busyTar); err != nil || im.Digest != busyTar {
		t.Fatalf("by digest on an old master: %+v, %v", im, err)
	}
	if _, err := c.ResolveImage(context.Background(), "busybox"); err == nil {
		t.Fatal("a name resolved without an image list")
	}
}
