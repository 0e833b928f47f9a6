package resources

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The text form, Mesos style:
//
//	cpus:2;mem:4GiB;disk:10G;ports:[31000-32000,33000-33010];cpus(batch):0.5
//
// Entries are separated by ';' only (',' separates ranges inside "[...]"),
// spaces around parts are ignored, empty entries are skipped. A role in
// parentheses reserves the entry; "*" is unreserved. Duplicate entries add
// up. Quantities are decimal with at most 3 significant decimal places
// (trailing zeros beyond that are fine: they are still exact). mem and disk
// may carry a size unit (see ParseSize); other names take plain numbers.

// Parse reads the Mesos text form, e.g. "cpus:2;mem:4GiB;ports:[31000-32000]"
// or "cpus(batch):1" for a role. Scalars may carry sizes (mem:64MiB).
// A name must be used either as a quantity or as ranges, not both.
func Parse(s string) (Resources, error) {
	var items []Resource
	// kinds remembers, per name, whether it was a quantity or ranges, to
	// reject mixing; the text form is short, so a slice beats a map.
	type kind struct {
		name   string
		ranges bool
	}
	var kinds []kind
	for entry := range strings.SplitSeq(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		it, isRanges, err := parseEntry(entry)
		if err != nil {
			return Resources{}, fmt.Errorf("resource %q: %w", entry, err)
		}
		seen := false
		for _, k := range kinds {
			if k.name == it.Name {
				seen = true
				if k.ranges != isRanges {
					was := "a quantity"
					if k.ranges {
						was = "ranges"
					}
					return Resources{}, fmt.Errorf("resource %q: %s is given as %s elsewhere; a name is either a quantity or ranges, not both",
						entry, it.Name, was)
				}
			}
		}
		if !seen {
			kinds = append(kinds, kind{it.Name, isRanges})
		}
		items = append(items, it)
	}
	return canonical(items), nil
}

// MustParse is Parse for literals in tests and defaults; it panics on error.
func MustParse(s string) Resources {
	r, err := Parse(s)
	if err != nil {
		panic("resources.MustParse: " + err.Error())
	}
	return r
}

// parseEntry reads one "name(role):value" entry. Errors describe the
// problem; the caller adds which entry it was.
func parseEntry(entry string) (it Resource, isRanges bool, err error) {
	head, value, ok := strings.Cut(entry, ":")
	if !ok {
		return it, false, errors.New(`missing ":" between name and value (want e.g. cpus:2 or ports:[31000-32000])`)
	}
	head, value = strings.TrimSpace(head), strings.TrimSpace(value)
	name, role := head, ""
	if open := strings.IndexByte(head, '('); open >= 0 {
		if !strings.HasSuffix(head, ")") {
			return it, false, errors.New(`role is missing its closing ")" right before ":" (want e.g. cpus(batch):2)`)
		}
		name = strings.TrimSpace(head[:open])
		role = strings.TrimSpace(head[open+1 : len(head)-1])
		if role == "" {
			return it, false, errors.New(`role is empty (want a role name, or "*" for unreserved, e.g. cpus(batch):2)`)
		}
		if err := checkRole(role); err != nil {
			return it, false, err
		}
		if role == "*" {
			role = ""
		}
	}
	if err := checkName(name); err != nil {
		return it, false, err
	}
	it.Name, it.Role = name, role
	if value == "" {
		return it, false, fmt.Errorf("value is empty (want e.g. %s:2 or ports:[31000-32000])", name)
	}
	if value[0] == '[' {
		rs, err := parseRanges(value)
		if err != nil {
			return it, true, err
		}
		it.Ranges = rs
		return it, true, nil
	}
	if name == Mem || name == Disk {
		m, err := parseSize(value)
		if err != nil {
			return it, false, err
		}
		it.Milli = m
		return it, false, nil
	}
	m, err := parseDecimal(value, MaxQuantity)
	if err != nil {
		if _, serr := parseSize(value); serr == nil {
			return it, false, fmt.Errorf("%q: only mem and disk take a size unit (want e.g. %s:2)", value, name)
		}
		return it, false, err
	}
	it.Milli = m
	return it, false, nil
}

// checkName enforces [a-zA-Z0-9_.-]+ so names survive the text form and
// logs unambiguously.
func checkName(name string) error {
	if name == "" {
		return errors.New("name is empty (want e.g. cpus:2)")
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return fmt.Errorf("name %q may only hold letters, digits, '_', '.' and '-'", name)
		}
	}
	return nil
}

// checkRole accepts "*" or [a-zA-Z0-9_.-/]+ ('/' for hierarchical roles
// such as "eng/batch"), except "." and "..".
func checkRole(role string) error {
	if role == "*" {
		return nil
	}
	if role == "" {
		return errors.New(`role is empty (use "*" for unreserved)`)
	}
	if role == "." || role == ".." {
		return fmt.Errorf("role %q is not a role name", role)
	}
	for i := 0; i < len(role); i++ {
		if c := role[i]; !nameByte(c) && c != '/' {
			return fmt.Errorf(`role %q may only hold letters, digits, '_', '.', '-' and '/' (or be "*" for unreserved)`, role)
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// parseDecimal reads a non-negative decimal ("2", "0.5", ".25", "1.250")
// exactly into thousandths, digit by digit: no floats, no rounding. Values
// above limit are errors.
func parseDecimal(s string, limit Milli) (Milli, error) {
	if s == "" {
		return 0, errors.New("quantity is empty (want e.g. 2 or 0.5)")
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("%q is negative; quantities are zero or more", s)
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if !allDigits(intPart) || !allDigits(frac) || intPart == "" && frac == "" {
		return 0, decimalError{notNumber, fmt.Sprintf("%q is not a number (want e.g. cpus:2 or mem:64MiB)", s)}
	}
	if hasDot && frac == "" {
		return 0, fmt.Errorf("%q has no digits after its decimal point (want e.g. 2 or 2.5)", s)
	}
	// Digits beyond the third decimal must be zeros: anything else cannot
	// be held exactly.
	if len(frac) > 3 {
		if strings.Trim(frac[3:], "0") != "" {
			return 0, fmt.Errorf("%q has more than 3 decimal places; quantities are exact to a thousandth", s)
		}
		frac = frac[:3]
	}
	intPart = strings.TrimLeft(intPart, "0")
	maxUnits := uint64(limit / One)
	var units uint64
	for i := 0; i < len(intPart); i++ {
		units = units*10 + uint64(intPart[i]-'0')
		if units > maxUnits {
			return 0, decimalError{tooLarge, fmt.Sprintf("%q is too large (at most %s)", s, formatMilli(limit))}
		}
	}
	var milli uint64
	for i := 0; i < 3; i++ {
		milli *= 10
		if i < len(frac) {
			milli += uint64(frac[i] - '0')
		}
	}
	total := units*uint64(One) + milli
	if total > uint64(limit) {
		return 0, decimalError{tooLarge, fmt.Sprintf("%q is too large (at most %s)", s, formatMilli(limit))}
	}
	return Milli(total), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseRanges reads "[31000-32000,33000-33010]"; a lone number is a range
// of one ("[8080]" is "[8080-8080]"). "[]" is no ranges.
func parseRanges(s string) ([]Range, error) {
	if !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("ranges %q are missing the closing \"]\" (want e.g. ports:[31000-32000])", s)
	}
	body := strings.TrimSpace(s[1 : len(s)-1])
	if body == "" {
		return nil, nil
	}
	var rs []Range
	for part := range strings.SplitSeq(body, ",") {
		part = strings.TrimSpace(part)
		b, e, isPair := strings.Cut(part, "-")
		b, e = strings.TrimSpace(b), strings.TrimSpace(e)
		if !isPair {
			e = b
		}
		begin, err1 := parseRangeValue(b)
		end, err2 := parseRangeValue(e)
		if err1 != nil || err2 != nil {
			if errors.Is(err1, errRangeTooLarge) || errors.Is(err2, errRangeTooLarge) {
				return nil, fmt.Errorf("range %q: %w", part, errRangeTooLarge)
			}
			return nil, fmt.Errorf("%q is not a range (want begin-end with whole numbers, e.g. 31000-32000)", part)
		}
		if begin > end {
			return nil, fmt.Errorf("range %q ends before it begins", part)
		}
		rs = append(rs, Range{begin, end})
	}
	return normalizeRanges(rs), nil
}

var errRangeTooLarge = fmt.Errorf("range values are at most %d", MaxRangeValue)

func parseRangeValue(s string) (uint64, error) {
	if s == "" || !allDigits(s) {
		return 0, errors.New("not a number")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > MaxRangeValue {
		return 0, errRangeTooLarge
	}
	return v, nil
}

// Size units, all binary: K, KB and KiB all mean 1024 bytes, and so on up,
// as Mesos and most cluster tools read them; a user writing "mem:4GB"
// means the 4GiB the machine reports. The shift is relative to MiB.
var sizeUnits = []struct {
	name  string
	shift int // log2 of the unit in MiB; negative for B and KiB
}{
	{"b", -20},
	{"k", -10}, {"kb", -10}, {"kib", -10},
	{"m", 0}, {"mb", 0}, {"mib", 0},
	{"g", 10}, {"gb", 10}, {"gib", 10},
	{"t", 20}, {"tb", 20}, {"tib", 20},
	{"p", 30}, {"pb", 30}, {"pib", 30},
}

// ParseSize reads a human size ("64MiB", "1.5GiB", "512", "2G") and returns
// it in MiB as a fixed-point quantity. A bare number is MiB. Units are
// case-insensitive and binary (B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB,
// P/PB/PiB: "GB" is 1024 MiB). Sizes below a thousandth of a MiB round up:
// "1B" is 0.001 MiB, so a request for a byte never becomes a request for
// nothing.
func ParseSize(s string) (Milli, error) {
	m, err := parseSize(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	return m, nil
}

func parseSize(s string) (Milli, error) {
	// Split number and unit at the first letter.
	cut := len(s)
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c >= 'a' && c <= 'z' {
			cut = i
			break
		}
	}
	num, unit := strings.TrimSpace(s[:cut]), s[cut:]
	shift := 0
	if unit != "" {
		found := false
		for _, u := range sizeUnits {
			if strings.EqualFold(unit, u.name) {
				shift, found = u.shift, true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("%q has an unknown unit %q (want B, KiB, MiB, GiB, TiB or PiB; a bare number is MiB)", s, unit)
		}
	}
	if num == "" {
		return 0, fmt.Errorf("%q has no number (want e.g. 64MiB or 1.5GiB)", s)
	}
	// Parse the number in thousandths of the unit, with a limit that
	// keeps the scaled result within MaxQuantity (and, for B and KiB, the
	// rounding below within int64).
	limit := MaxQuantity >> max(shift, 0)
	if shift < 0 {
		limit = math.MaxInt64 / 2
	}
	v, err := parseDecimal(num, limit)
	if err != nil {
		return 0, sizeNumberError(s, err)
	}
	m := v
	switch {
	case shift < 0:
		d := Milli(1) << -shift
		m = (v + d - 1) / d // round up to the next thousandth of a MiB
	case shift > 0:
		m = v << shift
	}
	if m > MaxQuantity {
		return 0, fmt.Errorf("%q is too large (at most %sMiB)", s, formatMilli(MaxQuantity))
	}
	return m, nil
}

// sizeNumberError rewords parseDecimal's complaint about the number part so
// that it speaks of sizes.
func sizeNumberError(s string, err error) error {
	var de decimalError
	if errors.As(err, &de) {
		switch de.kind {
		case notNumber:
			return fmt.Errorf("%q is not a size (want e.g. 64MiB, 1.5GiB or 512)", s)
		case tooLarge:
			return fmt.Errorf("%q is too large (at most %sMiB)", s, formatMilli(MaxQuantity))
		}
	}
	return err
}

// decimalError lets parseSize tell which of parseDecimal's complaints it
// got, to reword it for sizes, without matching on message text.
type decimalError struct {
	kind int
	msg  string
}

const (
	notNumber = iota + 1
	tooLarge
)

func (e decimalError) Error() string { return e.msg }

// FormatSize prints MiB as a human size ("64MiB", "1.5GiB", "512KiB"). It
// picks the largest binary unit in which the value is at least 1 and still
// exact to a thousandth, so ParseSize(FormatSize(m)) == m for every m >= 0.
func FormatSize(m Milli) string {
	if m < 0 {
		if m == -m { // MinInt64 has no positive twin
			return "-" + FormatSize(-(m + 1))
		}
		return "-" + FormatSize(-m)
	}
	if m == 0 {
		return "0MiB"
	}
	for _, u := range [...]struct {
		shift uint
		name  string
	}{{30, "PiB"}, {20, "TiB"}, {10, "GiB"}} {
		if m%(Milli(1)<<u.shift) == 0 && m>>u.shift >= One {
			return formatMilli(m>>u.shift) + u.name
		}
	}
	if m >= One {
		return formatMilli(m) + "MiB"
	}
	// Below a MiB: a thousandth of a MiB is 1.024 KiB, so any value is
	// exact in thousandths of a KiB.
	return formatMilli(m*1024) + "KiB"
}

// formatMilli prints thousandths as a decimal: 2000 -> "2", 500 -> "0.5",
// 1250 -> "1.25".
func formatMilli(m Milli) string {
	var buf [24]byte
	return string(appendMilli(buf[:0], m))
}

func appendMilli(b []byte, m Milli) []byte {
	if m < 0 {
		b = append(b, '-')
		if m == math.MinInt64 {
			return append(b, "9223372036854775.808"...)
		}
		m = -m
	}
	b = strconv.AppendInt(b, int64(m/One), 10)
	if f := int64(m % One); f != 0 {
		b = append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return b
}

func appendRanges(b []byte, rs []Range) []byte {
	b = append(b, '[')
	for i, rg := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, rg.Begin, 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, rg.End, 10)
	}
	return append(b, ']')
}

func formatRanges(rs []Range) string { return string(appendRanges(nil, rs)) }

// String prints the canonical text form; Parse(r.String()) equals r.
// Entries are sorted by name then role; mem and disk print as plain MiB
// numbers ("mem:4096") so that nothing is lost to unit rounding; the empty
// set prints "". The round trip holds for every quantity up to MaxQuantity
// (sums beyond it print fine but do not parse back). (An entry holding both a quantity and ranges, which only
// New or Add on hand-built items can make, prints as two entries that
// Parse rejects; see Resource.)
func (r Resources) String() string {
	var b []byte
	head := func(it *Resource) {
		if len(b) > 0 {
			b = append(b, ';')
		}
		b = append(b, it.Name...)
		if it.Role != "" {
			b = append(b, '(')
			b = append(b, it.Role...)
			b = append(b, ')')
		}
		b = append(b, ':')
	}
	for i := range r.items {
		it := &r.items[i]
		if it.Milli != 0 {
			head(it)
			b = appendMilli(b, it.Milli)
		}
		if len(it.Ranges) > 0 {
			head(it)
			b = appendRanges(b, it.Ranges)
		}
	}
	return string(b)
}
