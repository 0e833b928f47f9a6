package healthcheck

import (
	"fmt"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// Defaults of a HealthCheck's unset durations (Mesos' interval and timeout).
const (
	DefaultInterval = 10 * time.Second
	DefaultTimeout  = 20 * time.Second
)

// Schedule is the checking schedule of one task: pure, time is a parameter.
type Schedule struct {
	check    *kernelpb.HealthCheck
	graceEnd time.Time
	next     time.Time
	// failures counts the failures in a row that count (after the grace
	// period, or once the task has been healthy).
	failures  uint32
	healthy   *bool
	beenReady bool // healthy once: the grace period is over
}

// NewSchedule starts the schedule of a task that started running at started.
func NewSchedule(check *kernelpb.HealthCheck, started time.Time) *Schedule {
	return &Schedule{
		check:    check,
		graceEnd: started.Add(ms(check.GetGracePeriodMs())),
		next:     started.Add(ms(check.GetDelayMs())),
	}
}

// Next is when the next check is due.
func (s *Schedule) Next() time.Time { return s.next }

// Timeout is how long one check may take.
func (s *Schedule) Timeout() time.Duration { return orDefault(s.check.GetTimeoutMs(), DefaultTimeout) }

// Outcome is what one check's result changes.
type Outcome struct {
	// Report: the task's health changed (or is known for the first time);
	// Healthy is the new health.
	Report  bool
	Healthy bool
	// Kill: the task failed max_consecutive_failures checks in a row.
	Kill bool
	// Message says which check and how it went ("HTTP GET :31002/health
	// failed 3 times in a row: connection refused"), for the update.
	Message string
}

// Record takes the result of the check made at now (err nil: it passed)
// and schedules the next one.
func (s *Schedule) Record(now time.Time, err error) Outcome {
	s.next = now.Add(orDefault(s.check.GetIntervalMs(), DefaultInterval))
	if err == nil {
		s.failures, s.beenReady = 0, true
		out := s.set(true)
		out.Message = Describe(s.check) + " passed"
		return out
	}
	if !s.beenReady && now.Before(s.graceEnd) {
		return Outcome{} // still starting: does not count
	}
	s.failures++
	out := s.set(false)
	out.Message = fmt.Sprintf("%s failed: %v", Describe(s.check), err)
	if limit := s.check.GetMaxConsecutiveFailures(); limit > 0 && s.failures >= limit {
		out.Kill = true
		out.Message = fmt.Sprintf("%s failed %d times in a row: %v", Describe(s.check), s.failures, err)
	}
	return out
}

func (s *Schedule) set(healthy bool) Outcome {
	if s.healthy != nil && *s.healthy == healthy {
		return Outcome{Healthy: healthy}
	}
	s.healthy = &healthy
	return Outcome{Report: true, Healthy: healthy}
}

// Describe names a check for people: "HTTP GET :31002/health", "TCP :31002",
// "COMMAND [pg_isready]".
func Describe(c *kernelpb.HealthCheck) string {
	switch c.GetType() {
	case kernelpb.HealthCheck_HTTP:
		return fmt.Sprintf("HTTP GET :%d%s", c.GetPort(), path(c))
	case kernelpb.HealthCheck_TCP:
		return fmt.Sprintf("TCP :%d", c.GetPort())
	case kernelpb.HealthCheck_COMMAND:
		return fmt.Sprintf("COMMAND %q", c.GetCommand())
	}
	return fmt.Sprintf("health check of unknown type %d", c.GetType())
}

func path(c *kernelpb.HealthCheck) string {
	if p := c.GetPath(); p != "" {
		if p[0] != '/' {
			return "/" + p
		}
		return p
	}
	return "/"
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

func orDefault(n int64, d time.Duration) time.Duration {
	if n > 0 {
		return ms(n)
	}
	return d
}
