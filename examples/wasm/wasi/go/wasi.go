//go:build wasip1

package main

import (
	"os"
	"unsafe"
)

// The raw WASI calls Go's standard library does not expose.

//go:wasmimport wasi_snapshot_preview1 clock_time_get
func clockTimeGet(id uint32, precision uint64, time *uint64) uint32

//go:wasmimport wasi_snapshot_preview1 random_get
func randomGet(buf unsafe.Pointer, len uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_prestat_get
func fdPrestatGet(fd int32, prestat *[2]uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_prestat_dir_name
func fdPrestatDirName(fd int32, path unsafe.Pointer, len uint32) uint32

const (
	clockRealtime  = 0
	clockMonotonic = 1
)

func clock(id uint32) uint64 {
	var t uint64
	if clockTimeGet(id, 1, &t) != 0 {
		os.Exit(1)
	}
	return t
}

func preopens() []string {
	var names []string
	for fd := int32(3); ; fd++ {
		var p [2]uint32 // tag, then the name's length
		if fdPrestatGet(fd, &p) != 0 {
			return names
		}
		name := make([]byte, p[1])
		if len(name) > 0 && fdPrestatDirName(fd, unsafe.Pointer(&name[0]), p[1]) != 0 {
			os.Exit(1)
		}
		names = append(names, string(name))
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	if randomGet(unsafe.Pointer(&b[0]), uint32(n)) != 0 {
		os.Exit(1)
	}
	return b
}
