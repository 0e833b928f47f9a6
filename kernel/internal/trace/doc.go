// Package trace holds what the kernel's scenario tests share: Format, the
// one compact text form of every kernel message for traces
// ("master -> fw1: Offers{1-O1: 1-A1 cpus:2;mem:1024}"), and a small
// datadriven driver (in the style of etcd raft's and cockroachdb's
// datadriven) that runs testdata/*.txt files of commands and compares each
// command's output with the trace recorded under it. `go test -rewrite`
// records the traces afresh.
//
// It is test support only: nothing outside tests imports it.
package trace
