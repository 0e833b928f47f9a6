package artifacts

import (
	"cmp"
	"slices"

	"github.com/pandodc/pando/sdk/client"
)

// MissingArtifacts is a stand-by master's mirroring decision: of the
// leader's artifacts, those it does not hold (local, by digest), by digest.
// Entries with a malformed digest are skipped: they could not be stored.
// Nothing is ever dropped: an artifact the leader no longer has is left to
// this master's own collector, once it leads (docs/RATIONALE.md), so a
// leader with a fresh disk cannot empty the stand-bys.
func MissingArtifacts(leader []client.Artifact, local map[string]bool) []client.Artifact {
	var out []client.Artifact
	for _, a := range leader {
		if _, err := ParseDigest(a.Digest); err != nil || local[a.Digest] || a.Size < 0 {
			continue
		}
		if slices.ContainsFunc(out, func(o client.Artifact) bool { return o.Digest == a.Digest }) {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b client.Artifact) int { return cmp.Compare(a.Digest, b.Digest) })
	return out
}

// MergeCatalog is the image catalog a stand-by keeps after reading the
// leader's: each image of the leader whose tarball it holds (stored) takes
// the place of the local image of that name; local images the leader does
// not name stay. changed says whether the result differs from local.
func MergeCatalog(local, leader []client.Image, stored func(digest string) bool) (merged []client.Image, changed bool) {
	merged = slices.Clone(local)
	for _, im := range leader {
		if !stored(im.Digest) {
			continue // not mirrored yet: a later round adopts it
		}
		i := slices.IndexFunc(merged, func(o client.Image) bool { return o.Name == im.Name })
		switch {
		case i < 0:
			merged = append(merged, im)
		case !sameImage(merged[i], im):
			merged[i] = im
		default:
			continue
		}
		changed = true
	}
	sortImages(merged)
	return merged, changed
}

func sameImage(a, b client.Image) bool {
	return a.Name == b.Name && a.Digest == b.Digest && a.ManifestDigest == b.ManifestDigest &&
		a.Size == b.Size && a.ImportedAt.Equal(b.ImportedAt) && slices.Equal(a.Platforms, b.Platforms)
}

func sortImages(images []client.Image) {
	slices.SortFunc(images, func(a, b client.Image) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Digest, b.Digest))
	})
}
