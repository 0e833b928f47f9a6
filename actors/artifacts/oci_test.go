package artifacts

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// ociTar builds an OCI image-layout tarball holding one image per name,
// each with one layer; mutate may edit the files before they are written.
func ociTar(t *testing.T, arch string, names []string, mutate func(files map[string][]byte)) []byte {
	t.Helper()
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)}
	blob := func(data []byte) string {
		d := Digest(data)
		files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] = data
		return d
	}
	var index struct {
		SchemaVersion int              `json:"schemaVersion"`
		Manifests     []map[string]any `json:"manifests"`
	}
	index.SchemaVersion = 2
	for _, name := range names {
		layer := blob([]byte("layer of " + name))
		config := blob([]byte(`{"architecture":"` + arch + `","os":"linux","config":{"Cmd":["sh"]}}`))
		manifest, _ := json.Marshal(map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.image.manifest.v1+json",
			"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config},
			"layers":        []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer}},
		})
		index.Manifests = append(index.Manifests, map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": blob(manifest), "size": len(manifest),
			"annotations": map[string]string{"io.containerd.image.name": name},
		})
	}
	files["index.json"], _ = json.Marshal(index)
	if mutate != nil {
		mutate(files)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInspectOCI(t *testing.T) {
	images, err := InspectOCI(bytes.NewReader(ociTar(t, "amd64", []string{"busybox:latest", "tools:1"}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, img := range images {
		names = append(names, img.Name)
		if !slices.Equal(img.Platforms, []string{"linux/amd64"}) {
			t.Errorf("%s: platforms %v, want linux/amd64", img.Name, img.Platforms)
		}
		if _, err := ParseDigest(img.ManifestDigest); err != nil {
			t.Errorf("%s: manifest digest: %v", img.Name, err)
		}
	}
	if !slices.Equal(names, []string{"busybox:latest", "tools:1"}) {
		t.Errorf("names %v", names)
	}
}

func TestInspectOCIRefusesMalformed(t *testing.T) {
	cases := map[string]struct {
		tarball []byte
		want    string
	}{
		"not a tar":   {[]byte("hello, I am not a tarball at all, but long enough to read a header from" + strings.Repeat(".", 600)), "not an OCI image tarball"},
		"no index":    {ociTar(t, "amd64", []string{"a"}, func(f map[string][]byte) { delete(f, "index.json") }), "no oci-layout and index.json"},
		"empty index": {ociTar(t, "amd64", []string{"a"}, func(f map[string][]byte) { f["index.json"] = []byte(`{"manifests":[]}`) }), "lists no manifests"},
		"corrupt blob": {ociTar(t, "amd64", []string{"a"}, func(f map[string][]byte) {
			for k := range f {
				if strings.HasPrefix(k, "blobs/") {
					f[k] = append(f[k], '!')
					return
				}
			}
		}), "holds content of digest"},
		"missing layer": {ociTar(t, "amd64", []string{"a"}, func(f map[string][]byte) {
			delete(f, "blobs/sha256/"+strings.TrimPrefix(Digest([]byte("layer of a")), "sha256:"))
		}), "layer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := InspectOCI(bytes.NewReader(tc.tarball))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// openCatalog opens a store and its image catalog in dir.
func openCatalog(t *testing.T, dir string) (*Store, *Images) {
	t.Helper()
	store, err := OpenStore(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := OpenImages(store, filepath.Join(dir, "images.json"))
	if err != nil {
		t.Fatal(err)
	}
	return store, catalog
}

func TestImagesImportListAndRetag(t *testing.T) {
	dir := t.TempDir()
	store, catalog := openCatalog(t, dir)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	first := ociTar(t, "amd64", []string{"busybox:latest"}, nil)
	added, err := catalog.Import(bytes.NewReader(first), 1<<20, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 || added[0].Digest != Digest(first) || added[0].Size != int64(len(first)) {
		t.Fatalf("added %+v, want busybox:latest at %s", added, Digest(first))
	}
	if _, err := store.Path(added[0].Digest); err != nil {
		t.Fatalf("the tarball is not in the store: %v", err)
	}
	// The same name from another tarball replaces the first.
	second := ociTar(t, "arm64", []string{"busybox:latest", "other:2"}, nil)
	if _, err := catalog.Import(bytes.NewReader(second), 1<<20, now); err != nil {
		t.Fatal(err)
	}
	reopened, err := OpenImages(store, filepath.Join(dir, "images.json"))
	if err != nil {
		t.Fatal(err)
	}
	list := reopened.List()
	if len(list) != 2 || list[0].Name != "busybox:latest" || list[0].Digest != Digest(second) || list[1].Name != "other:2" {
		t.Fatalf("after retag and reopen: %+v", list)
	}
	if !slices.Equal(list[0].Platforms, []string{"linux/arm64"}) {
		t.Errorf("platforms %v", list[0].Platforms)
	}
}

func TestImagesImportLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	store, _ := OpenStore(filepath.Join(dir, "artifacts"))
	catalog, _ := OpenImages(store, filepath.Join(dir, "images.json"))
	bad := ociTar(t, "amd64", []string{"a"}, func(f map[string][]byte) { delete(f, "oci-layout") })
	if _, err := catalog.Import(bytes.NewReader(bad), 1<<20, time.Now()); err == nil {
		t.Fatal("a tarball without oci-layout was imported")
	}
	big := ociTar(t, "amd64", []string{"a"}, nil)
	if _, err := catalog.Import(bytes.NewReader(big), 100, time.Now()); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("an upload over the limit: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("the store keeps %d files after refused imports", len(entries))
	}
	if len(catalog.List()) != 0 {
		t.Errorf("the catalog lists %v", catalog.List())
	}
}
