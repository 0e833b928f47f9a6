;; nap: a task that runs until it is killed, doing nothing: _start sleeps
;; an hour at a time in WASI poll_oneoff (one clock subscription), forever.
;; It costs one page of memory and no CPU, so that a test can keep
;; thousands of long-running tasks on one agent (the failover tests).
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; The subscription at 0 (48 bytes): userdata 0, tag 0 (clock),
    ;; clock id 1 (monotonic) at 16, timeout at 24 (ns), precision at 32,
    ;; flags 0 at 40 (relative). The event goes at 64, nevents at 96.
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (loop $again
      (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 96)))
      (br $again))))
