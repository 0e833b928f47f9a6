// Package consultest runs a real Consul agent for tests: a single-node
// server on free 127.0.0.1 ports with a temporary data dir, which a test
// can stop and start again (same ports, same state) to play "Consul was
// down for a while".
//
// The binary is PANDO_CONSUL_BIN, else .cache/bin/consul under the module
// root, built by `go tool task setup` (scripts/consul.sh). Without it a
// test fails under CI=true and skips elsewhere, saying how to build it.
package consultest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// startTimeout bounds how long Start waits for the agent to elect itself
// and register its node.
const startTimeout = 30 * time.Second

// Server is a running (or stopped) Consul agent.
type Server struct {
	// Addr is the HTTP API address, "127.0.0.1:port".
	Addr string
	// Client talks to the agent; it keeps working across Stop and Start.
	Client *api.Client
	// Node is the agent's node name, unique per Server so that agents of
	// tests running in parallel can never take each other for one node.
	Node string

	t       testing.TB
	bin     string
	args    []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives the process's end, once
}

// Binary returns the Consul binary tests use, or ends the test: FAIL under
// CI=true, skip elsewhere.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("PANDO_CONSUL_BIN")
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("consultest: %v", err)
		}
		bin = filepath.Join(root, ".cache", "bin", "consul")
	}
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("consultest: no Consul binary at %s (%v): run `go tool task setup` (or `go tool task consul`) to build it, or set PANDO_CONSUL_BIN", bin, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// moduleRoot is the nearest directory above the working directory (a
// test's package directory) with a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; set PANDO_CONSUL_BIN")
		}
		dir = parent
	}
}

// Start runs a Consul server agent for the test and stops it at cleanup.
// It returns once the agent leads its one-node cluster and its node is
// healthy, so sessions can be created at once.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	ports, err := freePorts(4)
	if err != nil {
		t.Fatalf("consultest: %v", err)
	}
	httpPort, serfLAN, serfWAN, server := ports[0], ports[1], ports[2], ports[3]
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		Node: fmt.Sprintf("pando-test-%d", httpPort),
		t:    t, bin: bin, logPath: filepath.Join(dir, "consul.log"),
		args: []string{
			"agent", "-server", "-bootstrap-expect=1", "-node=" + fmt.Sprintf("pando-test-%d", httpPort), "-hcl", "disable_update_check = true",
			"-bind=127.0.0.1", "-advertise=127.0.0.1", "-client=127.0.0.1",
			"-data-dir=" + filepath.Join(dir, "data"), "-log-level=warn", "-disable-host-node-id",
			"-hcl", fmt.Sprintf("ports { http = %d, dns = -1, serf_lan = %d, serf_wan = %d, server = %d, grpc = -1, grpc_tls = -1 }",
				httpPort, serfLAN, serfWAN, server),
			// Raft timings of `consul agent -dev`: a one-node cluster
			// elects itself in milliseconds instead of seconds.
			"-hcl", `consul { raft { election_timeout = "52ms", heartbeat_timeout = "35ms", leader_lease_timeout = "20ms" } server { health_interval = "10ms" } }`,
			"-hcl", `performance { raft_multiplier = 1 }`,
			// Tests may use sessions with TTLs below the production 10s.
			"-hcl", `session_ttl_min = "1s"`,
		},
	}
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.Token = ""
	if s.Client, err = api.NewClient(cfg); err != nil {
		t.Fatalf("consultest: client: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consultest: the test failed; the agent's checks: %s", s.checks())
		}
		s.Stop()
		if t.Failed() {
			t.Logf("consultest: the test failed; the Consul agent's log (%s) ends:\n%s", s.logPath, s.logTail())
		}
	})
	s.StartAgain()
	return s
}

// StartAgain starts the agent (after Stop) on the same ports and data dir,
// and waits until it is ready again.
func (s *Server) StartAgain() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("consultest: StartAgain while the agent runs")
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatalf("consultest: %v", err)
	}
	defer logFile.Close()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("consultest: starting %s: %v", s.bin, err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.waitReady(ctx, exited); err != nil {
		_ = cmd.Process.Kill()
		s.cmd = nil
		s.t.Fatalf("consultest: Consul at %s not ready: %v\n--- consul log:\n%s", s.Addr, err, s.logTail())
	}
	// Reap the process when it ends; Stop waits on the same channel.
	s.exited = exited
}

// waitReady polls until the agent has a Raft leader and its node's
// serfHealth passes (sessions need both).
func (s *Server) waitReady(ctx context.Context, exited <-chan error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the agent exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
		leader, err := s.Client.Status().Leader()
		if err != nil || leader == "" {
			last = fmt.Errorf("no leader yet: %v", err)
			continue
		}
		checks, _, err := s.Client.Health().Node(s.Node, nil)
		if err != nil {
			last = err
			continue
		}
		for _, c := range checks {
			if c.CheckID == "serfHealth" && c.Status == api.HealthPassing {
				return nil
			}
		}
		last = errors.New("serfHealth not passing yet")
	}
}

// Stop ends the agent (SIGTERM, then SIGKILL after 5s). Its state stays in
// the data dir for StartAgain. Stopping a stopped agent does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// checks describes the agent's checks, with their output (why a check is
// critical), for a failing test's log.
func (s *Server) checks() string {
	checks, err := s.Client.Agent().Checks()
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for id, c := range checks {
		fmt.Fprintf(&b, "\n  %s: %s: %s", id, c.Status, strings.TrimSpace(c.Output))
	}
	return b.String()
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 12000 {
		b = b[len(b)-12000:]
	}
	return string(bytes.TrimSpace(b))
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding free ports: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
