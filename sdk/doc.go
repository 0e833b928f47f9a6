// Package sdk is what a framework author imports to run a scheduler on
// Pando: the scheduler driver, and placement helpers (bin-packing and
// attribute constraints).
//
// # The driver
//
// A framework implements Scheduler and hands it to NewDriver. The driver is
// an actor (protoactor-go) that talks the Pando protocol (kernel/kernelpb)
// with the master:
//
//	d, _ := sdk.NewDriver(sdk.Config{
//		Framework: &kernelpb.FrameworkInfo{Name: "hello", Roles: []string{"*"}},
//		MasterURL: "http://127.0.0.1:5050",
//	}, myScheduler)
//	_ = d.Start()
//	defer d.Stop(false)
//
// Every Scheduler callback runs on the driver actor's goroutine, one at a
// time, so a scheduler needs no locking for state only its callbacks touch.
// The driver's calls (Accept, Decline, Acknowledge, Reconcile, Kill,
// Suppress, Revive) are safe from callbacks and from any other goroutine:
// each becomes a message to the driver actor, which forwards it to the
// master. Calls made while the driver is not subscribed are dropped, except
// that the tasks of a dropped Accept come back as TASK_LOST updates so the
// scheduler can launch them again; re-issue kills and reconciliation from
// the Subscribed callback.
//
// Callbacks receive the *Driver to call; Stop called through it from a
// callback does not wait for the driver to stop (it could not: the driver
// is busy running that callback). Done reports when it has.
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
