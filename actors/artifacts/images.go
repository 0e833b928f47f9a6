package artifacts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/pandodc/pando/sdk/client"

	"github.com/pandodc/pando/internal/atomicfile"
)

// Images is the master's catalog of imported OCI image tarballs: the
// tarballs themselves are artifacts of the Store, and the catalog maps the
// image names they hold to them. It is kept in one JSON file beside the
// store, rewritten atomically on each import.
type Images struct {
	store *Store
	file  string

	mu     sync.Mutex
	images []client.Image // sorted by name, then digest
}

// OpenImages opens (creating if needed) the catalog of store, kept in file.
func OpenImages(store *Store, file string) (*Images, error) {
	c := &Images{store: store, file: file}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image catalog: %w", err)
	}
	if err := json.Unmarshal(data, &c.images); err != nil {
		return nil, fmt.Errorf("image catalog %s is corrupt (%w); move it away to start with no images", file, err)
	}
	return c, nil
}

// Import stores an OCI image tarball streamed from r (at most limit bytes)
// and records the images it holds. A tarball that is not a well-formed OCI
// image layout is refused and nothing is kept. Importing an image name
// again points it at the new tarball, as `docker load` retags.
func (c *Images) Import(r io.Reader, limit int64, now time.Time) ([]client.Image, error) {
	var found []Image
	digest, size, err := c.store.PutStream(r, limit, func(f *os.File) error {
		var err error
		found, err = InspectOCI(f)
		return err
	})
	if err != nil {
		return nil, err
	}
	added := make([]client.Image, 0, len(found))
	for _, img := range found {
		name := img.Name
		if name == "" {
			// An unnamed image is still runnable by its tarball's digest.
			name = digest
		}
		added = append(added, client.Image{
			Name: name, Digest: digest, ManifestDigest: img.ManifestDigest,
			Platforms: img.Platforms, Size: size, ImportedAt: now.UTC(),
		})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(c.images), func(old client.Image) bool {
		return slices.ContainsFunc(added, func(n client.Image) bool { return n.Name == old.Name })
	})
	next = append(next, added...)
	sortImages(next)
	if err := c.save(next); err != nil {
		return nil, err
	}
	c.images = next
	return added, nil
}

// Adopt merges the leader's catalog into this (a stand-by's) one, as
// MergeCatalog says: only images whose tarball this store holds. It
// returns whether the catalog changed.
func (c *Images) Adopt(leader []client.Image) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next, changed := MergeCatalog(c.images, leader, func(digest string) bool {
		_, err := c.store.Path(digest)
		return err == nil
	})
	if !changed {
		return false, nil
	}
	if err := c.save(next); err != nil {
		return false, err
	}
	c.images = next
	return true, nil
}

// List returns every image, sorted by name.
func (c *Images) List() []client.Image {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.images)
}

func (c *Images) save(images []client.Image) error {
	data, err := json.MarshalIndent(images, "", "  ")
	if err != nil {
		return fmt.Errorf("image catalog: %w", err)
	}
	if err := atomicfile.Write(c.file, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("image catalog: %w", err)
	}
	return nil
}
