package wasm

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental/sock"
	"github.com/tetratelabs/wazero/sys"
)

// ListenHost is the address a task's preopened listeners are bound to: the
// agent's health checks reach it there, and nothing outside the machine.
const ListenHost = "127.0.0.1"

// firstPreopenFD is the first fd after stdin, stdout and stderr: WASI
// numbers preopened directories from there, then preopened listeners.
const firstPreopenFD = 3

// preopenedDirs counts the directories fsConfig mounts (the sandbox): the
// listeners' fds follow them. Keep it in step with fsConfig.
const preopenedDirs = 1

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
// order. Nothing is set for a task without ports.
func listenerEnv(ports []uint16) map[string]string {
	if len(ports) == 0 {
		return nil
	}
	env := map[string]string{"PORT": strconv.Itoa(int(ports[0]))}
	fds := make([]string, len(ports))
	for i, p := range ports {
		env["PORT"+strconv.Itoa(i)] = strconv.Itoa(int(p))
		fds[i] = strconv.Itoa(firstPreopenFD + preopenedDirs + i)
	}
	env["PANDO_LISTEN_FDS"] = strings.Join(fds, ",")
	return env
}

// listen readies a task with ports for instantiation: it returns the
// context to instantiate and run the module with (carrying the listeners)
// and the function to call with the instance once it is made.
//
// A guest blocked in a host call (sock_accept, or a read of a connection)
// does not see its context end: wazero's WithCloseOnContextDone checks it
// only in the guest's own code, and closes the instance without closing its
// files. So for a task with sockets the runtime does it itself: when the
// task's context ends (Kill, timeout, Close) it closes the instance with
// its files, which hangs up the listeners and connections and returns the
// guest from the host call to be stopped. wazero is given a context that
// does not end by itself (ended once the instance is closed), so that its
// own watcher cannot close the instance first without closing the files.
func (t *task) listen(ctx context.Context) (context.Context, func(api.Module)) {
	if len(t.ports) == 0 {
		return ctx, func(api.Module) {}
	}
	callCtx, endCall := context.WithCancel(context.WithoutCancel(withListeners(ctx, t.ports)))
	return callCtx, func(mod api.Module) {
		go func() {
			defer endCall()
			select {
			case <-ctx.Done():
			case <-t.done:
				return
			}
			code := sys.ExitCodeContextCanceled
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				code = sys.ExitCodeDeadlineExceeded
			}
			t.hungUp.Store(true)
			_ = mod.CloseWithExitCode(context.Background(), code)
		}()
	}
}
