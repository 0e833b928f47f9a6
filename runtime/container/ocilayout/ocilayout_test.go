package ocilayout_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pandodc/pando/runtime/container/ocilayout"
)

// readTar is the tarball's files by name.
func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
		if h.Typeflag == tar.TypeSymlink {
			files[h.Name] = []byte("-> " + h.Linkname)
		}
	}
}

func TestLayout(t *testing.T) {
	img := ocilayout.Image{
		Name:  "tiny:1",
		Files: []ocilayout.File{{Path: "bin/hello", Mode: 0o755, Content: []byte("#!/bin/sh\necho hi\n")}, {Path: "/bin/hi", Linkname: "hello"}},
		Cmd:   []string{"/bin/hello"},
	}
	var buf bytes.Buffer
	if err := ocilayout.Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	files := readTar(t, bytes.NewReader(buf.Bytes()))
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", files["oci-layout"])
	}
	var index ocispec.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations[ocispec.AnnotationRefName] != "tiny:1" {
		t.Fatalf("index = %+v, want one manifest named tiny:1", index)
	}
	blob := func(d ocispec.Descriptor) []byte {
		b, ok := files["blobs/sha256/"+d.Digest.Encoded()]
		if !ok || int64(len(b)) != d.Size || d.Digest.Validate() != nil || d.Digest.Algorithm().FromBytes(b) != d.Digest {
			t.Fatalf("blob %s missing or not what its descriptor says", d.Digest)
		}
		return b
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(blob(index.Manifests[0]), &m); err != nil {
		t.Fatal(err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(blob(m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != goruntime.GOOS || cfg.Architecture != goruntime.GOARCH || cfg.Config.Cmd[0] != "/bin/hello" {
		t.Errorf("config = %+v, want the host's platform and the command", cfg)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	if cfg.RootFS.DiffIDs[0] != m.Config.Digest.Algorithm().FromBytes(raw) {
		t.Error("the config's diff id is not the digest of the uncompressed layer")
	}
	layer := readTar(t, bytes.NewReader(raw))
	if string(layer["bin/hello"]) != "#!/bin/sh\necho hi\n" || string(layer["bin/hi"]) != "-> hello" {
		t.Errorf("layer = %v", layer)
	}
	if _, ok := layer["bin/"]; !ok {
		t.Error("the layer lacks the parent directory bin/")
	}
}

func TestDeterministic(t *testing.T) {
	img, err := ocilayout.Busybox("busybox:latest", "")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	a, err := ocilayout.WriteFile(filepath.Join(dir, "a.tar"), img)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ocilayout.WriteFile(filepath.Join(dir, "b.tar"), img)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("two writes of one image differ: %s, %s", a, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.tar.tmp")); !os.IsNotExist(err) {
		t.Error("the temporary file was left")
	}
}

func TestNoImages(t *testing.T) {
	if err := ocilayout.Write(io.Discard); err == nil {
		t.Error("Write of no images succeeded")
	}
}
