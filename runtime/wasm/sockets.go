package wasm

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental/sock"
)

// ListenHost is the address a task's preopened listeners are bound to: the
// agent's health checks reach it there, and nothing outside the machine.
const ListenHost = "127.0.0.1"

// firstPreopenFD is the first fd after stdin, stdout and stderr: WASI
// numbers preopened directories from there, then preopened listeners.
const firstPreopenFD = 3

// sandboxDirs counts the directories fsConfig mounts (the sandbox). The
// listeners' fds follow every directory the task's FSConfig mounts: Launch
// passes listenerEnv the count of all of them.
const sandboxDirs = 1

// withListeners asks wazero to open, at instantiation, a TCP listener on
// ListenHost for each port; they become the guest's fds
// listenerFDs(ports), in order. A port already taken fails the
// instantiation (CauseLaunchFailed) with the address in the message.
func withListeners(ctx context.Context, ports []uint16) context.Context {
	if len(ports) == 0 {
		return ctx
	}
	cfg := sock.NewConfig()
	for _, p := range ports {
		cfg = cfg.WithTCPListener(ListenHost, int(p))
	}
	return sock.WithConfig(ctx, cfg)
}

// listenerEnv tells a guest where its listeners are: PORT0, PORT1, ... are
// its ports in order, PORT is PORT0 (as Marathon sets it), and
// PANDO_LISTEN_FDS lists the fds of their listeners ("4,5"), in the same
// order, after the task's dirs preopened directories. Nothing is set for a
// task without ports.
func listenerEnv(ports []uint16, dirs int) map[string]string {
	if len(ports) == 0 {
		return nil
	}
	env := map[string]string{"PORT": strconv.Itoa(int(ports[0]))}
	fds := make([]string, len(ports))
	for i, p := range ports {
		env["PORT"+strconv.Itoa(i)] = strconv.Itoa(int(p))
		fds[i] = strconv.Itoa(firstPreopenFD + dirs + i)
	}
	env["PANDO_LISTEN_FDS"] = strings.Join(fds, ",")
	return env
}

// listen readies a task with ports for instantiation: it returns the
// context to instantiate and run the module with (carrying the listeners)
// and the function to call with the instance once it is made.
//
// A guest blocked in a host call (sock_accept, a read of a connection) does
// not see its context end: wazero's WithCloseOnContextDone marks the
// instance closed, but only the guest's own code checks the mark. Closing
// the instance's sockets from here would race with the guest's own calls
// into its descriptor table. So when the task's context ends (Kill,
// timeout, Close) the runtime wakes the guest the way a client would,
// until the task has ended: it connects to each of its ports and hangs up
// at once, so a guest in accept returns; and it shuts down the connections
// the guest accepted (hangUp), so a guest blocked reading one that a
// client holds open and idle returns too. Either way it stops at its next
// check.
func (t *task) listen(ctx context.Context) (context.Context, func(api.Module)) {
	if len(t.ports) == 0 {
		return ctx, func(api.Module) {}
	}
	return withListeners(ctx, t.ports), func(api.Module) {
		go func() {
			select {
			case <-ctx.Done():
			case <-t.done:
				return
			}
			t.woken.Store(true)
			tick := time.NewTicker(wakeInterval)
			defer tick.Stop()
			for {
				hangUp(t.ports)
				for _, p := range t.ports {
					addr := net.JoinHostPort(ListenHost, strconv.Itoa(int(p)))
					if conn, err := net.DialTimeout("tcp", addr, wakeInterval); err == nil {
						conn.Close()
					}
				}
				select {
				case <-t.done:
					return
				case <-tick.C:
				}
			}
		}()
	}
}

// wakeInterval paces the connections that wake a killed guest.
const wakeInterval = 50 * time.Millisecond
