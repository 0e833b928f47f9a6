package executor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/internal/atomicfile"
)

// process is one executor process, started by this agent or by its
// previous run.
type process struct {
	pid     int
	started uint64 // its start time in clock ticks since boot, against pid reuse
	address string
	actor   *actor.PID
	exited  chan struct{} // closed once it has exited
	why     string        // how it ended, once exited is closed
}

// startupTimeout bounds how long a new executor process may take to say
// where it listens.
const startupTimeout = 30 * time.Second

// startProcess runs cmd as an executor process in a session of its own
// (a SIGKILL of the agent, or a signal to its process group, leaves it
// running), its stderr appended to logFile, and reads the address it
// listens at from its stdout.
func startProcess(cmd *exec.Cmd, logFile string) (*process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("executor: opening its log: %w", err)
	}
	defer log.Close() // the child has its own descriptor
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("executor: starting %s: %w", cmd.Path, err)
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	var address string
	select {
	case address = <-lines:
	case <-time.After(startupTimeout):
	}
	if address == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("executor: the process did not say where it listens within %s (see %s)", startupTimeout, logFile)
	}
	p := &process{pid: cmd.Process.Pid, address: address, actor: actor.NewPID(address, ActorID), exited: make(chan struct{})}
	p.started, _ = procStart(p.pid)
	go func() {
		err := cmd.Wait()
		p.why = fmt.Sprintf("the executor process (pid %d) ended: %v", p.pid, err)
		close(p.exited)
	}()
	return p, nil
}

// watchProcess follows a process this agent did not start (its previous
// run's), which it cannot wait for, by polling.
func watchProcess(p *process) {
	go func() {
		for {
			time.Sleep(200 * time.Millisecond)
			if started, ok := procStart(p.pid); !ok || started != p.started {
				p.why = fmt.Sprintf("the executor process (pid %d) ended", p.pid)
				close(p.exited)
				return
			}
		}
	}()
}

// procStart returns when a live process started (field 22 of
// /proc/<pid>/stat); ok is false for no process or a zombie.
func procStart(pid int) (uint64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return 0, false
	}
	started, err := strconv.ParseUint(fields[19], 10, 64)
	return started, err == nil
}

// The record is one line in a file: "<pid> <start time> <address>".
func writeRecord(path string, p *process) error {
	line := fmt.Sprintf("%d %d %s\n", p.pid, p.started, p.address)
	if err := atomicfile.Write(path, strings.NewReader(line)); err != nil {
		return fmt.Errorf("executor: recording its process: %w", err)
	}
	return nil
}

// readRecord returns the process recorded at path; nil if there is none.
func readRecord(path string) (*process, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("executor: reading its record: %w", err)
	}
	var p process
	if _, err := fmt.Sscanf(string(data), "%d %d %s", &p.pid, &p.started, &p.address); err != nil {
		return nil, fmt.Errorf("executor: %s is corrupt (%v); remove it (the executor it named, if any, must then be killed by hand)", path, err)
	}
	p.actor = actor.NewPID(p.address, ActorID)
	p.exited = make(chan struct{})
	return &p, nil
}

func removeRecord(path string) {
	_ = os.Remove(path)
}

// killProcess ends a process that cannot be followed.
func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// EndRecorded kills the executor process recorded at path, if it still
// runs, with its tasks: an agent that now runs WASM tasks in its own
// process cannot take them back, and they must not run unseen. The master
// settles them when the agent re-registers without them.
func EndRecorded(path string, logger *slog.Logger) {
	p, err := readRecord(path)
	if err != nil || p == nil {
		return
	}
	defer removeRecord(path)
	if started, ok := procStart(p.pid); ok && started == p.started {
		logger.Warn("executor: killing the executor process of the agent's previous run, with its tasks: this agent runs WASM tasks in its own process", "pid", p.pid)
		_ = killProcess(p.pid)
	}
}
