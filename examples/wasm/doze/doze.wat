;; doze: sleeps args[1] milliseconds (default an hour) inside the host, with
;; clock subscriptions to poll_oneoff, then prints "awake" and exits 0.
;; Written by hand so that it needs no compiler and compiles in
;; milliseconds even under -race: the executor tests run it by the dozen.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  ;; 0: argc; 4: size of the arguments; 16: argv (64 pointers at most);
  ;; 1024: the arguments (4 KiB at most); 8192: the subscription (48
  ;; bytes); 8256: the event; 8300: nevents; 8320: an iovec; 8400: text;
  ;; 8448: the time.
  (memory (export "memory") 1)
  (data (i32.const 8400) "awake\n")
  (func (export "_start")
    (local $ms i64) (local $p i32) (local $c i32) (local $deadline i64) (local $now i64)
    (local.set $ms (i64.const 3600000))
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (if (i32.and
          (i32.and (i32.ge_u (i32.load (i32.const 0)) (i32.const 2)) (i32.le_u (i32.load (i32.const 0)) (i32.const 64)))
          (i32.le_u (i32.load (i32.const 4)) (i32.const 4096)))
      (then
        (drop (call $args_get (i32.const 16) (i32.const 1024)))
        (local.set $p (i32.load (i32.const 20)))
        (local.set $ms (i64.const 0))
        (block $end
          (loop $digits
            (local.set $c (i32.load8_u (local.get $p)))
            (br_if $end (i32.lt_u (local.get $c) (i32.const 48)))
            (br_if $end (i32.gt_u (local.get $c) (i32.const 57)))
            (local.set $ms (i64.add (i64.mul (local.get $ms) (i64.const 10))
                                    (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 48)))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $digits)))))
    ;; Sleep until the deadline on the monotonic clock (id 1), again if a
    ;; sleep returns early: the runtime cuts a killed task's sleep short,
    ;; and the loop is where wazero then ends the task.
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 8448)))
    (local.set $deadline (i64.add (i64.load (i32.const 8448)) (i64.mul (local.get $ms) (i64.const 1000000))))
    (block $slept
      (loop $sleep
        (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 8448)))
        (local.set $now (i64.load (i32.const 8448)))
        (br_if $slept (i64.ge_u (local.get $now) (local.get $deadline)))
        (i32.store8 (i32.const 8200) (i32.const 0))
        (i32.store (i32.const 8208) (i32.const 1))
        (i64.store (i32.const 8216) (i64.sub (local.get $deadline) (local.get $now)))
        (drop (call $poll_oneoff (i32.const 8192) (i32.const 8256) (i32.const 1) (i32.const 8300)))
        (br $sleep)))
    (call $wake))
  (func $wake
    (i32.store (i32.const 8320) (i32.const 8400))
    (i32.store (i32.const 8324) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 8320) (i32.const 1) (i32.const 8340)))))
