// Package freeport finds TCP ports on 127.0.0.1 that nothing listens on,
// for tests that start servers on ports chosen for them (a WASM task
// listens on the port its runtime opens, not on one it picks).
package freeport

import (
	"net"
	"testing"
)

// Take returns a port free on 127.0.0.1 now. Another process may take it
// before the caller does: tests use it at once.
func Take(t testing.TB) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}
