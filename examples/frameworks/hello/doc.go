// Command hello is the smallest useful Pando framework: it connects to a
// master, launches N copies of a WASM module on whatever it is offered,
// prints every status update, and exits when all copies are done.
//
// It shows the whole SDK contract in one file: a Scheduler with its six
// callbacks, sdk.BinPack to fill offers, declining what it cannot use,
// suppressing offers when it has nothing left to launch, and Stop(false)
// to tear the framework down at the end. See README.md.
package main
