package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// ErrImageNotFound is wrapped by ResolveImage's and FindImage's errors
// when the reference names no image, or names a tarball of several.
var ErrImageNotFound = errors.New("image not found")

// Images lists the container images the master holds.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	var out []Image
	return out, c.Do(ctx, http.MethodGet, "/api/v1/images", nil, &out)
}

// ResolveImage finds the image ref names among the master's images. ref
// is an image name ("busybox:latest"; "busybox" means "busybox:latest")
// or the content address of a tarball ("sha256:<hex>"), which must then
// hold exactly one image. The error says what the master has instead.
func (c *Client) ResolveImage(ctx context.Context, ref string) (Image, error) {
	if ref == "" {
		return Image{}, fmt.Errorf("%w: empty image reference: give a name like busybox:latest or a tarball digest sha256:<hex>", ErrImageNotFound)
	}
	images, err := c.Images(ctx)
	if err != nil {
		if IsStatus(err, http.StatusNotFound) && strings.HasPrefix(ref, "sha256:") {
			// A master without the image list still runs tarballs by digest.
			return Image{Digest: ref}, nil
		}
		return Image{}, fmt.Errorf("listing the master's images: %w", err)
	}
	return FindImage(images, ref)
}

// FindImage is ResolveImage on a list already fetched.
func FindImage(images []Image, ref string) (Image, error) {
	if strings.HasPrefix(ref, "sha256:") {
		var in []Image
		for _, im := range images {
			if im.Digest == ref {
				in = append(in, im)
			}
		}
		switch len(in) {
		case 0:
			return Image{}, fmt.Errorf("%w: the master has no image tarball %s (import it with `pando image import IMAGE.tar`; %s)", ErrImageNotFound, ref, available(images))
		case 1:
			return in[0], nil
		}
		return Image{}, fmt.Errorf("%w: tarball %s holds %d images (%s): give one of them by name", ErrImageNotFound, ref, len(in), names(in))
	}
	want := ref
	if !strings.Contains(want[strings.LastIndexByte(want, '/')+1:], ":") {
		want += ":latest"
	}
	for _, im := range images {
		if im.Name == ref || im.Name == want {
			return im, nil
		}
	}
	return Image{}, fmt.Errorf("%w: the master has no image %q (import its tarball with `pando image import IMAGE.tar`; %s)", ErrImageNotFound, ref, available(images))
}

func names(images []Image) string {
	out := make([]string, 0, len(images))
	for _, im := range images {
		out = append(out, im.Name)
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), ", ")
}

func available(images []Image) string {
	if len(images) == 0 {
		return "it has no images"
	}
	return "it has " + names(images)
}

// ImportImage uploads an OCI image tarball and returns the images it holds.
// The body is streamed: a large tarball is not held in memory.
func (c *Client) ImportImage(ctx context.Context, tarball io.Reader) ([]Image, error) {
	resp, err := c.send(ctx, http.MethodPost, "/api/v1/images", tarball, "application/x-tar")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []Image
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("POST /api/v1/images: reading the answer: %w", err)
	}
	return out, nil
}
