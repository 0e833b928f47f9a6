;; tinyline: tiny plus one short line on stdout (WASI fd_write of "ok\n").
;; It measures the launch cost of a task that writes a little output: what
;; its log costs on top of tiny's fixed cost.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; The iovec at 0: {buf = 16, len = 3}; the line at 16; nwritten at 8.
  (data (i32.const 0) "\10\00\00\00\03\00\00\00")
  (data (i32.const 16) "ok\n")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
