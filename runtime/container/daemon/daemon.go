package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// Binaries are the programs a daemon needs on PATH.
var Binaries = []string{"containerd", "containerd-shim-runc-v2", "runc"}

// startLimit bounds how long Start waits for the daemon to serve.
const startLimit = 30 * time.Second

// Daemon is a running containerd.
type Daemon struct {
	// Address is the daemon's gRPC socket, for containerd clients.
	Address string
	// Dir holds its root (dir/root), state (dir/state), config and log.
	Dir string

	cmd    *exec.Cmd
	exited chan struct{}
	logger *slog.Logger

	stopOnce sync.Once
	stopErr  error
}

// Available says why a daemon cannot run here, or nil: it needs root and
// the Binaries.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("containerd must run as root (the runtime makes cgroups, mounts and namespaces); run as root")
	}
	for _, b := range Binaries {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%s is not installed (run bash scripts/setup.sh, which installs containerd and runc): %w", b, err)
		}
	}
	return nil
}

// config is containerd 1.6's configuration (version 2): only what Pando uses.
// The v1 runtime plugin (io.containerd.runtime.v1.linux) stays: 1.6's tasks
// service does not load without it.
const config = `version = 2
root = %q
state = %q
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  level = "warn"

[metrics]
  address = ""

[plugins."io.containerd.monitor.v1.cgroups"]
  no_prometheus = true
`

// Start runs containerd under dir (made if missing) and returns once it
// serves. The socket is dir/containerd.sock, or, when that path is too long
// for a unix socket (107 bytes), /tmp/pando-containerd-<hash of dir>.sock.
func Start(ctx context.Context, dir string, logger *slog.Logger) (*Daemon, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := Available(); err != nil {
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	sock := socketPath(dir)
	for _, d := range []string{dir, filepath.Join(dir, "root"), filepath.Join(dir, "state")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("starting containerd: %w", err)
		}
	}
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := fmt.Sprintf(config, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	logPath := filepath.Join(dir, "containerd.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	os.Remove(sock)       // a previous daemon's, which would look like this one serving

	cmd := exec.Command("containerd", "--config", cfgPath, "--address", sock,
		"--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a ^C to the parent does not stop it before
	// Stop has ended its tasks.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	d := &Daemon{Address: sock, Dir: dir, cmd: cmd, exited: make(chan struct{}), logger: logger}
	go func() { _ = cmd.Wait(); close(d.exited) }()

	if err := d.waitServing(ctx); err != nil {
		d.kill()
		return nil, fmt.Errorf("starting containerd (log: %s): %w%s", logPath, err, logTail(logPath))
	}
	logger.Info("containerd started", "address", sock, "pid", cmd.Process.Pid)
	return d, nil
}

func (d *Daemon) waitServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startLimit)
	defer cancel()
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		select {
		case <-d.exited:
			return fmt.Errorf("containerd exited: %s", d.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("containerd did not serve on %s: %w", d.Address, ctx.Err())
		case <-time.After(delay):
		}
		if _, err := os.Stat(d.Address); err != nil {
			continue
		}
		c, err := containerd.New(d.Address, containerd.WithTimeout(time.Second))
		if err != nil {
			continue
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		ok, err := c.IsServing(pctx)
		pcancel()
		c.Close()
		if err == nil && ok {
			return nil
		}
	}
}

// Stop kills and deletes the tasks of every namespace (which ends their
// shims), then stops the daemon (SIGTERM, SIGKILL after 10s). Containers,
// images and snapshots stay in dir. Stop is idempotent.
func (d *Daemon) Stop() error {
	d.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d.stopErr = d.endTasks(ctx)
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			d.kill()
		}
		for _, sock := range []string{d.Address, d.Address + ".ttrpc"} {
			os.Remove(sock) // it may sit outside Dir (socketPath)
		}
		d.logger.Info("containerd stopped", "address", d.Address)
	})
	return d.stopErr
}

func (d *Daemon) kill() {
	_ = d.cmd.Process.Kill()
	<-d.exited
}

// endTasks kills every task of every namespace and deletes it, so that no
// shim or container process outlives the daemon.
func (d *Daemon) endTasks(ctx context.Context) error {
	c, err := containerd.New(d.Address, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("stopping containerd's tasks: %w", err)
	}
	defer c.Close()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("stopping containerd's tasks: %w", err)
	}
	var errs []error
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		containers, err := c.Containers(nctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ctr := range containers {
			task, err := ctr.Task(nctx, nil)
			if err != nil {
				continue // no task
			}
			if _, err := task.Delete(nctx, containerd.WithProcessKill); err != nil {
				errs = append(errs, fmt.Errorf("deleting task %s/%s: %w", ns, ctr.ID(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// socketPath is the daemon's socket for dir.
func socketPath(dir string) string {
	sock := filepath.Join(dir, "containerd.sock")
	if len(sock) <= 100 {
		return sock
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "pando-containerd-"+hex.EncodeToString(sum[:8])+".sock")
}

// logTail is the end of the daemon's log, to put in an error.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\n" + string(b)
}
