;; sleeponce: _start sleeps one hour in a single WASI poll_oneoff and then
;; returns (exit code 0). Killed during the sleep, it returns at once, as if
;; it had ended by itself: the runtime must still report it killed.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; One clock subscription at 0 (see examples/wasm/nap): monotonic clock,
    ;; relative timeout of an hour; the event at 64, nevents at 96.
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 96)))))
