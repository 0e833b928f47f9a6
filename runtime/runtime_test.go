package runtime

import "testing"

func TestFormatBytes(t *testing.T) {
	for n, want := range map[uint64]string{64 << 20: "64MiB", 1 << 30: "1GiB", 64 << 10: "64KiB", 1536 << 10: "1.5MiB", 100: "100 bytes"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
