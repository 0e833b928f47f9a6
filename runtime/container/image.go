package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageSet is what one tarball holds, once imported; ready is closed when
// the import has ended (err says how). users and lastUsed (guarded by the
// runtime's mu) keep it in containerd while launches and tasks use it and
// for a while after (CollectImages).
type imageSet struct {
	ready    chan struct{}
	err      error
	path     string
	byName   map[string]preparedImage // by the name in the tarball
	users    int                      // launches under way and their running tasks
	lastUsed time.Time
}

// preparedImage is an unpacked image and its config, read once.
type preparedImage struct {
	image  containerd.Image
	config ocispec.Image
}

// names lists the images of the set, sorted.
func (s *imageSet) names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// pick chooses the image named name ("" when the tarball holds one).
func (s *imageSet) pick(name string) (preparedImage, error) {
	if name == "" {
		if len(s.byName) == 1 {
			for _, img := range s.byName {
				return img, nil
			}
		}
		return preparedImage{}, fmt.Errorf("the image tarball %s holds %d images (%s): the task must name one", s.path, len(s.byName), strings.Join(s.names(), ", "))
	}
	for _, n := range []string{name, name + ":latest"} {
		if img, ok := s.byName[n]; ok {
			return img, nil
		}
	}
	return preparedImage{}, fmt.Errorf("the image tarball %s holds no image %q; it holds: %s", s.path, name, strings.Join(s.names(), ", "))
}

// Prepare imports the image tarball at path once per digest (concurrent
// callers of one digest wait for one import) and unpacks its images. A
// tarball that is not an image, or holds images for another platform, is an
// error naming it, and leaves nothing in containerd; a failed Prepare may be
// retried.
func (r *Runtime) Prepare(ctx context.Context, digest, path string) error {
	set, err := r.prepare(ctx, digest, path)
	if err == nil {
		r.release(set)
	}
	return err
}

// Imported says whether this runtime has imported the tarball of digest
// (since it started) and still holds its images: its tasks need the
// tarball no more, which an agent's cache may then have evicted. It counts
// as a use of the images, so that CollectImages (with a positive idle
// time) leaves them to the launch that follows.
func (r *Runtime) Imported(digest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	set, ok := r.images[digest]
	if !ok {
		return false
	}
	select {
	case <-set.ready:
		if set.err != nil {
			return false
		}
		set.lastUsed = time.Now()
		return true
	default:
		return false
	}
}

// release ends a use of the set that prepare acquired.
func (r *Runtime) release(set *imageSet) {
	r.mu.Lock()
	set.users--
	set.lastUsed = time.Now()
	r.mu.Unlock()
}

// CollectImages removes from containerd the images of every tarball that
// no launch or running task of this runtime uses and that none used for
// idle; containerd's collector then frees their content and snapshots
// (what a running container still stands on stays). The next task of such
// a tarball imports it again. An earlier run's images (of this Owner) that
// no task of this run used go once the runtime has run for idle. It
// returns the tarballs' digests; an earlier run's by the 16 hex digits
// their names keep. Another owner's images are left alone.
func (r *Runtime) CollectImages(ctx context.Context, idle time.Duration, now time.Time) ([]string, error) {
	r.mu.Lock()
	var digests []string
	var names [][]string // the image names of each of digests, in containerd
	if now.Sub(r.started) >= idle {
		for prefix, leftover := range r.leftovers {
			digests, names = append(digests, digestOfPrefix(prefix)), append(names, leftover)
		}
		r.leftovers = nil
	}
	for d, set := range r.images {
		select {
		case <-set.ready:
		default:
			continue // an import under way has a user
		}
		if set.users == 0 && set.err == nil && now.Sub(set.lastUsed) >= idle {
			delete(r.images, d) // a new user imports it again, after the removal (r.removing)
			var full []string
			for _, n := range set.names() {
				full = append(full, set.byName[n].image.Name())
			}
			digests, names = append(digests, d), append(names, full)
		}
	}
	r.mu.Unlock()
	if len(digests) == 0 {
		return nil, nil
	}
	r.removing.Lock()
	defer r.removing.Unlock()
	ctx = r.nsContext(ctx)
	is := r.client.ImageService()
	var errs []error
	for i := range digests {
		for j, n := range names[i] {
			var opts []images.DeleteOpt
			if i == len(digests)-1 && j == len(names[i])-1 {
				opts = append(opts, images.SynchronousDelete()) // the collector runs before we return
			}
			if err := is.Delete(ctx, n, opts...); ignoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("removing image %s of %s: %w", n, digests[i], err))
			}
		}
	}
	sort.Strings(digests)
	return digests, errors.Join(errs...)
}

// earlierImages lists the images of this owner in the namespace, by
// prefix: what an earlier run imported (none when the runtime has no
// Owner, as then it cannot tell its images from another's).
func (r *Runtime) earlierImages(ctx context.Context) (map[string][]string, error) {
	if r.cfg.Owner == "" {
		return nil, nil
	}
	list, err := r.client.ImageService().List(r.nsContext(ctx))
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	mine := "pando.import/" + r.cfg.Owner + "/"
	for _, img := range list {
		rest, ok := strings.CutPrefix(img.Name, mine)
		hexPart, _, ok2 := strings.Cut(rest, "/")
		if ok && ok2 {
			prefix := mine + hexPart + "/"
			out[prefix] = append(out[prefix], img.Name)
		}
	}
	return out, nil
}

// digestOfPrefix is the part of a tarball's digest an image prefix keeps.
func digestOfPrefix(prefix string) string {
	parts := strings.Split(strings.TrimSuffix(prefix, "/"), "/")
	return "sha256:" + parts[len(parts)-1]
}

func (r *Runtime) prepare(ctx context.Context, dgst, path string) (*imageSet, error) {
	if dgst == "" {
		d, err := fileDigest(path)
		if err != nil {
			return nil, err
		}
		dgst = d
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("preparing image %s: %w", path, errClosed)
	}
	set, ok := r.images[dgst]
	if !ok {
		set = &imageSet{ready: make(chan struct{}), path: path}
		r.images[dgst] = set
		r.imports++
		delete(r.leftovers, imagePrefix(r.cfg.Owner, dgst)) // the import takes their names over
	}
	set.users++ // in the same hold of mu as the lookup: CollectImages cannot take it now
	r.mu.Unlock()
	if ok {
		select {
		case <-set.ready:
			if set.err != nil {
				r.release(set)
			}
			return set, set.err
		case <-ctx.Done():
			r.release(set)
			return nil, fmt.Errorf("waiting for the import of %s: %w", path, ctx.Err())
		}
	}
	start := time.Now()
	r.removing.RLock() // not while CollectImages removes images of these names
	set.byName, set.err = r.importTarball(r.nsContext(ctx), dgst, path)
	r.removing.RUnlock()
	if set.err != nil {
		r.mu.Lock()
		delete(r.images, dgst) // let a later call try again
		r.mu.Unlock()
	} else {
		r.log.Info("image imported", "digest", dgst, "images", strings.Join(set.names(), ","), "took", time.Since(start))
	}
	close(set.ready)
	if set.err != nil {
		r.release(set)
	}
	return set, set.err
}

// importTarball imports and unpacks the tarball under a lease of its own;
// on failure it deletes the image records it made and the lease
// (synchronously, so that containerd's collector removes the content and
// snapshots before it returns).
func (r *Runtime) importTarball(ctx context.Context, dgst, path string) (_ map[string]preparedImage, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the image tarball: %w", err)
	}
	defer f.Close()

	ls := r.client.LeasesService()
	lease, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(time.Hour))
	if err != nil {
		return nil, fmt.Errorf("importing image tarball %s: taking a lease: %w", path, err)
	}
	ctx = leases.WithLease(ctx, lease.ID)
	var made []images.Image
	defer func() {
		cleanup := context.WithoutCancel(ctx)
		if err != nil {
			for _, img := range made {
				if e := r.client.ImageService().Delete(cleanup, img.Name); ignoreNotFound(e) != nil {
					r.log.Warn("removing an image of a failed import", "image", img.Name, "err", e)
				}
			}
		}
		if e := ls.Delete(cleanup, lease, leases.SynchronousDelete); ignoreNotFound(e) != nil {
			r.log.Warn("releasing an import's lease", "lease", lease.ID, "err", e)
		}
	}()

	host := platforms.DefaultSpec()
	prefix := imagePrefix(r.cfg.Owner, dgst)
	made, err = r.client.Import(ctx, f,
		containerd.WithImageRefTranslator(func(name string) string { return prefix + name }),
		containerd.WithDigestRef(func(d digest.Digest) string { return prefix + "@" + d.String() }),
		containerd.WithSkipDigestRef(func(name string) bool { return name != "" }),
		// Every platform: one for another machine is refused below, by
		// name, rather than filtered out into "no image".
		containerd.WithAllPlatforms(true),
	)
	if err != nil {
		return nil, fmt.Errorf("importing image tarball %s (an OCI image layout or docker save tarball was expected): %w", path, err)
	}
	if len(made) == 0 {
		return nil, fmt.Errorf("importing image tarball %s: it holds no image", path)
	}
	byName := map[string]preparedImage{}
	for i, rec := range made {
		name := strings.TrimPrefix(rec.Name, prefix)
		if name == rec.Name {
			// Named by io.containerd.image.name (docker save), which
			// Import does not translate: rename it into the prefix.
			if rec, err = r.rename(ctx, rec, prefix+name); err != nil {
				return nil, fmt.Errorf("image %s of %s: %w", name, path, err)
			}
			made[i] = rec
		}
		if err := r.checkPlatform(ctx, rec, host); err != nil {
			return nil, fmt.Errorf("image %s of %s: %w", name, path, err)
		}
		img := containerd.NewImageWithPlatform(r.client, rec, platforms.Only(host))
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpacking image %s of %s: %w", name, path, err)
		}
		cfg, err := img.Spec(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the config of image %s of %s: %w", name, path, err)
		}
		byName[name] = preparedImage{image: img, config: cfg}
	}
	return byName, nil
}

// rename moves an image record to a new name.
func (r *Runtime) rename(ctx context.Context, rec images.Image, name string) (images.Image, error) {
	is := r.client.ImageService()
	renamed := images.Image{Name: name, Target: rec.Target, Labels: rec.Labels}
	created, err := is.Update(ctx, renamed, "target", "labels")
	if errdefs.IsNotFound(err) {
		created, err = is.Create(ctx, renamed)
	}
	if err != nil {
		return rec, fmt.Errorf("naming it %s: %w", name, err)
	}
	if err := is.Delete(ctx, rec.Name); ignoreNotFound(err) != nil {
		return created, fmt.Errorf("removing its unprefixed name: %w", err)
	}
	return created, nil
}

// checkPlatform refuses an image with nothing for the host's platform,
// saying which platforms it has.
func (r *Runtime) checkPlatform(ctx context.Context, rec images.Image, host ocispec.Platform) error {
	cs := r.client.ContentStore()
	match := platforms.Only(host)
	m, err := images.Manifest(ctx, cs, rec.Target, match)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("reading its manifest: %w", err)
	}
	if err == nil {
		// images.Manifest checks the platforms of an index's manifests,
		// not of a manifest named directly: check its config's.
		p, err := images.ConfigPlatform(ctx, cs, m.Config)
		if err != nil {
			return fmt.Errorf("reading its config: %w", err)
		}
		if match.Match(p) {
			return nil
		}
	}
	ps, err := images.Platforms(ctx, cs, rec.Target)
	if err != nil {
		return fmt.Errorf("it has nothing for this machine's platform %s, and its platforms cannot be read: %w", platforms.Format(host), err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, platforms.Format(p))
	}
	return fmt.Errorf("it is built for %s, and this machine runs %s: build the image for %s",
		strings.Join(names, ", "), platforms.Format(host), platforms.Format(host))
}

// imagePrefix keeps the images of one tarball apart from another's, and
// one owner's from another's.
func imagePrefix(owner, dgst string) string {
	hexPart := strings.TrimPrefix(dgst, "sha256:")
	if len(hexPart) > 16 {
		hexPart = hexPart[:16]
	}
	if owner != "" {
		return "pando.import/" + owner + "/" + hexPart + "/"
	}
	return "pando.import/" + hexPart + "/"
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening the image tarball: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading the image tarball %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// isNotFoundExec tells runc's "executable file not found" at create.
func isNotFoundExec(err error) bool {
	s := err.Error()
	return strings.Contains(s, "executable file not found") || strings.Contains(s, "no such file or directory") && strings.Contains(s, "exec")
}
