// Package ocilayout writes OCI image-layout tarballs (oci-layout, index.json,
// blobs/sha256/...) from files given in Go, so that tests, examples and
// `pando dev` have container images without a registry.
//
// The output is deterministic: the same images give the same bytes, hence
// the same content address. Busybox builds the image Pando's tests and
// examples run: Debian's static /bin/busybox and links for its applets.
package ocilayout
