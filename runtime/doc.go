// Package runtime defines how a task runs: one small interface (prepare,
// launch, wait, kill, stats, recover) that every task runtime implements:
// runtime/wasm (wazero) now, runtime/container (containerd) next.
package runtime
