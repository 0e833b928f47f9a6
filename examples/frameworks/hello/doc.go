// Command hello is the smallest useful Pando framework: it launches N
// copies of a WASM module on whatever it is offered, prints every status
// update, and exits when all copies are done (1 if any failed).
//
// It shows the SDK in 60 lines: sdk.Run for the driver's life (signals,
// teardown, exit code), sdk.NopScheduler for the callbacks it does not
// need, a task builder, Packer.Fit and Fit.Answer to fill and decline
// offers, sdk.IsDroppedLaunch to relaunch what never ran, and Finish. Its
// test plays the master with sdktest. See README.md.
package main
