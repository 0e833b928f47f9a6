package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pandodc/pando/isolators"
	"github.com/pandodc/pando/runtime"
)

// Isolator accounts tasks' CPU, memory and block IO from their cgroups.
type Isolator struct {
	layout      *Layout
	unavailable []string
}

var _ isolators.Isolator = (*Isolator)(nil)

// New detects the host's cgroup layout and returns an Isolator for it; a
// host with no cgroups at all is a *isolators.NotSupportedError.
func New() (*Isolator, error) {
	l, err := DetectLayout()
	if err != nil {
		return nil, &isolators.NotSupportedError{What: "cpu, memory, io", Reason: "cgroups unavailable: " + err.Error(), Err: err}
	}
	return NewForLayout(l), nil
}

// NewForLayout returns an Isolator for a layout already detected.
func NewForLayout(l *Layout) *Isolator {
	return &Isolator{layout: l, unavailable: l.unavailable(kernelRelease())}
}

// Layout is the host's cgroup layout, as New detected it.
func (i *Isolator) Layout() *Layout { return i.layout }

func (i *Isolator) Name() string { return "cgroups" }

// Unavailable lists what this host's cgroups cannot measure.
func (i *Isolator) Unavailable() []string { return i.unavailable }

// Close does nothing: the isolator holds nothing between tasks.
func (i *Isolator) Close() error { return nil }

// unavailable says what the layout cannot measure, for a kernel release.
func (l *Layout) unavailable(release string) []string {
	var u []string
	if _, ok := l.V1["cpuacct"]; !ok && l.V2 == nil {
		u = append(u, "cpu: no cpuacct controller (cgroup v1) and no cgroup v2 hierarchy")
	}
	if _, ok := l.V1["memory"]; !ok {
		if !l.v2Has("memory") {
			u = append(u, "memory: no memory controller in cgroup v1 or v2")
		} else if !kernelAtLeast(release, 5, 19) {
			u = append(u, fmt.Sprintf("memory peak: Linux %s has no memory.peak (5.19 and later have): the peak reported is the most seen when usage was read", release))
		}
	}
	if _, ok := l.V1["blkio"]; !ok && !l.v2Has("io") {
		u = append(u, "io: no blkio controller (cgroup v1) or io controller (cgroup v2)")
	}
	return u
}

// kernelAtLeast compares a release ("6.18.44-fc") with major.minor; an
// unreadable release counts as new enough.
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimLeftFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

// Attach starts accounting for the task in the cgroup t.CgroupPath. On v1
// it also sets a read limit no device can reach (2^62 bytes/s) on every
// disk in the task's blkio cgroup: since Linux 6.x the kernel counts
// blkio.throttle.io_service_bytes only on devices where throttling is
// active, and a task with no rule would always read 0.
func (i *Isolator) Attach(ctx context.Context, t isolators.Target) (isolators.Handle, error) {
	return i.AttachCgroup(t)
}

// AttachCgroup is Attach returning the concrete Handle, whose Sample has the
// OOM kill count.
func (i *Isolator) AttachCgroup(t isolators.Target) (*Handle, error) {
	if t.CgroupPath == "" {
		return nil, fmt.Errorf("attaching cgroups to %s: it has no cgroup path", t)
	}
	f, err := i.layout.files(t.CgroupPath)
	if err != nil {
		return nil, fmt.Errorf("attaching cgroups to task %s: %w", t.TaskID, err)
	}
	if f.io != "" && !f.ioV2 {
		activateBlkioStats(f.io)
	}
	return &Handle{files: f}, nil
}

// noLimit is a bytes/s limit no device reaches, that still makes a rule.
const noLimit = 1 << 62

// activateBlkioStats sets a non-binding read limit for every disk in the
// blkio cgroup at dir; devices that refuse it (no queue: zram of size 0)
// are skipped, their IO then uncounted.
func activateBlkioStats(dir string) {
	devs, _ := filepath.Glob("/sys/block/*/dev")
	for _, d := range devs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		rule := strings.TrimSpace(string(b)) + " " + strconv.FormatUint(noLimit, 10)
		_ = os.WriteFile(filepath.Join(dir, "blkio.throttle.read_bps_device"), []byte(rule), 0)
	}
}

// Handle is one task's cgroup accounting.
type Handle struct {
	files *files

	mu       sync.Mutex
	last     Sample // the latest read; what Usage reports after Detach
	detached bool
}

var _ isolators.Handle = (*Handle)(nil)

// Sample reads the task's usage now; after Detach, the last read. Without
// a kernel peak (v2 before Linux 5.19), MemoryPeakBytes is the most memory
// seen by this Handle's reads.
func (h *Handle) Sample() (Sample, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.detached {
		return h.last, nil
	}
	return h.sampleLocked()
}

func (h *Handle) sampleLocked() (Sample, error) {
	s, err := h.files.read()
	if err != nil {
		return h.last, err
	}
	if !s.PeakFromKernel {
		s.MemoryPeakBytes = max(h.last.MemoryPeakBytes, s.MemoryBytes)
	}
	h.last = s
	return s, nil
}

// Usage fills CPU, memory and IO.
func (h *Handle) Usage(ctx context.Context, st *runtime.Stats) error {
	s, err := h.Sample()
	if err != nil {
		return err
	}
	st.CPUTime = s.CPUTime
	st.MemoryBytes = s.MemoryBytes
	st.MemoryPeakBytes = s.MemoryPeakBytes
	st.MemoryLimit = s.MemoryLimit
	st.IOReadBytes = s.IOReadBytes
	st.IOWriteBytes = s.IOWriteBytes
	return nil
}

// Detach takes a last sample, if the cgroup still exists, and stops reading.
// It leaves the cgroup to the runtime that made it.
func (h *Handle) Detach() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.detached {
		return nil
	}
	h.detached = true
	if _, err := h.sampleLocked(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("detaching from cgroup %s: %w", h.files.path, err)
	}
	return nil
}
