package wasm

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// hangUp shuts down, without closing, every connected TCP socket of this
// process whose local address is ListenHost and one of ports: the
// connections a task's guest accepted. A guest blocked reading one (a
// client that connected and sent nothing) or writing to one (a client that
// reads nothing) returns, with EOF or EPIPE, and sees that it was stopped.
//
// The guest's fds stay open, so this cannot race with its own calls into
// its descriptor table, as closing them would (see listen): shutdown only
// changes the state of the connection. Only sockets bound
// to a task's port are touched, and a port belongs to one task on a host.
func hangUp(ports []uint16) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || !strings.HasPrefix(link, "socket:") {
			continue
		}
		sa, err := syscall.Getsockname(fd)
		in4, ok := sa.(*syscall.SockaddrInet4)
		if err != nil || !ok || net.IP(in4.Addr[:]).String() != ListenHost || !slices.Contains(ports, uint16(in4.Port)) {
			continue
		}
		// Not the listener: the guest's accept is woken by a connection.
		if listening, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err != nil || listening != 0 {
			continue
		}
		_ = syscall.Shutdown(fd, syscall.SHUT_RDWR)
	}
}
