// Package sdk is what a framework author imports to run a scheduler on
// Pando, and the only Pando package a framework needs: the protocol and
// resource types it touches (aliases of kernel/kernelpb and
// kernel/resources), the scheduler driver, task builders, placement
// helpers and durable state. Package sdktest tests a scheduler without a
// cluster.
//
// # A framework in a few lines
//
// A framework implements the Scheduler callbacks it cares about, embedding
// NopScheduler for the others, and hands itself to Run:
//
//	type hello struct {
//		sdk.NopScheduler
//		task sdk.TaskBuilder
//		todo, launched, done, seq int
//	}
//
//	func (h *hello) Offers(d *sdk.Driver, offers []*sdk.Offer) {
//		fit, _ := (&sdk.Packer{}).Fit(offers, h.task.Shape("hello"), h.todo-h.launched)
//		fit.Answer(d, offers, func(o *sdk.Offer) *sdk.TaskInfo {
//			h.launched, h.seq = h.launched+1, h.seq+1
//			return h.task.On(o, fmt.Sprint("hello-", h.seq))
//		}, nil, nil)
//	}
//
//	func (h *hello) Update(d *sdk.Driver, st *sdk.TaskStatus) {
//		if sdk.IsDroppedLaunch(st) {
//			h.launched-- // it never ran: launch it again
//		} else if sdk.IsTerminal(st.GetState()) {
//			if h.done++; h.done == h.todo {
//				d.Finish(nil)
//			}
//		}
//	}
//
//	func main() {
//		task := sdk.WasmTask(module).Resources(sdk.MustParseResources("cpus:0.1;mem:64MiB"))
//		err := sdk.Run(context.Background(), sdk.Config{Framework: &sdk.FrameworkInfo{Name: "hello"}}, &hello{task: task, todo: 3})
//		os.Exit(sdk.ExitCode(err))
//	}
//
// Run finds the master (Config.MasterURL, else $PANDO_MASTER, else
// http://127.0.0.1:5050), subscribes, stops on SIGINT or SIGTERM (tearing
// the framework down, or failing over with Config.StopWithFailover) and
// returns the error the scheduler passed to Driver.Finish. Config.State
// keeps the framework id across restarts (see State, ValueOf, MapOf).
//
// # Placement
//
// Packer.Fit places N tasks of one Shape (resources, constraints, a group
// for UNIQUE) on a round of offers with a Strategy (FirstFit, BestFit,
// Spread); Fit.Answer accepts what fits and declines the rest. Fit.Why
// counts the offers turned down per reason (Why: too small in which
// resource, which constraint failed), so a framework can say why a task is
// not launching. Container tasks carry HasRuntime("container"): agents
// list their runtimes in the "runtimes" attribute.
//
// NeverFits, given the master's agents (client.Client.Agents), says
// whether a request could never run on any of them, so that a framework
// refuses it at submission naming the largest agent and what it lacks,
// rather than let it wait forever; client.Client.CheckArtifact says
// whether the master has the module or tarball it names.
//
// # The driver
//
// NewDriver, Start and Stop are the parts Run is made of, for frameworks
// that manage the driver's life themselves (e.g. frameworks/batch).
//
// Every Scheduler callback runs on the driver actor's goroutine, one at a
// time, so a scheduler needs no locking for state only its callbacks touch.
// The driver's calls (Accept, Decline, Acknowledge, Reconcile, Kill,
// Suppress, Revive, Finish) are safe from callbacks and from any other
// goroutine: each becomes a message to the driver actor, which forwards it
// to the master. Calls made while the driver is not subscribed are dropped,
// except that the tasks of a dropped Accept come back as TASK_LOST updates
// (IsDroppedLaunch) so the scheduler can launch them again; re-issue kills
// and reconciliation from the Subscribed callback.
//
// Callbacks receive the *Driver to call; Stop called through it from a
// callback does not wait for the driver to stop (it could not: the driver
// is busy running that callback). Done reports when it has.
//
// The driver's protocol logic (subscribe and resubscribe with backoff,
// epoch fencing, offer bookkeeping, heartbeat timeout, dropped launches)
// is a pure state machine with time as a parameter, like the kernel's: the
// actor is a thin shell that turns messages into its inputs and carries
// out its outputs, and Loop is a second, synchronous shell with a fake
// clock, which sdktest builds on.
//
// # How the master knows where to answer
//
// The driver sends Subscribe, and every later call, with actor Request, so
// the message's Sender is the driver's PID; the master answers Subscribe and
// sends Offers, Rescind, Update, Heartbeat and Error to that PID. After
// Subscribed the driver talks to the Subscribed message's Sender when it has
// one (a master may delegate to a per-framework proxy actor), otherwise to
// the master PID it subscribed to. When the master is in another process,
// the driver's actor system must have remoting enabled so the master can
// reach it; NewDriver with a nil Config.System sets that up.
//
// # Failure handling
//
// The driver watches the master actor. When the master terminates, or
// nothing arrives from it for the heartbeat timeout, the driver calls
// Disconnected, forgets every outstanding offer, and subscribes again with
// the framework id it was given (failover), backing off between attempts.
// Once subscribed again it calls Subscribed with reconnected=true; the
// scheduler should then Reconcile its tasks.
//
// Every message from the master carries the master's epoch. The driver
// drops any message whose epoch is lower than the highest it has seen (a
// deposed master), and treats a message from a higher epoch than the one it
// subscribed at as a master failover: it disconnects and subscribes to the
// new leader.
//
// # Acknowledgements
//
// Status updates are delivered at least once, until acknowledged. By default
// the driver acknowledges each update that carries an update_id right after
// the Update callback returns (implicit acknowledgement). A scheduler that
// must persist an update before it is acknowledged sets Config.ExplicitAck
// and calls Driver.Acknowledge itself.
package sdk
