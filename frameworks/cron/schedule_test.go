package cron

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// slots lists the first n slots after from.
func slots(t *testing.T, s Schedule, from time.Time, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		next, ok := s.Next(from)
		if !ok {
			break
		}
		if !next.After(from) {
			t.Fatalf("Next(%s) = %s, not after it", from, next)
		}
		out = append(out, next.Format(time.RFC3339))
		from = next
	}
	return out
}

func TestSchedules(t *testing.T) {
	for _, tc := range []struct {
		spec, zone, from string
		want             []string
	}{
		{"R3/2026-12-01T05:52:00Z/PT2S", "", "2026-01-01T00:00:00Z",
			[]string{"2026-12-01T05:52:00Z", "2026-12-01T05:52:02Z", "2026-12-01T05:52:04Z"}},
		{"R3/2026-12-01T05:52:00Z/PT2S", "", "2026-12-01T05:52:01Z", // two left
			[]string{"2026-12-01T05:52:02Z", "2026-12-01T05:52:04Z"}},
		{"R/2026-12-01T05:52:00Z/PT2S", "", "2027-03-01T00:00:00Z", // months later, no walk
			[]string{"2027-03-01T00:00:02Z", "2027-03-01T00:00:04Z"}},
		{"R0/2026-12-01T05:52:00Z/PT2S", "", "2026-01-01T00:00:00Z", nil},
		// A day is a calendar day in the zone: 05:52 in Paris across the
		// change to summer time (29 March 2026).
		{"R/2026-03-28T05:52:00/P1D", "Europe/Paris", "2026-03-28T00:00:00Z",
			[]string{"2026-03-28T05:52:00+01:00", "2026-03-29T05:52:00+02:00", "2026-03-30T05:52:00+02:00"}},
		{"R/2026-01-31T00:00:00Z/P1M", "", "2026-01-30T00:00:00Z",
			[]string{"2026-01-31T00:00:00Z", "2026-03-03T00:00:00Z", "2026-03-31T00:00:00Z"}},
		{"R/2026-01-01T00:00:00Z/P1W", "", "2026-01-01T00:00:00Z", []string{"2026-01-08T00:00:00Z"}},
		{"*/15 * * * *", "", "2026-12-01T05:52:00Z",
			[]string{"2026-12-01T06:00:00Z", "2026-12-01T06:15:00Z", "2026-12-01T06:30:00Z"}},
		{"0 9-17/4 * * mon-fri", "", "2026-12-04T12:00:00Z", // a Friday
			[]string{"2026-12-04T13:00:00Z", "2026-12-04T17:00:00Z", "2026-12-07T09:00:00Z"}},
		{"30 2 1,15 JAN,jul *", "", "2026-06-01T00:00:00Z",
			[]string{"2026-07-01T02:30:00Z", "2026-07-15T02:30:00Z", "2027-01-01T02:30:00Z"}},
		// Day of month and day of week both set: either matches (cron(8)).
		{"0 0 13 * 5", "", "2026-11-01T00:00:00Z",
			[]string{"2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z", "2026-11-20T00:00:00Z"}},
		{"0 0 29 2 *", "", "2026-01-01T00:00:00Z", []string{"2028-02-29T00:00:00Z"}},
		{"0 0 * * 7", "", "2026-12-01T00:00:00Z", []string{"2026-12-06T00:00:00Z"}},
		{"@daily", "America/New_York", "2026-12-01T12:00:00Z", []string{"2026-12-02T00:00:00-05:00"}},
		// 02:30 does not exist in Paris on 29 March 2026: that day runs at 03:30.
		{"30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"}},
	} {
		s, err := ParseSchedule(tc.spec, tc.zone)
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		got := slots(t, s, mustTime(t, tc.from), len(tc.want)+1)
		if len(tc.want) < len(got) && !strings.HasPrefix(tc.spec, "R3") && !strings.HasPrefix(tc.spec, "R0") {
			got = got[:len(tc.want)]
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s in %q from %s:\n got %v\nwant %v", tc.spec, tc.zone, tc.from, got, tc.want)
		}
	}
}

func TestBadSchedules(t *testing.T) {
	for _, tc := range []struct{ spec, zone, want string }{
		{"R/2026-12-01T05:52:00Z/PT2S", "Mars/Olympus", `scheduleTimeZone: unknown time zone "Mars/Olympus"`},
		{"R/2026-12-01T05:52:00Z", "", "three parts"},
		{"Rx/2026-12-01T05:52:00Z/PT2S", "", `repetitions "Rx"`},
		{"R/yesterday/PT2S", "", `start "yesterday"`},
		{"R/2026-12-01T05:52:00Z/2S", "", `period: duration "2S"`},
		{"R/2026-12-01T05:52:00Z/PT0S", "", "zero"},
		{"R/2026-12-01T05:52:00Z/P1.5D", "", `"1.5D" is not a unit here`},
		{"R/2026-12-01T05:52:00Z/PT0.1S", "", "shorter than a second"},
		{"* * * *", "", "5 fields"},
		{"61 * * * *", "", `minute field "61": "61" is not a value from 0 to 59`},
		{"* * * foo *", "", `month field "foo"`},
		{"*/0 * * * *", "", `step "0"`},
		{"5-1 * * * *", "", "backwards"},
		{"0 0 30 2 *", "", "matches no date"},
	} {
		_, err := ParseSchedule(tc.spec, tc.zone)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSchedule(%q, %q) = %v, want an error with %q", tc.spec, tc.zone, err, tc.want)
		}
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"R/2026-12-01T05:52:00Z/PT2S", "*/5 1-3 * jan mon", "@weekly", "R5/2026-01-01T00:00:00/P1Y2M"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseSchedule(spec, "")
		if err != nil {
			return
		}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if next, ok := s.Next(from); ok && !next.After(from) {
			t.Fatalf("%q: Next(%s) = %s", spec, from, next)
		}
	})
}
