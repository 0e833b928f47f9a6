package artifacts

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/sdk/client"
)

func TestMissingArtifactsFetchesOnlyWhatIsLackingAndDropsNothing(t *testing.T) {
	a, b, c := digestOf("a"), digestOf("b"), digestOf("c")
	leader := []client.Artifact{
		{Digest: c, Size: 1}, {Digest: a, Size: 1}, {Digest: b, Size: 1},
		{Digest: c, Size: 1},                  // listed twice: fetched once
		{Digest: "sha256:../../etc", Size: 1}, // malformed: never a file name
		{Digest: "md5:abc", Size: 1},
	}
	local := map[string]bool{b: true, digestOf("only here"): true}
	got := MissingArtifacts(leader, local)
	want := []client.Artifact{{Digest: a, Size: 1}, {Digest: c, Size: 1}}
	slices.SortFunc(want, func(x, y client.Artifact) int { return strings.Compare(x.Digest, y.Digest) })
	if !slices.Equal(got, want) {
		t.Errorf("MissingArtifacts = %+v, want %+v", got, want)
	}
	if got := MissingArtifacts(nil, local); len(got) != 0 {
		t.Errorf("an empty leader: fetch %+v, want nothing (and nothing is dropped)", got)
	}
}

func TestMergeCatalogAdoptsOnlyStoredImages(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	old, tarball, notYet := digestOf("old"), digestOf("tarball"), digestOf("not yet")
	local := []client.Image{
		{Name: "busybox:latest", Digest: old, ImportedAt: at},
		{Name: "mine:1", Digest: old, ImportedAt: at},
	}
	leader := []client.Image{
		{Name: "busybox:latest", Digest: tarball, ImportedAt: at.Add(time.Hour)}, // retagged
		{Name: "new:1", Digest: tarball, ImportedAt: at},
		{Name: "later:1", Digest: notYet, ImportedAt: at}, // tarball not mirrored yet
	}
	stored := func(d string) bool { return d == old || d == tarball }
	merged, changed := MergeCatalog(local, leader, stored)
	var names []string
	for _, im := range merged {
		names = append(names, im.Name+"="+im.Digest[:12])
	}
	want := []string{"busybox:latest=" + tarball[:12], "mine:1=" + old[:12], "new:1=" + tarball[:12]}
	if !changed || !slices.Equal(names, want) {
		t.Errorf("merged %v (changed %v), want %v", names, changed, want)
	}
	if local[0].Digest != old {
		t.Errorf("MergeCatalog changed its input: %+v", local)
	}
	if again, changed := MergeCatalog(merged, leader, stored); changed || len(again) != len(merged) {
		t.Errorf("merging the same catalog again: changed %v, %d images", changed, len(again))
	}
}

func TestPutVerifiedKeepsOnlyTheAskedContent(t *testing.T) {
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("module bytes")
	if _, err := store.PutVerified(bytes.NewReader([]byte("other bytes")), Digest(data), 100); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("other bytes: %v, want ErrDigestMismatch", err)
	}
	if _, err := store.PutVerified(bytes.NewReader(data), Digest(data), 3); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v, want ErrTooLarge", err)
	}
	if list, _ := store.Artifacts(); len(list) != 0 {
		t.Fatalf("refused fetches left %+v", list)
	}
	n, err := store.PutVerified(bytes.NewReader(data), Digest(data), int64(len(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("PutVerified = %d, %v", n, err)
	}
	list, err := store.Artifacts()
	if err != nil || !slices.Equal(list, []client.Artifact{{Digest: Digest(data), Size: int64(len(data))}}) {
		t.Errorf("Artifacts = %+v, %v", list, err)
	}
}

func TestImagesAdoptPersists(t *testing.T) {
	dir := t.TempDir()
	store, catalog := openCatalog(t, dir)
	tarball, err := store.Put([]byte("a tarball"))
	if err != nil {
		t.Fatal(err)
	}
	leader := []client.Image{{Name: "busybox:latest", Digest: tarball}, {Name: "gone:1", Digest: digestOf("absent")}}
	if changed, err := catalog.Adopt(leader); err != nil || !changed {
		t.Fatalf("Adopt = %v, %v", changed, err)
	}
	reopened, err := OpenImages(store, filepath.Join(dir, "images.json"))
	if err != nil {
		t.Fatal(err)
	}
	if list := reopened.List(); len(list) != 1 || list[0].Name != "busybox:latest" || list[0].Digest != tarball {
		t.Errorf("after Adopt and reopen: %+v", list)
	}
}
