// Package sdktest tests a framework's scheduler without a cluster: a
// Harness plays the master (subscribes the scheduler, sends it offers,
// status updates, rescinds, disconnects and failovers) and records every
// call the scheduler makes (Accepts, Declines, Kills, Acknowledges, ...).
//
// Under the harness runs the SDK's real driver logic (offer bookkeeping,
// epoch fencing, dropped launches coming back LOST, implicit
// acknowledgement) on a synchronous loop with a fake clock, so each step
// returns with every callback done: a test reads like a conversation and
// runs in milliseconds.
//
//	h := sdktest.New(t, &myScheduler{})
//	h.SendOffers(sdktest.Offer{Agent: "a1", Resources: "cpus:2;mem:1GiB"})
//	tasks := h.Launched()
//	h.FinishAll()
//	if !h.Finished() { t.Fatal("framework did not finish") }
package sdktest
