package resources

import (
	"encoding/binary"
	"testing"

	"github.com/pandodc/pando/kernel/kernelpb"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "cpus:2", "cpus:0.5;mem:1.5GiB;disk:10G;ports:[31000-32000,33000-33010]",
		"cpus(batch):1;cpus(*):2", "ports:[8080]", "ports:[]", "mem:1B", "mem:512KiB",
		"cpus:abc", "cpus:-1", "cpus:0.0005", "ports:[5-3]", "ports:5;ports:[1-2]",
		"a:1;b(c/d):2.125;e:[0-4294967295]", " x : 1 ; ; ", "mem:1000000000000", "cpus:1.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		checkCanonical(t, r)
		out := r.String()
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", s, out, err)
		}
		if !back.Equal(r) {
			t.Fatalf("Parse(%q).String() = %q parses to %q", s, out, back)
		}
		if back.String() != out {
			t.Fatalf("String not stable: %q then %q", out, back.String())
		}
		p, err := FromProto(r.ToProto())
		if err != nil || !p.Equal(r) {
			t.Fatalf("proto round trip of %q: %q, %v", out, p, err)
		}
		// The algebra must agree with itself on whatever parsed.
		if !r.Add(r).Contains(r) || !r.Contains(r) {
			t.Fatalf("%q: r+r does not contain r", out)
		}
		if d, err := r.Subtract(r); err != nil || !d.IsEmpty() {
			t.Fatalf("%q - itself = %q, %v", out, d, err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512", "64MiB", "1.5GiB", "2G", "1B", "0.001B", "1048577b", "4 gb", "-1", "1e3", "GiB", "1000000000000", "999PiB", "1.2345KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseSize(s)
		if err != nil {
			return
		}
		if m < 0 || m > MaxQuantity {
			t.Fatalf("ParseSize(%q) = %d, out of [0, MaxQuantity]", s, m)
		}
		out := FormatSize(m)
		back, err := ParseSize(out)
		if err != nil || back != m {
			t.Fatalf("ParseSize(%q) = %d; FormatSize gives %q which parses to %d, %v", s, m, out, back, err)
		}
	})
}

// FuzzFromProto turns bytes into hostile protocol messages (negative and
// huge quantities, inverted and enormous ranges, nils, odd names) without
// going through the protobuf codec, which kernel tests need not import.
func FuzzFromProto(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 10, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := decodeHostile(data)
		r, err := FromProto(in)
		if err != nil {
			return
		}
		checkCanonical(t, r)
		back, err := FromProto(r.ToProto())
		if err != nil || !back.Equal(r) {
			t.Fatalf("round trip of %q: %q, %v", r, back, err)
		}
		p, err := Parse(r.String())
		if err != nil || !p.Equal(r) {
			t.Fatalf("Parse(%q) = %q, %v", r, p, err)
		}
	})
}

var fuzzNames = []string{"cpus", "mem", "ports", "", "a b", "x", "ports", "cpus"}
var fuzzRoles = []string{"", "*", "batch", "", "a b", "..", "eng/batch", "web"}

func decodeHostile(data []byte) []*kernelpb.Resource {
	next := func(n int) []byte {
		if len(data) < n {
			b := make([]byte, n)
			copy(b, data)
			data = nil
			return b
		}
		b := data[:n]
		data = data[n:]
		return b
	}
	u64 := func() uint64 { return binary.LittleEndian.Uint64(next(8)) }
	count := int(next(1)[0] % 8)
	var out []*kernelpb.Resource
	for range count {
		h := next(1)[0]
		if h == 0xfe {
			out = append(out, nil)
			continue
		}
		p := &kernelpb.Resource{Name: fuzzNames[h&7], Role: fuzzRoles[h>>3&7]}
		if h&0x40 != 0 {
			for range next(1)[0] % 4 {
				if len(data) == 1 {
					p.Ranges = append(p.Ranges, nil)
					next(1)
					continue
				}
				b, e := u64(), u64()
				if h&0x80 == 0 { // mostly small, so ranges meet
					b, e = b%100, e%100
				}
				p.Ranges = append(p.Ranges, &kernelpb.Range{Begin: b, End: e})
			}
		} else {
			p.Milli = int64(u64())
			if h&0x80 == 0 {
				p.Milli %= 1 << 20
			}
		}
		out = append(out, p)
	}
	return out
}
