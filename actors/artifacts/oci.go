package artifacts

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// Image is one image an OCI image tarball holds.
type Image struct {
	// Name is the image's reference ("busybox:latest"), from the index's
	// io.containerd.image.name or org.opencontainers.image.ref.name
	// annotation; "" when the tarball does not name it.
	Name string `json:"name"`
	// ManifestDigest is the image's manifest (or index) digest.
	ManifestDigest string `json:"manifest_digest"`
	// Platforms the image runs on ("linux/amd64"); several for a
	// multi-platform index.
	Platforms []string `json:"platforms"`
}

// maxMetadataSize bounds an index, manifest or config blob: they are small
// JSON documents, and only they are held in memory while inspecting.
const maxMetadataSize = 4 << 20

// InspectOCI reads an OCI image-layout tarball (as `docker save` in OCI
// mode, `skopeo copy oci-archive:`, or examples/images/busybox make) and
// lists the images it holds. It checks what an import into containerd
// would need: the oci-layout marker, an index.json, and for each image a
// manifest and config present in blobs/ with matching digests, and every
// layer present. The error says, for a person, what is wrong.
func InspectOCI(r io.Reader) ([]Image, error) {
	var (
		layout   bool
		index    []byte
		metadata = map[string][]byte{} // small blobs by digest
		present  = map[string]bool{}   // every blob by digest
	)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not an OCI image tarball: reading the tar: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch {
		case name == "oci-layout":
			layout = true
		case name == "index.json":
			if index, err = readSmall(tr, hdr, name); err != nil {
				return nil, err
			}
		case strings.HasPrefix(name, "blobs/sha256/"):
			digest := "sha256:" + strings.TrimPrefix(name, "blobs/sha256/")
			if _, err := ParseDigest(digest); err != nil {
				return nil, fmt.Errorf("not an OCI image tarball: blob %s is not named by its digest", name)
			}
			present[digest] = true
			if hdr.Size <= maxMetadataSize {
				data, err := readSmall(tr, hdr, name)
				if err != nil {
					return nil, err
				}
				if got := Digest(data); got != digest {
					return nil, fmt.Errorf("corrupt OCI image tarball: blob %s holds content of digest %s", name, got)
				}
				metadata[digest] = data
			}
		}
	}
	if !layout || index == nil {
		return nil, errors.New("not an OCI image tarball: it has no oci-layout and index.json at its top " +
			"(make one with `skopeo copy docker-daemon:IMAGE oci-archive:FILE.tar`, or `go run ./examples/images/busybox`)")
	}
	var idx ociIndex
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, fmt.Errorf("corrupt OCI image tarball: index.json: %w", err)
	}
	if len(idx.Manifests) == 0 {
		return nil, errors.New("the OCI image tarball holds no image: its index.json lists no manifests")
	}
	images := make([]Image, 0, len(idx.Manifests))
	for _, desc := range idx.Manifests {
		img := Image{Name: imageName(desc.Annotations), ManifestDigest: desc.Digest}
		platforms, err := platformsOf(desc, metadata, present, 0)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", displayName(img), err)
		}
		img.Platforms = platforms
		images = append(images, img)
	}
	return images, nil
}

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant"`
	} `json:"platform"`
}

type ociIndex struct {
	Manifests []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	MediaType string          `json:"mediaType"`
	Config    ociDescriptor   `json:"config"`
	Layers    []ociDescriptor `json:"layers"`
	Manifests []ociDescriptor `json:"manifests"` // when it is an index
}

type ociConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant"`
}

// platformsOf follows a descriptor to its config(s) and returns the
// platforms it runs on, checking that every blob it names is present.
func platformsOf(desc ociDescriptor, metadata map[string][]byte, present map[string]bool, depth int) ([]string, error) {
	if depth > 2 {
		return nil, errors.New("its index nests too deep")
	}
	data, ok := metadata[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("its manifest %s is missing from blobs/", desc.Digest)
	}
	var m ociManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("its manifest %s is not JSON: %w", desc.Digest, err)
	}
	if len(m.Manifests) > 0 { // an index: one manifest per platform
		var out []string
		for _, sub := range m.Manifests {
			p, err := platformsOf(sub, metadata, present, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, p...)
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	cfgData, ok := metadata[m.Config.Digest]
	if !ok {
		return nil, fmt.Errorf("its config %s is missing from blobs/", m.Config.Digest)
	}
	for _, l := range m.Layers {
		if !present[l.Digest] {
			return nil, fmt.Errorf("its layer %s is missing from blobs/", l.Digest)
		}
	}
	var cfg ociConfig
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		return nil, fmt.Errorf("its config %s is not JSON: %w", m.Config.Digest, err)
	}
	if cfg.OS == "" || cfg.Architecture == "" {
		return nil, fmt.Errorf("its config %s names no os and architecture", m.Config.Digest)
	}
	p := cfg.OS + "/" + cfg.Architecture
	if cfg.Variant != "" {
		p += "/" + cfg.Variant
	}
	return []string{p}, nil
}

func imageName(annotations map[string]string) string {
	if n := annotations["io.containerd.image.name"]; n != "" {
		return n
	}
	return annotations["org.opencontainers.image.ref.name"]
}

func displayName(img Image) string {
	if img.Name != "" {
		return img.Name
	}
	return img.ManifestDigest
}

func readSmall(r io.Reader, hdr *tar.Header, name string) ([]byte, error) {
	if hdr.Size > maxMetadataSize {
		return nil, fmt.Errorf("not an OCI image tarball: %s is %d bytes, more than metadata can be", name, hdr.Size)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxMetadataSize))
	if err != nil {
		return nil, fmt.Errorf("not an OCI image tarball: reading %s: %w", name, err)
	}
	return data, nil
}
