package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Sample is a cgroup's usage at one moment: totals since the cgroup was
// made, and its memory now.
type Sample struct {
	CPUTime time.Duration
	// MemoryBytes is the memory charged to the cgroup now, page cache
	// included (v1 memory.usage_in_bytes, v2 memory.current).
	MemoryBytes uint64
	// MemoryPeakBytes is the most it was ever charged, from the kernel
	// when PeakFromKernel (v1 memory.max_usage_in_bytes, v2 memory.peak),
	// else 0 here (Handle then reports the most it saw).
	MemoryPeakBytes uint64
	PeakFromKernel  bool
	// MemoryLimit is the cgroup's memory limit; 0 for none.
	MemoryLimit uint64
	// IOReadBytes and IOWriteBytes are what its processes read from and
	// wrote to block devices (not to page cache).
	IOReadBytes  uint64
	IOWriteBytes uint64
	// OOMKills counts its processes the kernel killed for want of memory
	// under its limit (v1 memory.oom_control, v2 memory.events oom_kill):
	// how a runtime tells an OOM kill from another SIGKILL.
	OOMKills uint64
	// Missing names what could not be read here ("io", "memory"), because
	// the host lacks the controller.
	Missing []string
}

// files are one cgroup's directories, by what is read from them; "" when
// the host has no controller for it.
type files struct {
	path               string // the cgroup path, for messages
	cpu, memory, io    string
	cpuV2, memV2, ioV2 bool
}

// files locates the cgroup's directories and checks that they exist.
func (l *Layout) files(cgroupPath string) (*files, error) {
	f := &files{path: cgroupPath}
	pick := func(v1, v2 string) (string, bool) {
		if h, ok := l.V1[v1]; ok {
			return h.Dir(cgroupPath), false
		}
		if l.v2Has(v2) {
			return l.V2.Dir(cgroupPath), true
		}
		return "", false
	}
	f.cpu, f.cpuV2 = pick("cpuacct", "cpu")
	if f.cpu == "" && l.V2 != nil {
		// cpu.stat's usage_usec is in every v2 cgroup, with or without
		// the cpu controller.
		f.cpu, f.cpuV2 = l.V2.Dir(cgroupPath), true
	}
	f.memory, f.memV2 = pick("memory", "memory")
	f.io, f.ioV2 = pick("blkio", "io")
	for _, dir := range []string{f.cpu, f.memory, f.io} {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(dir); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("cgroup %s does not exist (no directory %s): the task has ended, or its runtime did not put it in that cgroup", cgroupPath, dir)
			}
			return nil, fmt.Errorf("cgroup %s: %w", cgroupPath, err)
		}
	}
	return f, nil
}

// Read reads the usage of the cgroup at cgroupPath (relative to the
// hierarchies' roots: "/pando/<task id>").
func (l *Layout) Read(cgroupPath string) (Sample, error) {
	f, err := l.files(cgroupPath)
	if err != nil {
		return Sample{}, err
	}
	return f.read()
}

func (f *files) read() (Sample, error) {
	var s Sample
	var errs []error
	if f.cpu == "" {
		s.Missing = append(s.Missing, "cpu")
	} else if err := f.readCPU(&s); err != nil {
		errs = append(errs, err)
	}
	if f.memory == "" {
		s.Missing = append(s.Missing, "memory")
	} else if err := f.readMemory(&s); err != nil {
		errs = append(errs, err)
	}
	if f.io == "" {
		s.Missing = append(s.Missing, "io")
	} else if err := f.readIO(&s); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return s, fmt.Errorf("reading the usage of cgroup %s: %w", f.path, err)
	}
	return s, nil
}

func (f *files) readCPU(s *Sample) error {
	if f.cpuV2 {
		text, err := readFile(f.cpu, "cpu.stat")
		if err != nil {
			return err
		}
		usec, ok, err := parseKeyed(text, "usage_usec")
		if err != nil || !ok {
			return fileError(f.cpu, "cpu.stat", err, "usage_usec")
		}
		s.CPUTime = time.Duration(usec) * time.Microsecond
		return nil
	}
	ns, err := readUint(f.cpu, "cpuacct.usage")
	s.CPUTime = time.Duration(ns)
	return err
}

func (f *files) readMemory(s *Sample) error {
	var err error
	if f.memV2 {
		if s.MemoryBytes, err = readUint(f.memory, "memory.current"); err != nil {
			return err
		}
		switch peak, err := readUint(f.memory, "memory.peak"); {
		case err == nil:
			s.MemoryPeakBytes, s.PeakFromKernel = peak, true
		case !errors.Is(err, fs.ErrNotExist): // before Linux 5.19: the Handle tracks it
			return err
		}
		if s.MemoryLimit, err = readLimit(f.memory, "memory.max"); err != nil {
			return err
		}
		text, err := readFile(f.memory, "memory.events")
		if err != nil {
			return err
		}
		s.OOMKills, _, err = parseKeyed(text, "oom_kill")
		return fileError(f.memory, "memory.events", err, "")
	}
	if s.MemoryBytes, err = readUint(f.memory, "memory.usage_in_bytes"); err != nil {
		return err
	}
	if s.MemoryPeakBytes, err = readUint(f.memory, "memory.max_usage_in_bytes"); err != nil {
		return err
	}
	s.PeakFromKernel = true
	if s.MemoryLimit, err = readLimit(f.memory, "memory.limit_in_bytes"); err != nil {
		return err
	}
	text, err := readFile(f.memory, "memory.oom_control")
	if err != nil {
		return err
	}
	// oom_kill appeared in Linux 4.13; older kernels have no count.
	s.OOMKills, _, err = parseKeyed(text, "oom_kill")
	return fileError(f.memory, "memory.oom_control", err, "")
}

func (f *files) readIO(s *Sample) error {
	var err error
	if f.ioV2 {
		text, err := readFile(f.io, "io.stat")
		if err != nil {
			return err
		}
		s.IOReadBytes, s.IOWriteBytes, err = parseIOStat(text)
		return fileError(f.io, "io.stat", err, "")
	}
	name := "blkio.throttle.io_service_bytes_recursive"
	text, err := readFile(f.io, name)
	if errors.Is(err, fs.ErrNotExist) { // before Linux 4.20
		name = "blkio.throttle.io_service_bytes"
		text, err = readFile(f.io, name)
	}
	if err != nil {
		return err
	}
	s.IOReadBytes, s.IOWriteBytes, err = parseBlkioServiceBytes(text)
	return fileError(f.io, name, err, "")
}

func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err // *fs.PathError names the file
	}
	return string(b), nil
}

func readUint(dir, name string) (uint64, error) {
	text, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := parseUint(text)
	return v, fileError(dir, name, err, "")
}

func readLimit(dir, name string) (uint64, error) {
	text, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := parseLimit(text)
	return v, fileError(dir, name, err, "")
}

// fileError names the file a parse error came from, or the key it lacks.
func fileError(dir, name string, err error, missingKey string) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	case missingKey != "":
		return fmt.Errorf("%s has no %s", filepath.Join(dir, name), missingKey)
	}
	return nil
}
