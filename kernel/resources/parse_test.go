package resources

import (
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		in    string
		items []Resource // expected canonical entries
		str   string     // expected canonical text
	}{
		{"", nil, ""},
		{" ; ;", nil, ""},
		{"cpus:2", []Resource{{Name: "cpus", Milli: 2000}}, "cpus:2"},
		{"cpus:0.5", []Resource{{Name: "cpus", Milli: 500}}, "cpus:0.5"},
		{"cpus:.25", []Resource{{Name: "cpus", Milli: 250}}, "cpus:0.25"},
		{"cpus:1.25", []Resource{{Name: "cpus", Milli: 1250}}, "cpus:1.25"},
		{"cpus:1.001", []Resource{{Name: "cpus", Milli: 1001}}, "cpus:1.001"},
		{"cpus:1.5000", []Resource{{Name: "cpus", Milli: 1500}}, "cpus:1.5"},
		{"cpus:007", []Resource{{Name: "cpus", Milli: 7000}}, "cpus:7"},
		{"cpus:0", nil, ""},
		{"mem:512", []Resource{{Name: "mem", Milli: 512000}}, "mem:512"},
		{"mem:64MiB", []Resource{{Name: "mem", Milli: 64000}}, "mem:64"},
		{"mem:4GiB", []Resource{{Name: "mem", Milli: 4096000}}, "mem:4096"},
		{"mem:1.5GiB", []Resource{{Name: "mem", Milli: 1536000}}, "mem:1536"},
		{"disk:10G", []Resource{{Name: "disk", Milli: 10240000}}, "disk:10240"},
		{"mem:512KiB", []Resource{{Name: "mem", Milli: 500}}, "mem:0.5"},
		{"mem:1B", []Resource{{Name: "mem", Milli: 1}}, "mem:0.001"},
		{"cpus:2;mem:4096;ports:[31000-32000]", []Resource{
			{Name: "cpus", Milli: 2000}, {Name: "mem", Milli: 4096000},
			{Name: "ports", Ranges: []Range{{31000, 32000}}},
		}, "cpus:2;mem:4096;ports:[31000-32000]"},
		// Sorting by name then role; "*" is unreserved.
		{"mem:1;cpus(web):1;cpus(*):2;cpus(batch):3", []Resource{
			{Name: "cpus", Milli: 2000}, {Name: "cpus", Role: "batch", Milli: 3000},
			{Name: "cpus", Role: "web", Milli: 1000}, {Name: "mem", Milli: 1000},
		}, "cpus:2;cpus(batch):3;cpus(web):1;mem:1"},
		{"cpus(eng/batch):1", []Resource{{Name: "cpus", Role: "eng/batch", Milli: 1000}}, "cpus(eng/batch):1"},
		// Duplicates add.
		{"cpus:1;cpus:0.5;cpus(*):0.25", []Resource{{Name: "cpus", Milli: 1750}}, "cpus:1.75"},
		{"ports:[1-3];ports:[4-5]", []Resource{{Name: "ports", Ranges: []Range{{1, 5}}}}, "ports:[1-5]"},
		// Ranges sorted and coalesced; singles; spaces.
		{"ports:[ 40-50 , 1-3,4-5, 8080 ,45-60]", []Resource{{Name: "ports", Ranges: []Range{{1, 5}, {40, 60}, {8080, 8080}}}}, "ports:[1-5,40-60,8080-8080]"},
		{"ports:[8080-8080]", []Resource{{Name: "ports", Ranges: []Range{{8080, 8080}}}}, "ports:[8080-8080]"},
		{"ports:[]", nil, ""},
		{"ports:[0-4294967295]", []Resource{{Name: "ports", Ranges: []Range{{0, 4294967295}}}}, "ports:[0-4294967295]"},
		{" cpus : 2 ; mem ( batch ) : 1GiB ", []Resource{{Name: "cpus", Milli: 2000}, {Name: "mem", Role: "batch", Milli: 1024000}}, "cpus:2;mem(batch):1024"},
		{"my.custom_res-1:3", []Resource{{Name: "my.custom_res-1", Milli: 3000}}, "my.custom_res-1:3"},
		{"cpus:1000000000000", []Resource{{Name: "cpus", Milli: MaxQuantity}}, "cpus:1000000000000"},
	}
	for _, tc := range tests {
		r, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if want := newRaw(tc.items); !r.Equal(want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tc.in, r.Items(), tc.items)
		}
		if got := r.String(); got != tc.str {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.str)
		}
	}
}

// newRaw builds a set from entries already in canonical form, without going
// through New, so that tests of New and Parse do not check themselves.
func newRaw(items []Resource) Resources {
	if len(items) == 0 {
		return Resources{}
	}
	return Resources{items: items}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string // substrings the message must hold
	}{
		{"cpus:abc", []string{`resource "cpus:abc"`, `"abc" is not a number`, "cpus:2"}},
		{"cpus", []string{`resource "cpus"`, `missing ":"`}},
		{"cpus:", []string{"value is empty"}},
		{":2", []string{"name is empty"}},
		{"cp us:2", []string{`name "cp us"`, "letters, digits"}},
		{"cpus/x:2", []string{`name "cpus/x"`}},
		{"cpus(batch:2", []string{`missing its closing ")"`}},
		{"cpus(batch)x:2", []string{`missing its closing ")"`}},
		{"cpus():2", []string{"role is empty"}},
		{"cpus(a b):2", []string{`role "a b"`}},
		{"cpus(..):2", []string{`role ".."`}},
		{"cpus:-1", []string{`"-1" is negative`}},
		{"mem:-1GiB", []string{"negative"}},
		{"cpus:0.0005", []string{`"0.0005" has more than 3 decimal places`}},
		{"mem:1.0001", []string{"more than 3 decimal places"}},
		{"cpus:1.", []string{"no digits after its decimal point"}},
		{"cpus:.", []string{"not a number"}},
		{"cpus:1e3", []string{"not a number"}},
		{"cpus:+1", []string{"not a number"}},
		{"cpus:1,5", []string{"not a number"}},
		{"cpus:NaN", []string{"not a number"}},
		{"cpus:2GiB", []string{"only mem and disk take a size unit"}},
		{"mem:64XB", []string{`unknown unit "XB"`, "MiB"}},
		{"mem:GiB", []string{"has no number"}},
		{"mem:1.2.3GiB", []string{"is not a size"}},
		{"cpus:1000000000000.001", []string{"too large"}},
		{"cpus:99999999999999999999999", []string{"too large"}},
		{"mem:1000000000PiB", []string{"too large"}},
		{"ports:[1-2", []string{`missing the closing "]"`}},
		{"ports:[a-b]", []string{`"a-b" is not a range`}},
		{"ports:[1-]", []string{"is not a range"}},
		{"ports:[1-2-3]", []string{"is not a range"}},
		{"ports:[1-2,]", []string{"is not a range"}},
		{"ports:[5-3]", []string{`range "5-3" ends before it begins`}},
		{"ports:[1-4294967296]", []string{"at most 4294967295"}},
		{"ports:[1-99999999999999999999999]", []string{"at most 4294967295"}},
		{"ports:5;ports:[1-2]", []string{`resource "ports:[1-2]"`, "either a quantity or ranges"}},
		{"ports(a):[1-2];ports(b):3", []string{"either a quantity or ranges"}},
		{"cpus:1,mem:2", []string{"not a number"}}, // ',' does not separate entries
	}
	for _, tc := range tests {
		r, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error", tc.in, r)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%q) error %q does not mention %q", tc.in, err, w)
			}
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse of bad text did not panic")
		}
	}()
	MustParse("cpus:x")
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Milli
	}{
		{"512", 512 * One},
		{"0", 0},
		{"0.5", 500},
		{"64MiB", 64 * One},
		{"64mib", 64 * One},
		{"64 MiB", 64 * One},
		{"64M", 64 * One},
		{"64MB", 64 * One},
		{"4GiB", 4096 * One},
		{"4GB", 4096 * One}, // binary on purpose
		{"4g", 4096 * One},
		{"1.5GiB", 1536 * One},
		{"1.001GiB", 1025024},
		{"2TiB", 2 * 1024 * 1024 * One},
		{"1PiB", 1 << 30 * One},
		{"1024KiB", One},
		{"512K", 500},
		{"1KB", 1},             // 0.9765625 thousandths, rounded up
		{"1B", 1},              // a byte rounds up to a thousandth of a MiB
		{"1048576B", One},      // exactly 1 MiB
		{"1048577B", One + 1},  // a byte over rounds up
		{"1048.576B", 1},       // 0.001 MiB is 1048.576 bytes
		{"1048.577B", 2},       // just over
		{"0.001B", 1},          // anything non-zero stays non-zero
		{" 8GiB ", 8192 * One}, // spaces trimmed
		{"1000000000000", MaxQuantity},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if err != nil {
			t.Errorf("ParseSize(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseSize(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "has no number"},
		{"GiB", "has no number"},
		{"abc", "unknown unit"},
		{"64XB", `unknown unit "XB"`},
		{"64 GiBs", "unknown unit"},
		{"-1GiB", "negative"},
		{"1.0005MiB", "more than 3 decimal places"},
		{"1..5GiB", "is not a size"},
		{"1000000000001", "too large"},
		{"1000000000TiB", "too large"},
		{"99999999999999999999999B", "too large"},
	}
	for _, tc := range bad {
		got, err := ParseSize(tc.in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", tc.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "size ") {
			t.Errorf("ParseSize(%q) error %q does not say %q", tc.in, err, tc.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   Milli
		want string
	}{
		{0, "0MiB"},
		{64 * One, "64MiB"},
		{1536 * One, "1.5GiB"},
		{19456 * One, "19GiB"},
		{500, "512KiB"},
		{1, "1.024KiB"},
		{One, "1MiB"},
		{1500, "1.5MiB"},
		{1000 * One, "1000MiB"}, // not a round GiB: stays exact in MiB
		{1024 * One, "1GiB"},
		{512 * One, "512MiB"}, // 0.5GiB reads worse than 512MiB
		{1025024, "1.001GiB"},
		{1024 * 1024 * One, "1TiB"},
		{3 << 30 * One, "3PiB"},
		{-64 * One, "-64MiB"},
	}
	for _, tc := range tests {
		if got := FormatSize(tc.in); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FormatSize is exact: what it prints reads back as the same quantity.
func TestFormatSizeRoundTrip(t *testing.T) {
	for _, m := range []Milli{1, 2, 3, 499, 500, 999, 1000, 1001, 1023999, 1024000, 1025024, 123456789, MaxQuantity} {
		s := FormatSize(m)
		got, err := ParseSize(s)
		if err != nil || got != m {
			t.Errorf("ParseSize(FormatSize(%d) = %q) = %d, %v", m, s, got, err)
		}
	}
}
