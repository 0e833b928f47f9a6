// Package daemon runs a private containerd (Debian's containerd 1.6 with
// runc) for Pando's tests and for `pando dev`: its own root, state, socket
// and a minimal configuration (no CRI, no snapshotters but overlayfs and
// native, no metrics listener) under one directory, so that it starts in
// well under a second and shares nothing with a system containerd.
//
// Stop ends what it started: the tasks of every namespace (and so their
// shims), then the daemon. It must run as root.
package daemon
