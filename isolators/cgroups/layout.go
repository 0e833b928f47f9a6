package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Mode is how a host mounts its cgroup hierarchies.
type Mode int

const (
	// V1: one hierarchy per controller (or group of them), no cgroup v2.
	V1 Mode = iota + 1
	// Hybrid: v1 controllers, plus a cgroup v2 hierarchy (usually at
	// /sys/fs/cgroup/unified) that holds no resource controllers but
	// takes eBPF programs. systemd's default before v247; this machine.
	Hybrid
	// Unified: cgroup v2 only (usually at /sys/fs/cgroup).
	Unified
)

func (m Mode) String() string {
	switch m {
	case V1:
		return "cgroup v1"
	case Hybrid:
		return "hybrid (cgroup v1 controllers and a cgroup v2 hierarchy)"
	case Unified:
		return "cgroup v2"
	}
	return "unknown"
}

// Hierarchy is one mounted cgroup hierarchy.
type Hierarchy struct {
	// Mountpoint is where it is mounted ("/sys/fs/cgroup/memory").
	Mountpoint string
	// Root is the cgroup mounted there, "/" but in a cgroup namespace or
	// a bind mount of a sub-tree.
	Root string
}

// Dir is the directory of the cgroup at path (relative to the hierarchy's
// root, as /proc/<pid>/cgroup and runc's cgroupsPath give it).
func (h Hierarchy) Dir(path string) string {
	if h.Root != "/" && h.Root != "" {
		if rel, ok := strings.CutPrefix(path, h.Root); ok && (rel == "" || rel[0] == '/') {
			path = rel
		}
	}
	return filepath.Join(h.Mountpoint, filepath.Clean("/"+path))
}

// Layout is the host's cgroup hierarchies, as /proc/self/mountinfo lists them.
type Layout struct {
	Mode Mode
	// V1 has the v1 hierarchy of each controller ("cpuacct", "memory",
	// "blkio", ...); two controllers mounted together share one.
	V1 map[string]Hierarchy
	// V2 is the cgroup v2 hierarchy; nil on V1 hosts.
	V2 *Hierarchy
	// V2Controllers are the controllers the v2 hierarchy has
	// (cgroup.controllers of its root): none on most hybrid hosts.
	V2Controllers []string
}

// v1Controllers are the controllers a v1 cgroup mount's options may name;
// the other options (rw, name=systemd, clone_children, ...) are not.
var v1Controllers = map[string]bool{
	"cpu": true, "cpuacct": true, "cpuset": true, "memory": true, "devices": true,
	"freezer": true, "net_cls": true, "net_prio": true, "blkio": true,
	"perf_event": true, "hugetlb": true, "pids": true, "rdma": true, "misc": true,
}

// ParseMountinfo reads a /proc/<pid>/mountinfo and returns the cgroup
// hierarchies in it. It does not read V2Controllers (DetectLayout does).
func ParseMountinfo(r io.Reader) (*Layout, error) {
	l := &Layout{V1: map[string]Hierarchy{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		// 36 31 0:33 / /sys/fs/cgroup/devices rw,relatime shared:1 - cgroup cgroup rw,devices
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			return nil, fmt.Errorf("mountinfo line %d has no \" - \" separator: %q", n, line)
		}
		fields, after := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(after) < 1 {
			return nil, fmt.Errorf("mountinfo line %d has too few fields: %q", n, line)
		}
		h := Hierarchy{Root: unescapeMountinfo(fields[3]), Mountpoint: unescapeMountinfo(fields[4])}
		switch after[0] {
		case "cgroup2":
			if l.V2 == nil {
				l.V2 = &h
			}
		case "cgroup":
			if len(after) < 3 {
				continue
			}
			for _, opt := range strings.Split(after[2], ",") {
				if _, seen := l.V1[opt]; v1Controllers[opt] && !seen {
					l.V1[opt] = h
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	switch {
	case len(l.V1) > 0 && l.V2 != nil:
		l.Mode = Hybrid
	case len(l.V1) > 0:
		l.Mode = V1
	case l.V2 != nil:
		l.Mode = Unified
	default:
		return nil, errNoCgroups
	}
	return l, nil
}

var errNoCgroups = errors.New("no cgroup hierarchy is mounted (mountinfo lists no cgroup or cgroup2 file system)")

// unescapeMountinfo undoes the kernel's octal escapes of space, tab,
// newline and backslash in mountinfo paths ("\040").
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, ok := octal3(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal3(s string) (byte, bool) {
	var v int
	for _, c := range []byte(s) {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), v < 256
}

// DetectLayout reads this process's mountinfo and the v2 root's controllers.
func DetectLayout() (*Layout, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("finding the cgroup hierarchies: %w", err)
	}
	l, err := ParseMountinfo(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("finding the cgroup hierarchies in /proc/self/mountinfo: %w", err)
	}
	if l.V2 != nil {
		c, err := os.ReadFile(filepath.Join(l.V2.Mountpoint, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("reading the cgroup v2 controllers: %w", err)
		}
		l.V2Controllers = strings.Fields(string(c))
	}
	return l, nil
}

// v2Has reports whether the v2 hierarchy has the controller.
func (l *Layout) v2Has(controller string) bool {
	if l.V2 == nil {
		return false
	}
	for _, c := range l.V2Controllers {
		if c == controller {
			return true
		}
	}
	return false
}
