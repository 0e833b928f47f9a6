package cron

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // scheduleTimeZone works on a machine without zoneinfo
)

// Schedule says when a job's slots are.
type Schedule interface {
	// Next is the first slot strictly after t; false when there is none.
	Next(t time.Time) (time.Time, bool)
}

// ParseSchedule parses an ISO 8601 repeating interval
// ("R10/2026-12-01T05:52:00Z/PT2S", "R/2026-12-01T00:00:00/P1D") or a
// 5-field cron expression ("*/5 9-17 * * MON-FRI", "@daily"), read in
// the time zone zone ("" is UTC; otherwise an IANA name).
func ParseSchedule(spec, zone string) (Schedule, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil || strings.EqualFold(zone, "local") {
		return nil, fmt.Errorf("scheduleTimeZone: unknown time zone %q (use an IANA name such as Europe/Paris, or UTC)", zone)
	}
	spec = strings.TrimSpace(spec)
	var s Schedule
	if strings.HasPrefix(spec, "R") {
		s, err = parseISO(spec, loc)
	} else {
		s, err = parseCron(spec, loc)
	}
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

// Period is an ISO 8601 duration: calendar parts (added in the schedule's
// time zone, so P1D keeps the hour across daylight saving) and a fixed part.
type Period struct {
	Years, Months, Days int
	Fixed               time.Duration
}

// ParsePeriod parses "P1Y2M3W4DT5H6M7.5S" (any parts, at least one).
func ParsePeriod(s string) (Period, error) {
	var p Period
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" || rest == "T" {
		return p, fmt.Errorf("duration %q must look like P1D, PT2S or P1Y2M3DT4H5M6S", s)
	}
	inTime := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return p, fmt.Errorf("duration %q has two T", s)
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return p, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || n > 1e6 {
			return p, fmt.Errorf("duration %q: bad number %q", s, rest[:i])
		}
		unit := rest[i]
		whole := n == math.Trunc(n)
		switch {
		case inTime && unit == 'H':
			p.Fixed += time.Duration(n * float64(time.Hour))
		case inTime && unit == 'M':
			p.Fixed += time.Duration(n * float64(time.Minute))
		case inTime && unit == 'S':
			p.Fixed += time.Duration(n * float64(time.Second))
		case !inTime && whole && unit == 'Y':
			p.Years += int(n)
		case !inTime && whole && unit == 'M':
			p.Months += int(n)
		case !inTime && whole && unit == 'W':
			p.Days += 7 * int(n)
		case !inTime && whole && unit == 'D':
			p.Days += int(n)
		default:
			return p, fmt.Errorf("duration %q: %q is not a unit here (date part: Y M W D in whole numbers; after T: H M S)", s, rest[:i+1])
		}
		rest = rest[i+1:]
	}
	if p == (Period{}) {
		return p, fmt.Errorf("duration %q is zero", s)
	}
	return p, nil
}

// Approx is the period's length, with months and years at their mean.
func (p Period) Approx() time.Duration {
	day := 24 * time.Hour
	return time.Duration(p.Years)*time.Duration(365.2425*float64(day)) +
		time.Duration(p.Months)*time.Duration(30.436875*float64(day)) +
		time.Duration(p.Days)*day + p.Fixed
}

// after is k periods after t, in t's location.
func (p Period) after(t time.Time, k int) time.Time {
	return t.AddDate(k*p.Years, k*p.Months, k*p.Days).Add(time.Duration(k) * p.Fixed)
}

// iso is "R[n]/start/period": slot k is start plus k periods, for k < n
// (every k when n is absent).
type iso struct {
	reps   int // -1: forever
	start  time.Time
	period Period
}

func parseISO(spec string, loc *time.Location) (Schedule, error) {
	parts := strings.Split(spec, "/")
	if len(parts) != 3 {
		return nil, fmt.Errorf("an ISO 8601 repeating interval has three parts, R[n]/start/period (e.g. R/2026-12-01T05:52:00Z/PT2S)")
	}
	s := iso{reps: -1}
	if n := parts[0][1:]; n != "" {
		r, err := strconv.Atoi(n)
		if err != nil || r < 0 {
			return nil, fmt.Errorf("repetitions %q must be R followed by a whole number, or R alone for forever", parts[0])
		}
		s.reps = r
	}
	var err error
	if s.start, err = time.Parse(time.RFC3339Nano, parts[1]); err != nil {
		// Without an offset, the start is a wall time in the schedule's zone.
		if s.start, err = time.ParseInLocation("2006-01-02T15:04:05", parts[1], loc); err != nil {
			return nil, fmt.Errorf("start %q must be a date and time like 2026-12-01T05:52:00Z", parts[1])
		}
	}
	s.start = s.start.In(loc)
	if s.period, err = ParsePeriod(parts[2]); err != nil {
		return nil, fmt.Errorf("period: %w", err)
	}
	if s.period.Approx() < time.Second {
		return nil, fmt.Errorf("period %q is shorter than a second", parts[2])
	}
	return s, nil
}

func (s iso) Next(t time.Time) (time.Time, bool) {
	k := 0
	if !t.Before(s.start) {
		// Jump close to the answer, then step: months of a 2 s schedule
		// cost a few steps, not millions.
		k = max(0, int(t.Sub(s.start)/s.period.Approx())-2)
		for k > 0 && s.period.after(s.start, k).After(t) {
			k--
		}
		for !s.period.after(s.start, k).After(t) {
			k++
		}
	}
	if s.reps >= 0 && k >= s.reps {
		return time.Time{}, false
	}
	return s.period.after(s.start, k), true
}

// cronExpr is a 5-field cron expression: one bit per allowed value.
type cronExpr struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
	loc                           *time.Location
}

var macros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

var (
	monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	dayNames   = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

func parseCron(spec string, loc *time.Location) (Schedule, error) {
	if m, ok := macros[strings.ToLower(spec)]; ok {
		spec = m
	}
	f := strings.Fields(spec)
	if len(f) != 5 {
		return nil, fmt.Errorf("not an ISO 8601 repeating interval (R/start/period) nor a cron expression of 5 fields (minute hour day-of-month month day-of-week); it has %d fields", len(f))
	}
	c := cronExpr{loc: loc, domStar: strings.HasPrefix(f[2], "*"), dowStar: strings.HasPrefix(f[4], "*")}
	var err error
	fields := []struct {
		name     string
		out      *uint64
		lo, hi   int
		names    []string
		nameBase int
	}{
		{"minute", &c.minute, 0, 59, nil, 0},
		{"hour", &c.hour, 0, 23, nil, 0},
		{"day of month", &c.dom, 1, 31, nil, 0},
		{"month", &c.month, 1, 12, monthNames, 1},
		{"day of week", &c.dow, 0, 7, dayNames, 0},
	}
	for i, fd := range fields {
		if *fd.out, err = parseField(f[i], fd.lo, fd.hi, fd.names, fd.nameBase); err != nil {
			return nil, fmt.Errorf("%s field %q: %w", fd.name, f[i], err)
		}
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
	}
	// A schedule that never fires (30 February) is refused now, not
	// discovered by a job that never runs.
	if _, ok := c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); !ok {
		return nil, fmt.Errorf("matches no date")
	}
	return c, nil
}

func parseField(s string, lo, hi int, names []string, base int) (uint64, error) {
	var bits uint64
	value := func(v string) (int, error) {
		for i, n := range names {
			if strings.EqualFold(v, n) {
				return i + base, nil
			}
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%q is not a value from %d to %d", v, lo, hi)
		}
		return n, nil
	}
	for _, item := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q must be a positive whole number", stepText)
			}
			step = n
		}
		from, to := lo, hi
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if from, err = value(a); err != nil {
				return 0, err
			}
			switch {
			case isRange:
				if to, err = value(b); err != nil {
					return 0, err
				}
				if to < from {
					return 0, fmt.Errorf("range %q runs backwards", rng)
				}
			case !hasStep:
				to = from
			}
		}
		for v := from; v <= to; v += step {
			bits |= 1 << v
		}
	}
	return bits, nil
}

func has(bits uint64, v int) bool { return bits&(1<<v) != 0 }

func (c cronExpr) dayMatches(t time.Time) bool {
	dom, dow := has(c.dom, t.Day()), has(c.dow, int(t.Weekday()))
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow // both restricted: either will do, as in cron(8)
}

func (c cronExpr) Next(t time.Time) (time.Time, bool) {
	t = t.In(c.loc).Truncate(time.Minute).Add(time.Minute)
	limit := t.Year() + 5 // covers 29 February
wrap:
	if t.Year() > limit {
		return time.Time{}, false
	}
	for !has(c.month, int(t.Month())) {
		if t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, c.loc); t.Year() > limit {
			return time.Time{}, false
		}
	}
	for !c.dayMatches(t) {
		if t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, c.loc); t.Day() == 1 {
			goto wrap
		}
	}
	for !has(c.hour, t.Hour()) {
		next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, c.loc)
		if !next.After(t) { // a repeated hour as clocks go back
			next = t.Truncate(time.Hour).Add(time.Hour)
		}
		if t = next; t.Hour() == 0 {
			goto wrap
		}
		if h := t.Hour() - 1; h > 0 && !has(c.hour, t.Hour()) && has(c.hour, h) && time.Date(t.Year(), t.Month(), t.Day(), h, 0, 0, 0, c.loc).Hour() != h {
			break // clocks skipped hour h: its runs happen in the hour after
		}
	}
	for !has(c.minute, t.Minute()) {
		if t = t.Add(time.Minute); t.Minute() == 0 {
			goto wrap
		}
	}
	return t, true
}
