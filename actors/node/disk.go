package node

import "golang.org/x/sys/unix"

// freeDiskMiB is the space available to unprivileged users under dir, or 0
// if it cannot be read.
func freeDiskMiB(dir string) uint64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0
	}
	return st.Bavail * uint64(st.Bsize) / (1 << 20)
}
