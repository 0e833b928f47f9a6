package client

import (
	"strings"
	"testing"
)

func TestFindImage(t *testing.T) {
	images := []Image{
		{Name: "busybox:latest", Digest: "sha256:aa"},
		{Name: "registry:5000/tools:1", Digest: "sha256:bb"},
		{Name: "tools:2", Digest: "sha256:bb"},
		{Name: "sha256:cc", Digest: "sha256:cc"},
	}
	for ref, want := range map[string]string{
		"busybox:latest": "busybox:latest", "busybox": "busybox:latest", "sha256:aa": "busybox:latest",
		"registry:5000/tools:1": "registry:5000/tools:1", "sha256:cc": "sha256:cc",
	} {
		got, err := FindImage(images, ref)
		if err != nil || got.Name != want {
			t.Errorf("FindImage(%q) = %q, %v; want %q", ref, got.Name, err, want)
		}
	}
	for ref, want := range map[string]string{
		"nginx": "no image \"nginx\" on the master (it holds: busybox:latest", "sha256:bb": "holds 2 images",
		"registry:5000/tools": "no image",
	} {
		if _, err := FindImage(images, ref); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("FindImage(%q): %v, want an error containing %q", ref, err, want)
		}
	}
	if _, err := FindImage(nil, "x"); err == nil || !strings.Contains(err.Error(), "pando image import") {
		t.Errorf("empty catalog: %v", err)
	}
}
