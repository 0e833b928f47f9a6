package shell

import (
	"log/slog"
	"testing"
	"time"
)

func TestDefaultsFillOnlyWhatIsZero(t *testing.T) {
	var tick time.Duration
	var logger *slog.Logger
	var clock func() time.Time
	Defaults(&tick, &logger, &clock)
	if tick != DefaultTickInterval || logger == nil || clock == nil {
		t.Fatalf("zero settings not filled: %v %v %v", tick, logger, clock != nil)
	}
	fixed := time.Unix(1, 0)
	tick, clock = time.Second, func() time.Time { return fixed }
	mine := slog.Default()
	logger = mine
	Defaults(&tick, &logger, &clock)
	if tick != time.Second || logger != mine || !clock().Equal(fixed) {
		t.Fatal("a set value was replaced")
	}
}
