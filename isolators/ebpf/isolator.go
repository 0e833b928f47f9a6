package ebpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/isolators/cgroups"
	"github.com/pandodc/pando/runtime"
)

// Isolator counts tasks' network bytes and packets with eBPF programs
// attached to their cgroup v2 directories. One map and one program per
// direction serve every task; each task costs two links.
type Isolator struct {
	layout  *cgroups.Layout
	storage *ebpf.Map
	ingress *ebpf.Program
	egress  *ebpf.Program
}

var _ isolators.Isolator = (*Isolator)(nil)

// New probes the host and loads the programs. A host that cannot run them
// is a *isolators.NotSupportedError that says why: "net: eBPF unavailable:
// no cgroup v2 hierarchy is mounted ...", "... no permission ...", "... the
// kernel lacks ...".
func New(l *cgroups.Layout) (*Isolator, error) {
	if err := Probe(l); err != nil {
		return nil, err
	}
	storage, err := ebpf.NewMap(storageSpec())
	if err != nil {
		return nil, unsupported("making the counters map", err)
	}
	iso := &Isolator{layout: l, storage: storage}
	if iso.ingress, err = ebpf.NewProgram(countProgram("pando_net_in", ebpf.AttachCGroupInetIngress, storage)); err != nil {
		_ = iso.Close()
		return nil, unsupported("loading the ingress program", err)
	}
	if iso.egress, err = ebpf.NewProgram(countProgram("pando_net_out", ebpf.AttachCGroupInetEgress, storage)); err != nil {
		_ = iso.Close()
		return nil, unsupported("loading the egress program", err)
	}
	return iso, nil
}

// Probe tells whether this host can count tasks' network use: nil, or a
// *isolators.NotSupportedError with the reason.
func Probe(l *cgroups.Layout) error {
	if l == nil || l.V2 == nil {
		return &isolators.NotSupportedError{What: "net", Reason: "eBPF unavailable: " + cgroups.ErrNoUnified.Error(), Err: cgroups.ErrNoUnified}
	}
	// Kernels before 5.11 charge eBPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return unsupported("raising the locked-memory limit", err)
	}
	if err := features.HaveProgramType(ebpf.CGroupSKB); err != nil {
		return unsupported("probing cgroup skb programs", err)
	}
	if err := features.HaveMapType(ebpf.CGroupStorage); err != nil {
		return unsupported("probing cgroup storage maps", err)
	}
	return nil
}

// unsupported turns a failure to load into the reason a person can act on;
// failures that say nothing about the host stay plain errors.
func unsupported(doing string, err error) error {
	reason := ""
	switch {
	case errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission):
		reason = "no permission to use eBPF (needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)"
	case errors.Is(err, unix.ENOSYS):
		reason = "the kernel has no bpf() system call (built without CONFIG_BPF_SYSCALL)"
	case errors.Is(err, ebpf.ErrNotSupported):
		reason = "the kernel lacks cgroup skb programs or cgroup storage (Linux 4.20 or later with CONFIG_CGROUP_BPF)"
	default:
		return fmt.Errorf("net accounting: %s: %w", doing, err)
	}
	return &isolators.NotSupportedError{What: "net", Reason: fmt.Sprintf("eBPF unavailable: %s: %s: %v", reason, doing, err), Err: err}
}

func (i *Isolator) Name() string { return "net" }

// Unavailable is empty: New fails when the host cannot count.
func (i *Isolator) Unavailable() []string { return nil }

// Close unloads the programs and the map. Tasks still attached keep their
// links (the kernel holds the programs until they are detached).
func (i *Isolator) Close() error {
	var errs []error
	for _, p := range []*ebpf.Program{i.ingress, i.egress} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if i.storage != nil {
		errs = append(errs, i.storage.Close())
	}
	return errors.Join(errs...)
}

// Attach counts the task's traffic from now on. On a hybrid host whose
// runtime left the task out of cgroup v2, it makes the task's v2 directory
// and moves the task there first (cgroups.Layout.EnsureUnified); Detach
// removes it.
func (i *Isolator) Attach(ctx context.Context, t isolators.Target) (isolators.Handle, error) {
	h, err := i.attach(t)
	if err != nil {
		return nil, fmt.Errorf("attaching net accounting to task %s (cgroup %s): %w", t.TaskID, t.CgroupPath, err)
	}
	return h, nil
}

func (i *Isolator) attach(t isolators.Target) (h *Handle, err error) {
	if t.CgroupPath == "" {
		return nil, errors.New("it has no cgroup path")
	}
	u, err := i.layout.EnsureUnified(t.CgroupPath, t.PID)
	if err != nil {
		return nil, err
	}
	h = &Handle{cgroup: u, storage: i.storage}
	defer func() {
		if err != nil {
			err = errors.Join(err, h.Detach())
		}
	}()
	var st syscall.Stat_t
	if err := syscall.Stat(u.Dir, &st); err != nil {
		return h, fmt.Errorf("finding the id of cgroup %s: %w", u.Dir, err)
	}
	h.id = st.Ino // a cgroup's id is its directory's inode number
	for _, d := range []struct {
		l    *link.Link
		prog *ebpf.Program
		at   ebpf.AttachType
	}{{&h.ingress, i.ingress, ebpf.AttachCGroupInetIngress}, {&h.egress, i.egress, ebpf.AttachCGroupInetEgress}} {
		if *d.l, err = link.AttachCgroup(link.CgroupOptions{Path: u.Dir, Attach: d.at, Program: d.prog}); err != nil {
			return h, fmt.Errorf("attaching the %v program to %s: %w", d.at, u.Dir, err)
		}
	}
	return h, nil
}

// Handle is one task's network accounting.
type Handle struct {
	cgroup  *cgroups.UnifiedCgroup
	storage *ebpf.Map
	id      uint64
	ingress link.Link
	egress  link.Link

	mu       sync.Mutex
	in, out  counters // the latest read; what Usage reports after Detach
	detached bool
}

// Usage fills NetRx* (ingress) and NetTx* (egress): every IPv4 and IPv6
// packet of the task's sockets, headers included, loopback too.
func (h *Handle) Usage(ctx context.Context, s *runtime.Stats) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var err error
	if !h.detached {
		err = h.readLocked()
	}
	s.NetRxBytes, s.NetRxPackets = h.in.Bytes, h.in.Packets
	s.NetTxBytes, s.NetTxPackets = h.out.Bytes, h.out.Packets
	return err
}

// readLocked reads both directions' counters. A storage that is gone (the
// cgroup was removed, which detaches its programs) keeps the last figures.
func (h *Handle) readLocked() error {
	for _, d := range []struct {
		c  *counters
		at ebpf.AttachType
	}{{&h.in, ebpf.AttachCGroupInetIngress}, {&h.out, ebpf.AttachCGroupInetEgress}} {
		var c counters
		err := h.storage.Lookup(storageKey{CgroupID: h.id, AttachType: uint32(d.at)}, &c)
		switch {
		case err == nil:
			*d.c = c
		case errors.Is(err, ebpf.ErrKeyNotExist):
		default:
			return fmt.Errorf("reading the %v counters of cgroup %s: %w", d.at, h.cgroup.Dir, err)
		}
	}
	return nil
}

// Detach reads the counters a last time, detaches the programs (closing
// their links), and removes the cgroup v2 directory if Attach made it.
func (h *Handle) Detach() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.detached {
		return nil
	}
	h.detached = true
	var errs []error
	if h.ingress != nil || h.egress != nil {
		errs = append(errs, h.readLocked())
	}
	for _, l := range []link.Link{h.ingress, h.egress} {
		if l != nil {
			errs = append(errs, l.Close())
		}
	}
	errs = append(errs, h.cgroup.Remove())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detaching net accounting from %s: %w", h.cgroup.Dir, err)
	}
	return nil
}
