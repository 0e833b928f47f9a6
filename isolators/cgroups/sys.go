package cgroups

import (
	"time"

	"golang.org/x/sys/unix"
)

var (
	errESRCH = unix.ESRCH
	errEBUSY = unix.EBUSY
)

func sleepBriefly() { time.Sleep(10 * time.Millisecond) }

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
