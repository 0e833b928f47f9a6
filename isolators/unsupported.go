package isolators

import (
	"context"

	"github.com/pandodc/pando/runtime"
)

// Unsupported is an Isolator for what the host cannot measure: it attaches
// nothing and says why in Unavailable ("net: eBPF unavailable: ..."), so a
// task still runs, with its accounting marked unavailable.
func Unsupported(err error) Isolator {
	why, ok := Unavailable(err)
	if !ok {
		why = err.Error()
	}
	return unsupported{why: why}
}

type unsupported struct{ why string }

func (u unsupported) Name() string { return "unsupported" }

func (u unsupported) Attach(context.Context, Target) (Handle, error) { return noHandle{}, nil }

func (u unsupported) Unavailable() []string { return []string{u.why} }

func (u unsupported) Close() error { return nil }

type noHandle struct{}

func (noHandle) Usage(context.Context, *runtime.Stats) error { return nil }

func (noHandle) Detach() error { return nil }
