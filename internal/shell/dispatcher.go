package shell

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Dispatcher runs the mailboxes of the actors on the task path (master,
// agent, executors, framework drivers) on goroutines kept between bursts.
// protoactor's default starts a goroutine each time an idle mailbox gets a
// message; its stack starts small and grows, copied, on every burst: at
// thousands of tasks a second, a tenth of the pipeline's CPU. A kept
// goroutine's stack is already grown. Throughput is protoactor's default.
var Dispatcher actor.Dispatcher = newPool(300, 10*time.Second)

// pool is an actor.Dispatcher over reused goroutines: an idle one takes
// the next mailbox run, else a new one starts (a run never waits), and one
// idle for the idle time ends.
type pool struct {
	throughput int
	idle       time.Duration
	runs       chan func() // unbuffered: a send succeeds only to an idle goroutine
}

func newPool(throughput int, idle time.Duration) *pool {
	return &pool{throughput: throughput, idle: idle, runs: make(chan func())}
}

var _ actor.Dispatcher = (*pool)(nil)

// Schedule implements actor.Dispatcher.
func (p *pool) Schedule(fn func()) {
	select {
	case p.runs <- fn:
	default:
		go p.loop(fn)
	}
}

// Throughput implements actor.Dispatcher.
func (p *pool) Throughput() int { return p.throughput }

func (p *pool) loop(fn func()) {
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		fn()
		t.Reset(p.idle)
		select {
		case fn = <-p.runs:
		case <-t.C:
			return
		}
	}
}
