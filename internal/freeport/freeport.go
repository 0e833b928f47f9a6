// Package freeport finds TCP ports on 127.0.0.1 that nothing listens on,
// for tests that start servers on ports chosen for them (a WASM task
// listens on the port its runtime opens, not on one it picks).
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
)

// The ports Take chooses from lie below the host's ephemeral range, from
// which the kernel picks the local port of every outgoing connection and
// of every listener on port 0. A port from that range (what listening on
// :0 gives) may be taken by any of the thousands of connections a test
// run makes between Take and the test's bind; a task then fails to bind
// it (the agent warns of such offers, see actors/node/ports.go). They lie
// below 31000 too: 31000-32000, Mesos' default, is what a dev agent and
// many tests offer, and their tasks bind ports from it.
const (
	lowest             = 20000
	mesosDefaultPorts  = 31000
	defaultEphemeral   = 32768 // Linux's default lower bound
	ephemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"
)

var (
	mu    sync.Mutex
	given = map[uint16]bool{} // not handed out twice in one test binary
)

// Take returns a port below the ephemeral range (and 31000) that is free on 127.0.0.1
// now and that this process has not handed out before. Another process
// may take it before the caller does: tests use it at once.
func Take(t testing.TB) uint16 {
	t.Helper()
	p, err := take(lowest, min(ephemeralStart(), mesosDefaultPorts))
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	return p
}

// take tries the ports [from, below) from a random one on (test binaries
// running at once start apart), returning the first that binds.
func take(from, below int) (uint16, error) {
	if below <= from {
		return 0, fmt.Errorf("the ephemeral range starts at %d: no ports below it from %d to take", below, from)
	}
	mu.Lock()
	defer mu.Unlock()
	n := below - from
	start := rand.IntN(n)
	for i := range n {
		p := uint16(from + (start+i)%n)
		if given[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // in use
		}
		_ = ln.Close()
		given[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port on 127.0.0.1 in %d-%d", from, below-1)
}

// ephemeralStart is the first port of the host's ephemeral range.
func ephemeralStart() int {
	data, err := os.ReadFile(ephemeralRangeFile)
	if err != nil {
		return defaultEphemeral
	}
	var lo int
	if _, err := fmt.Sscan(string(data), &lo); err != nil || lo <= 0 {
		return defaultEphemeral
	}
	return lo
}
