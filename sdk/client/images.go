package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Images lists the images the master holds.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	var out []Image
	return out, c.Do(ctx, http.MethodGet, "/api/v1/images", nil, &out)
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

// ResolveImage finds the image a reference names: an image name as
// imported ("busybox:latest"; "busybox" means "busybox:latest"), or the
// content address of a tarball that holds exactly one image.
func (c *Client) ResolveImage(ctx context.Context, ref string) (Image, error) {
	images, err := c.Images(ctx)
	if err != nil {
		return Image{}, err
	}
	return FindImage(images, ref)
}

// FindImage is ResolveImage on a list already fetched.
func FindImage(images []Image, ref string) (Image, error) {
	var byDigest []Image
	for _, img := range images {
		if img.Name == ref || (!strings.Contains(lastPart(ref), ":") && img.Name == ref+":latest") {
			return img, nil
		}
		if img.Digest == ref {
			byDigest = append(byDigest, img)
		}
	}
	switch len(byDigest) {
	case 1:
		return byDigest[0], nil
	case 0:
		names := make([]string, 0, len(images))
		for _, img := range images {
			names = append(names, img.Name)
		}
		if len(names) == 0 {
			return Image{}, fmt.Errorf("no image %q: the master holds no images; import one with `pando image import FILE.tar`", ref)
		}
		return Image{}, fmt.Errorf("no image %q on the master (it holds: %s); import it with `pando image import FILE.tar`", ref, strings.Join(names, ", "))
	default:
		return Image{}, fmt.Errorf("tarball %s holds %d images; name one of them", ref, len(byDigest))
	}
}

// lastPart is what follows the last "/" of an image reference: a ":" there
// is a tag, while one before it may be a registry's port.
func lastPart(ref string) string {
	return ref[strings.LastIndex(ref, "/")+1:]
}
