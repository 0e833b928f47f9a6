package ebpf_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/isolators/cgroups"
	"github.com/pandodc/pando/isolators/ebpf"
	"github.com/pandodc/pando/isolators/isolatortest"
	"github.com/pandodc/pando/runtime"
)

func TestMain(m *testing.M) { isolatortest.Main(m) }

func newIsolator(t *testing.T) isolators.Isolator {
	iso, err := ebpf.New(isolatortest.Layout(t))
	isolatortest.Require(t, err)
	return iso
}

const (
	sent  = 1 << 20  // what the task sends
	reply = 64 << 10 // what the listener answers
)

// listen accepts connections on 127.0.0.1, outside the task's cgroup; it
// reads each to EOF, answers reply bytes and closes. It returns its address.
func listen(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.Copy(io.Discard, c); err == nil {
					_, _ = c.Write(make([]byte, reply))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func sendAndCheck(t *testing.T, task *isolatortest.Task, addr string) {
	if got := task.Do(t, "send %s %d", addr, sent); got != strconv.Itoa(reply) {
		t.Fatalf("the task received %s bytes back, want %d", got, reply)
	}
}

func grew(t *testing.T, before, after runtime.Stats) {
	tx, rx := after.NetTxBytes-before.NetTxBytes, after.NetRxBytes-before.NetRxBytes
	if tx < sent || tx > sent*11/10 {
		t.Errorf("egress counted %d bytes for %d sent: want at least that and at most 10%% more", tx, sent)
	}
	if rx < reply || rx > reply*15/10 {
		// Ingress carries the reply and the ACKs of the data sent.
		t.Errorf("ingress counted %d bytes for %d received: want at least that and at most 50%% more", rx, reply)
	}
	if after.NetTxPackets <= before.NetTxPackets || after.NetRxPackets <= before.NetRxPackets {
		t.Errorf("packets: tx %d -> %d, rx %d -> %d: want both to grow", before.NetTxPackets, after.NetTxPackets, before.NetRxPackets, after.NetRxPackets)
	}
}

func TestSuite(t *testing.T) {
	for name, opts := range map[string]isolatortest.TaskOptions{
		"RuncMadeV2":     {},           // runc 1.1 makes the v2 directory on hybrid hosts
		"IsolatorMadeV2": {NoV2: true}, // EnsureUnified makes it
	} {
		t.Run(name, func(t *testing.T) {
			addr := ""
			isolatortest.Run(t, isolatortest.Config{
				New:  newIsolator,
				Task: opts,
				Work: func(t *testing.T, task *isolatortest.Task) {
					if addr == "" {
						addr = listen(t)
					}
					sendAndCheck(t, task, addr)
				},
				Grew: grew,
			})
		})
	}
}

// TestCountsTCPToALocalListener: a task sends 1MiB to a listener of the
// test's on 127.0.0.1; egress counts it within 10%, ingress counts the
// answer, and another task's cgroup counts nothing of it.
func TestCountsTCPToALocalListener(t *testing.T) {
	l := isolatortest.RequireCgroups(t)
	iso := newIsolator(t)
	defer iso.Close()
	addr := listen(t)
	busy := isolatortest.StartTask(t, l, isolatortest.TaskOptions{})
	idle := isolatortest.StartTask(t, l, isolatortest.TaskOptions{})
	ctx := context.Background()
	hb, err := iso.Attach(ctx, busy.Target)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Detach()
	hi, err := iso.Attach(ctx, idle.Target)
	if err != nil {
		t.Fatal(err)
	}
	defer hi.Detach()

	sendAndCheck(t, busy, addr)
	var b, i runtime.Stats
	if err := errors.Join(hb.Usage(ctx, &b), hi.Usage(ctx, &i)); err != nil {
		t.Fatal(err)
	}
	t.Logf("busy task: tx %d bytes in %d packets, rx %d bytes in %d packets", b.NetTxBytes, b.NetTxPackets, b.NetRxBytes, b.NetRxPackets)
	grew(t, runtime.Stats{}, b)
	if i.NetTxBytes != 0 || i.NetRxBytes != 0 {
		t.Errorf("the idle task was counted tx %d rx %d bytes", i.NetTxBytes, i.NetRxBytes)
	}
	// A second send adds as much again.
	sendAndCheck(t, busy, addr)
	var b2 runtime.Stats
	if err := hb.Usage(ctx, &b2); err != nil {
		t.Fatal(err)
	}
	grew(t, b, b2)
}

// TestNoFDLeaks loads and closes the isolator, and attaches and detaches a
// task, many times: the process's open descriptors end where they began.
func TestNoFDLeaks(t *testing.T) {
	l := isolatortest.RequireCgroups(t)
	task := isolatortest.StartTask(t, l, isolatortest.TaskOptions{NoV2: true})
	ctx := context.Background()
	newIsolator(t).Close() // the first load opens descriptors cilium/ebpf keeps (probes, BTF)
	fds := isolatortest.OpenFDs(t)
	for round := 0; round < 10; round++ {
		iso, err := ebpf.New(l)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			h, err := iso.Attach(ctx, task.Target)
			if err != nil {
				t.Fatal(err)
			}
			var s runtime.Stats
			if err := errors.Join(h.Usage(ctx, &s), h.Detach(), h.Detach()); err != nil {
				t.Fatal(err)
			}
		}
		if err := iso.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := isolatortest.OpenFDs(t); got != fds {
		t.Errorf("200 attachments over 10 loads changed the open descriptors from %d to %d", fds, got)
	}
}

func TestProbeWithoutCgroupV2(t *testing.T) {
	err := ebpf.Probe(&cgroups.Layout{Mode: cgroups.V1})
	reason, ok := isolators.Unavailable(err)
	if !ok || !errors.Is(err, isolators.ErrNotSupported) {
		t.Fatalf("Probe on a v1-only host = %v, want a NotSupportedError", err)
	}
	const want = "net: eBPF unavailable: no cgroup v2 hierarchy"
	if len(reason) < len(want) || reason[:len(want)] != want {
		t.Errorf("reason %q, want it to start %q", reason, want)
	}
}

// TestDetachDetachesPrograms asks the kernel which programs the task's
// cgroup has: ours while attached, none after Detach.
func TestDetachDetachesPrograms(t *testing.T) {
	l := isolatortest.RequireCgroups(t)
	iso := newIsolator(t)
	defer iso.Close()
	task := isolatortest.StartTask(t, l, isolatortest.TaskOptions{})
	dir := l.V2.Dir(task.CgroupPath)
	attached := func() int {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n := 0
		for _, at := range []cebpf.AttachType{cebpf.AttachCGroupInetIngress, cebpf.AttachCGroupInetEgress} {
			r, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: at})
			if err != nil {
				t.Fatalf("querying the programs of %s: %v", dir, err)
			}
			n += len(r.Programs)
		}
		return n
	}
	h, err := iso.Attach(context.Background(), task.Target)
	if err != nil {
		t.Fatal(err)
	}
	if n := attached(); n != 2 {
		t.Errorf("%d programs attached to %s, want 2 (ingress and egress)", n, dir)
	}
	if err := h.Detach(); err != nil {
		t.Fatal(err)
	}
	if n := attached(); n != 0 {
		t.Errorf("%d programs still attached to %s after Detach", n, dir)
	}
}
