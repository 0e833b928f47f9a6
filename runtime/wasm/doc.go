// Package wasm runs tasks that are WebAssembly modules (WASI preview1), with
// wazero.
//
// A module is compiled once per digest (in memory, and on disk when
// Config.CacheDir is set; in memory until no task has run it for
// Config.ModuleIdle) and every task is a fresh, anonymous instance of
// it: its arguments and environment, stdout and stderr into files of its
// sandbox, only the sandbox mounted (at /sandbox), its memory capped, and
// stopped by closing its context (Kill, timeout). A task is one goroutine
// running the module's _start.
//
// Stats reports a task's linear memory (now, its peak, and its limit), its
// CPU time, and the bytes written to its stdout and stderr. The CPU time is
// that of the OS thread the task's goroutine is locked to while it runs
// (not while it sleeps), read from the thread's CPU clock: three system
// calls per task, one per Stats of a running task; a task without
// listeners is measured on the monotonic clock until its first write or
// sleep past its first millisecond, so a tiny task locks no thread (see
// taskCPU). Network
// counts are 0 for a task without ports (it has no sockets) and not
// measured for one with ports (sockets.go: a listener preopened on
// 127.0.0.1 per port); block IO is not measured (the agent's process does a
// task's file IO) and Stats says so in Unavailable.
//
// Tasks cannot outlive the process that runs them, so Recover is not
// supported.
package wasm
