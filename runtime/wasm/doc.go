// Package wasm runs tasks that are WebAssembly modules (WASI preview1), with
// wazero.
//
// A module is compiled once per digest (in memory, and on disk when
// Config.CacheDir is set) and every task is a fresh, anonymous instance of
// it: its arguments and environment, stdout and stderr into files of its
// sandbox, only the sandbox mounted (at /sandbox), its memory capped, and
// stopped by closing its context (Kill, timeout). A task is one goroutine
// running the module's _start.
//
// Tasks cannot outlive the process that runs them, so Recover is not
// supported.
package wasm
