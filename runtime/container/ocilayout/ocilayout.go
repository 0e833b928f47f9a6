package ocilayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one entry of an image's single layer.
type File struct {
	// Path inside the image, absolute or relative to its root ("bin/sh").
	Path string
	// Mode holds the permission bits (and fs.ModeDir for a directory).
	Mode os.FileMode
	// Content of a regular file.
	Content []byte
	// Linkname makes the entry a symbolic link to it.
	Linkname string
}

// Image is one image of a tarball.
type Image struct {
	// Name is its reference in the tarball ("busybox:latest"), written as
	// the org.opencontainers.image.ref.name annotation.
	Name string
	// OS and Architecture default to the host's (runtime.GOOS/GOARCH).
	OS, Architecture string
	Files            []File
	Entrypoint, Cmd  []string
	// Env defaults to PATH=/bin:/usr/bin.
	Env        []string
	WorkingDir string
	// Annotations are added to its entry in index.json (e.g.
	// io.containerd.image.name, as containerd's exports name images).
	Annotations map[string]string
}

// epoch is the time of every file and of the config, for reproducible bytes.
var epoch = time.Unix(0, 0).UTC()

// Write writes an OCI image-layout tarball holding images to w.
func Write(w io.Writer, images ...Image) error {
	if len(images) == 0 {
		return fmt.Errorf("writing an OCI layout: no images given")
	}
	blobs := map[digest.Digest][]byte{}
	add := func(mediaType string, b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		blobs[d] = b
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	}
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, img := range images {
		layer, diffID, err := layerOf(img.Files)
		if err != nil {
			return fmt.Errorf("writing image %s: %w", img.Name, err)
		}
		osName, arch := img.OS, img.Architecture
		if osName == "" {
			osName = goruntime.GOOS
		}
		if arch == "" {
			arch = goruntime.GOARCH
		}
		env := img.Env
		if env == nil {
			env = []string{"PATH=/bin:/usr/bin"}
		}
		created := epoch
		config, err := json.Marshal(ocispec.Image{
			Created:  &created,
			Platform: ocispec.Platform{OS: osName, Architecture: arch},
			Config: ocispec.ImageConfig{
				Env: env, Entrypoint: img.Entrypoint, Cmd: img.Cmd, WorkingDir: img.WorkingDir,
			},
			RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		})
		if err != nil {
			return err
		}
		manifest, err := json.Marshal(ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    add(ocispec.MediaTypeImageConfig, config),
			Layers:    []ocispec.Descriptor{add(ocispec.MediaTypeImageLayerGzip, layer)},
		})
		if err != nil {
			return err
		}
		desc := add(ocispec.MediaTypeImageManifest, manifest)
		desc.Platform = &ocispec.Platform{OS: osName, Architecture: arch}
		if img.Name != "" || len(img.Annotations) > 0 {
			desc.Annotations = map[string]string{}
			for k, v := range img.Annotations {
				desc.Annotations[k] = v
			}
			if img.Name != "" {
				desc.Annotations[ocispec.AnnotationRefName] = img.Name
			}
		}
		index.Manifests = append(index.Manifests, desc)
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	put := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := put(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"`+ocispec.ImageLayoutVersion+`"}`)); err != nil {
		return fmt.Errorf("writing an OCI layout: %w", err)
	}
	if err := put("index.json", indexJSON); err != nil {
		return fmt.Errorf("writing an OCI layout: %w", err)
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
			return fmt.Errorf("writing an OCI layout: %w", err)
		}
	}
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, string(d))
	}
	sort.Strings(digests)
	for _, d := range digests {
		if err := put("blobs/sha256/"+digest.Digest(d).Encoded(), blobs[digest.Digest(d)]); err != nil {
			return fmt.Errorf("writing an OCI layout: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing an OCI layout: %w", err)
	}
	return nil
}

// WriteFile writes the tarball to path (atomically: a partial file never
// has the final name) and returns its content address, "sha256:<hex>".
func WriteFile(path string, images ...Image) (string, error) {
	var buf bytes.Buffer
	if err := Write(&buf, images...); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// layerOf is the gzipped tar of files and the digest of the tar itself
// (the config's diff id). Parent directories are added as needed.
func layerOf(files []File) (gz []byte, diffID digest.Digest, err error) {
	byPath := map[string]File{}
	for _, f := range files {
		p := strings.TrimPrefix(path.Clean("/"+f.Path), "/")
		if p == "" {
			return nil, "", fmt.Errorf("a file has no path")
		}
		f.Path = p
		byPath[p] = f
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = File{Path: dir, Mode: os.ModeDir | 0o755}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents sort before their children

	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, p := range paths {
		f := byPath[p]
		h := &tar.Header{Name: p, Mode: int64(f.Mode.Perm()), ModTime: epoch, Uname: "root", Gname: "root"}
		if f.Mode&os.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		switch {
		case f.Linkname != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Linkname, 0o777
		case f.Mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Content))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Content); err != nil {
				return nil, "", err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	diffID = digest.FromBytes(tarBuf.Bytes())
	var gzBuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gzBuf, gzip.BestSpeed)
	zw.ModTime = epoch
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gzBuf.Bytes(), diffID, nil
}
