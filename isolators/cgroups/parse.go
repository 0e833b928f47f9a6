package cgroups

import (
	"fmt"
	"strconv"
	"strings"
)

// The parsers below read the text of cgroup files; they do no I/O, so that
// table tests can feed them what v1 and v2 kernels write.

// unlimitedV1 is where v1 limits start meaning "none": the kernel writes
// PAGE_COUNTER_MAX pages (9223372036854771712 with 4KiB pages) for no limit.
const unlimitedV1 = 1 << 62

// parseUint reads a file holding one number ("4096\n").
func parseUint(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected a number, found %q", s)
	}
	return v, nil
}

// parseLimit reads a memory limit: v2's "max" or v1's huge number mean no
// limit, reported as 0.
func parseLimit(s string) (uint64, error) {
	if strings.TrimSpace(s) == "max" {
		return 0, nil
	}
	v, err := parseUint(s)
	if err != nil {
		return 0, err
	}
	if v >= unlimitedV1 {
		return 0, nil
	}
	return v, nil
}

// parseKeyed reads "key value" lines (v1 memory.oom_control, v2 cpu.stat
// and memory.events) and returns the value of key, and whether it was there.
func parseKeyed(s, key string) (uint64, bool, error) {
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || k != key {
			continue
		}
		n, err := parseUint(v)
		if err != nil {
			return 0, true, fmt.Errorf("%s: %w", key, err)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// parseBlkioServiceBytes sums the Read and Write bytes of every device in a
// v1 blkio.throttle.io_service_bytes[_recursive]:
//
//	8:0 Read 4096
//	8:0 Write 8192
//	8:0 Sync 12288
//	...
//	Total 12288
func parseBlkioServiceBytes(s string) (read, write uint64, err error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.Contains(f[0], ":") {
			continue // "Total n", blank lines
		}
		var sum *uint64
		switch f[1] {
		case "Read":
			sum = &read
		case "Write":
			sum = &write
		default:
			continue
		}
		n, err := parseUint(f[2])
		if err != nil {
			return 0, 0, fmt.Errorf("device %s %s: %w", f[0], f[1], err)
		}
		*sum += n
	}
	return read, write, nil
}

// parseIOStat sums rbytes and wbytes over the devices of a v2 io.stat:
//
//	8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0
func parseIOStat(s string) (read, write uint64, err error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			var sum *uint64
			switch k {
			case "rbytes":
				sum = &read
			case "wbytes":
				sum = &write
			default:
				continue
			}
			n, err := parseUint(v)
			if err != nil {
				return 0, 0, fmt.Errorf("device %s %s: %w", f[0], k, err)
			}
			*sum += n
		}
	}
	return read, write, nil
}

// parseProcCgroup returns the path of the cgroup v2 line ("0::/pando/x") of
// a /proc/<pid>/cgroup, and whether it has one.
func parseProcCgroup(s string) (string, bool) {
	for _, line := range strings.Split(s, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, true
		}
	}
	return "", false
}
