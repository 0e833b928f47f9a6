//go:build !wasip1

package main

// Outside wasip1 (go vet ./..., go build ./... on the host) the probe
// compiles but has no WASI to call.

const (
	clockRealtime  = 0
	clockMonotonic = 1
)

func clock(id uint32) uint64 { panic("probe: WASI clocks exist only under GOOS=wasip1") }

func random(n int) []byte { panic("probe: WASI random_get exists only under GOOS=wasip1") }

func preopens() []string { panic("probe: WASI preopens exist only under GOOS=wasip1") }
