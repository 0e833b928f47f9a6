package artifacts

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// countingSource serves a Store and counts the fetches of each digest.
type countingSource struct {
	store *Store
	opens sync.Map // digest -> *atomic.Int32
}

func (s *countingSource) Open(_ context.Context, digest string) (io.ReadCloser, error) {
	n, _ := s.opens.LoadOrStore(digest, new(atomic.Int32))
	n.(*atomic.Int32).Add(1)
	return s.store.Open(digest)
}

func (s *countingSource) count(digest string) int32 {
	n, ok := s.opens.Load(digest)
	if !ok {
		return 0
	}
	return n.(*atomic.Int32).Load()
}

func tarOf(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := TarDir(&buf, dir); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInputsFetchOnceAndShareOneView(t *testing.T) {
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{store: store}
	cache, err := NewCache(t.TempDir(), src)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := store.Put([]byte("a,b\n1,2\n"))
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "one.txt"), []byte("one"), 0o644)
	os.WriteFile(filepath.Join(tree, "sub", "two.txt"), []byte("two"), 0o644)
	archive, _ := store.Put(tarOf(t, tree))
	if again, _ := store.Put(tarOf(t, tree)); again != archive {
		t.Fatalf("the same tree archived twice has digests %s and %s: archives must be reproducible", archive, again)
	}
	inputs := []*kernelpb.Input{
		{Digest: file, Path: "/input/data.csv"},
		{Digest: archive, Path: "/input/corpus", Archive: true},
	}

	const callers = 50
	results := make([][]Mount, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = cache.Inputs(context.Background(), inputs) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if len(results[i]) != 2 || results[i][0] != results[0][0] || results[i][1] != results[0][1] {
			t.Fatalf("caller %d got mounts %v, caller 0 %v: one set of inputs, one view", i, results[i], results[0])
		}
	}
	for _, d := range []string{file, archive} {
		if n := src.count(d); n != 1 {
			t.Errorf("%s fetched %d times by %d concurrent tasks, want once", d, n, callers)
		}
	}
	view, trees := results[0][0], results[0][1]
	if view.Target != "/input" || trees.Target != "/input/corpus" {
		t.Fatalf("mount targets %q, %q", view.Target, trees.Target)
	}
	if b, _ := os.ReadFile(filepath.Join(view.Source, "data.csv")); string(b) != "a,b\n1,2\n" {
		t.Errorf("view's data.csv holds %q", b)
	}
	if fi, err := os.Stat(filepath.Join(view.Source, "corpus")); err != nil || !fi.IsDir() {
		t.Errorf("the view has no directory where the archive is mounted: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(trees.Source, "sub", "two.txt")); string(b) != "two" {
		t.Errorf("unpacked sub/two.txt holds %q", b)
	}
}

func TestInputsRefuseBadInputs(t *testing.T) {
	store, _ := OpenStore(t.TempDir())
	// A source that lies: it serves other bytes than the digest's.
	liar := SourceFunc(func(context.Context, string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("not what you asked for")), nil
	})
	cache, _ := NewCache(t.TempDir(), liar)
	good, _ := store.Put([]byte("x"))
	cases := []struct {
		name   string
		inputs []*kernelpb.Input
		want   string
	}{
		{"a path outside /input", []*kernelpb.Input{{Digest: good, Path: "/etc/passwd"}}, "under /input/"},
		{"a path that climbs", []*kernelpb.Input{{Digest: good, Path: "/input/../etc"}}, "clean absolute path"},
		{"overlapping paths", []*kernelpb.Input{{Digest: good, Path: "/input/a"}, {Digest: good, Path: "/input/a/b"}}, "overlap"},
		{"a bad digest", []*kernelpb.Input{{Digest: "sha256:nope", Path: "/input/a"}}, "content address"},
		{"bytes that fail verification", []*kernelpb.Input{{Digest: good, Path: "/input/a"}}, "failed verification"},
	}
	for _, tc := range cases {
		_, err := cache.Inputs(context.Background(), tc.inputs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

func TestUntarRefusesEscapesAndLinks(t *testing.T) {
	entry := func(h *tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(h)
		tw.Close()
		return buf.Bytes()
	}
	cases := map[string]*tar.Header{
		"outside its directory":     {Name: "../escape", Typeflag: tar.TypeReg},
		"not a regular file":        {Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		"outside its directory ":    {Name: "/abs", Typeflag: tar.TypeReg},
		"not a regular file (hard)": {Name: "hard", Typeflag: tar.TypeLink, Linkname: "x"},
	}
	for want, h := range cases {
		dir := t.TempDir()
		err := Untar(bytes.NewReader(entry(h)), dir)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(strings.Split(want, " (")[0])) {
			t.Errorf("entry %q: error %v, want one saying %q", h.Name, err, want)
		}
	}
	link := t.TempDir()
	os.Symlink("/etc", filepath.Join(link, "etc"))
	if err := TarDir(io.Discard, link); err == nil || !strings.Contains(err.Error(), "not a regular file or directory") {
		t.Errorf("TarDir of a tree with a symbolic link: %v, want a refusal naming it", err)
	}
}

func TestInputsRefuseADirectoryThatPrefixesAnotherName(t *testing.T) {
	cache, _ := NewCache(t.TempDir(), SourceFunc(func(context.Context, string) (io.ReadCloser, error) {
		t.Error("fetched inputs that must be refused first")
		return nil, io.EOF
	}))
	d := Digest([]byte("x"))
	_, err := cache.Inputs(context.Background(), []*kernelpb.Input{{Digest: d, Path: "/input/corpus", Archive: true}, {Digest: d, Path: "/input/corpus2.txt"}})
	if err == nil || !strings.Contains(err.Error(), "rename one") {
		t.Errorf("error %v, want a refusal saying to rename one", err)
	}
}
