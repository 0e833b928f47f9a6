package cgroups

import (
	"strings"
	"testing"
)

const (
	mountinfoHybrid = `22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	mountinfoV1Comounted = `25 21 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory
30 25 0:27 /kubepods /sys/fs/cgroup/blkio rw,nosuid shared:12 - cgroup cgroup rw,blkio,clone_children
`
	mountinfoV2 = `26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	mountinfoEscaped = `41 31 0:38 / /mnt/my\040cgroups rw,relatime - cgroup2 cgroup2 rw
`
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		mode       Mode
		v1         map[string]Hierarchy
		v2         string
	}{
		{"hybrid", mountinfoHybrid, Hybrid, map[string]Hierarchy{
			"cpu":     {Mountpoint: "/sys/fs/cgroup/cpu", Root: "/"},
			"cpuacct": {Mountpoint: "/sys/fs/cgroup/cpuacct", Root: "/"},
			"memory":  {Mountpoint: "/sys/fs/cgroup/memory", Root: "/"},
			"blkio":   {Mountpoint: "/sys/fs/cgroup/blkio", Root: "/"},
		}, "/sys/fs/cgroup/unified"},
		{"v1 co-mounted, a sub-tree mounted", mountinfoV1Comounted, V1, map[string]Hierarchy{
			"cpu":     {Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", Root: "/"},
			"cpuacct": {Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", Root: "/"},
			"memory":  {Mountpoint: "/sys/fs/cgroup/memory", Root: "/"},
			"blkio":   {Mountpoint: "/sys/fs/cgroup/blkio", Root: "/kubepods"},
		}, ""},
		{"v2", mountinfoV2, Unified, map[string]Hierarchy{}, "/sys/fs/cgroup"},
		{"escaped mountpoint", mountinfoEscaped, Unified, map[string]Hierarchy{}, "/mnt/my cgroups"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseMountinfo(strings.NewReader(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if l.Mode != tc.mode {
				t.Errorf("mode %v, want %v", l.Mode, tc.mode)
			}
			if len(l.V1) != len(tc.v1) {
				t.Errorf("v1 controllers %v, want %v", l.V1, tc.v1)
			}
			for c, h := range tc.v1 {
				if l.V1[c] != h {
					t.Errorf("controller %s: %+v, want %+v", c, l.V1[c], h)
				}
			}
			got := ""
			if l.V2 != nil {
				got = l.V2.Mountpoint
			}
			if got != tc.v2 {
				t.Errorf("v2 at %q, want %q", got, tc.v2)
			}
		})
	}
}

func TestParseMountinfoRejects(t *testing.T) {
	for name, text := range map[string]string{
		"no cgroups":   "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",
		"no separator": "22 1 254:0 / / rw,relatime ext4 /dev/vda rw\n",
		"short":        "22 1 - cgroup2 cgroup2 rw\n",
	} {
		if l, err := ParseMountinfo(strings.NewReader(text)); err == nil {
			t.Errorf("%s: parsed as %+v, want an error", name, l)
		}
	}
}

func TestHierarchyDir(t *testing.T) {
	for _, tc := range []struct {
		h          Hierarchy
		path, want string
	}{
		{Hierarchy{"/sys/fs/cgroup/memory", "/"}, "/pando/t1", "/sys/fs/cgroup/memory/pando/t1"},
		{Hierarchy{"/sys/fs/cgroup/blkio", "/kubepods"}, "/kubepods/pando/t1", "/sys/fs/cgroup/blkio/pando/t1"},
		{Hierarchy{"/sys/fs/cgroup/blkio", "/kubepods"}, "/kubepodsX/t1", "/sys/fs/cgroup/blkio/kubepodsX/t1"},
		{Hierarchy{"/sys/fs/cgroup", "/"}, "/pando/../../etc", "/sys/fs/cgroup/etc"},
	} {
		if got := tc.h.Dir(tc.path); got != tc.want {
			t.Errorf("%+v.Dir(%q) = %q, want %q", tc.h, tc.path, got, tc.want)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]uint64{
		"max\n":                 0,
		"9223372036854771712\n": 0, // v1: no limit
		"67108864\n":            64 << 20,
	} {
		if got, err := parseLimit(in); err != nil || got != want {
			t.Errorf("parseLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseLimit("lots\n"); err == nil {
		t.Error("parseLimit(lots) succeeded")
	}
}

func TestParseKeyed(t *testing.T) {
	for _, tc := range []struct {
		name, text, key string
		want            uint64
		found           bool
	}{
		{"v1 oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill", 3, true},
		{"v1 oom_control before 4.13", "oom_kill_disable 0\nunder_oom 0\n", "oom_kill", 0, false},
		{"v2 memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n", "oom_kill", 1, true},
		{"v2 cpu.stat", "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n", "usage_usec", 123456, true},
	} {
		got, found, err := parseKeyed(tc.text, tc.key)
		if err != nil || got != tc.want || found != tc.found {
			t.Errorf("%s: %d, %v, %v; want %d, %v", tc.name, got, found, err, tc.want, tc.found)
		}
	}
	if _, _, err := parseKeyed("usage_usec many\n", "usage_usec"); err == nil {
		t.Error("a non-number value parsed")
	}
}

func TestParseBlkioServiceBytes(t *testing.T) {
	text := `254:0 Read 4194304
254:0 Write 8388608
254:0 Sync 12582912
254:0 Async 0
254:0 Discard 0
254:0 Total 12582912
8:0 Read 4096
8:0 Write 0
8:0 Total 4096
Total 12587008
`
	r, w, err := parseBlkioServiceBytes(text)
	if err != nil || r != 4194304+4096 || w != 8388608 {
		t.Errorf("got read %d write %d, %v", r, w, err)
	}
	if r, w, err := parseBlkioServiceBytes("Total 0\n"); err != nil || r != 0 || w != 0 {
		t.Errorf("an idle cgroup: read %d write %d, %v", r, w, err)
	}
	if _, _, err := parseBlkioServiceBytes("8:0 Read x\n"); err == nil {
		t.Error("a non-number parsed")
	}
}

func TestParseIOStat(t *testing.T) {
	text := "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=100 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"
	r, w, err := parseIOStat(text)
	if err != nil || r != 4196 || w != 8192 {
		t.Errorf("got read %d write %d, %v", r, w, err)
	}
	if r, w, err := parseIOStat(""); err != nil || r != 0 || w != 0 {
		t.Errorf("an idle cgroup: read %d write %d, %v", r, w, err)
	}
	if _, _, err := parseIOStat("8:0 rbytes=-1\n"); err == nil {
		t.Error("a negative count parsed")
	}
}

func TestParseProcCgroup(t *testing.T) {
	text := "9:name=systemd:/pando/t1\n4:memory:/pando/t1\n0::/pando/t1\n"
	if p, ok := parseProcCgroup(text); !ok || p != "/pando/t1" {
		t.Errorf("got %q, %v", p, ok)
	}
	if _, ok := parseProcCgroup("4:memory:/\n"); ok {
		t.Error("a v1-only process has a v2 cgroup")
	}
}

func TestUnavailable(t *testing.T) {
	v2 := &Layout{Mode: Unified, V1: map[string]Hierarchy{}, V2: &Hierarchy{"/sys/fs/cgroup", "/"}, V2Controllers: []string{"cpu", "memory", "io"}}
	if u := v2.unavailable("6.1.0"); len(u) != 0 {
		t.Errorf("full v2 on 6.1: %v", u)
	}
	if u := v2.unavailable("5.15.0-91-generic"); len(u) != 1 || !strings.HasPrefix(u[0], "memory peak:") {
		t.Errorf("v2 on 5.15: %v, want memory peak", u)
	}
	bare := &Layout{Mode: Hybrid, V1: map[string]Hierarchy{"cpu": {"/sys/fs/cgroup/cpu", "/"}}, V2: &Hierarchy{"/sys/fs/cgroup/unified", "/"}}
	u := bare.unavailable("6.1.0")
	if len(u) != 2 || !strings.HasPrefix(u[0], "memory:") || !strings.HasPrefix(u[1], "io:") {
		t.Errorf("no memory or io controllers: %v", u)
	}
}
