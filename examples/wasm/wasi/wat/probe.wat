;; probe: the WASI behaviour probe, hand-written against WASI preview1 with
;; no libc: every host call is visible. See ../README.md for its modes and
;; their exact output; every toolchain's probe prints the same bytes for the
;; same input. One difference: `cat` opens its path relative to the first
;; preopen (fd 3), so it takes paths under /sandbox/ only.
;;
;; Memory (2 pages, grown for `stdout N`):
;;   0     iovec (ptr, len)        8   nwritten / nread
;;   16    argc                    20  argv buffer size
;;   24    environ count           28  environ buffer size
;;   40    realtime, 48 mono1, 56 mono2 (clock)
;;   64    32 random bytes         72  opened fd
;;   80    prestat (tag, name length)
;;   128   poll_oneoff subscription (48 bytes), 192 its event, 240 nevents
;;   1024  string literals
;;   4096  argv pointers (at most 1024)      8192  argv buffer (to 32768)
;;   32768 environ pointers (at most 1024)   36864 environ buffer (to 65536)
;;   65536 I/O buffer (64 KiB), or `stdout N`'s N bytes
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  (memory (export "memory") 2)

  (data (i32.const 1024) "args\00")      ;; 1024
  (data (i32.const 1032) "env\00")       ;; 1032
  (data (i32.const 1040) "exit\00")      ;; 1040
  (data (i32.const 1048) "stdout\00")    ;; 1048
  (data (i32.const 1056) "streams\00")   ;; 1056
  (data (i32.const 1064) "clock\00")     ;; 1064
  (data (i32.const 1072) "random\00")    ;; 1072
  (data (i32.const 1080) "cat\00")       ;; 1080
  (data (i32.const 1088) "stdin\00")     ;; 1088
  (data (i32.const 1096) "preopens\00")  ;; 1096
  (data (i32.const 1112) "/sandbox/")    ;; 1112, 9 bytes
  (data (i32.const 1128) "o1\n")         ;; 1128, 3
  (data (i32.const 1132) "e1\n")         ;; 1132, 3
  (data (i32.const 1136) "o2\r\n")       ;; 1136, 4
  (data (i32.const 1140) "e2 no newline") ;; 1140, 13
  (data (i32.const 1156) "\00\ff\1a")    ;; 1156, 3
  (data (i32.const 1160) "probe: cannot open the file\n") ;; 1160, 28
  (data (i32.const 1192) "usage: probe args|env|exit N|stdout N|streams|clock|random|cat PATH|stdin|preopens\n") ;; 1192, 83

  ;; $check exits with code 1 if a WASI call failed.
  (func $check (param $errno i32)
    (if (local.get $errno) (then (call $proc_exit (i32.const 1)))))

  ;; $write writes all of [ptr, ptr+len) to fd.
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store (i32.const 0) (local.get $ptr))
        (i32.store (i32.const 4) (local.get $len))
        (call $check (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 8))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 8))))
        (br $more))))

  ;; $copy writes everything read from fd to stdout.
  (func $copy (param $fd i32)
    (loop $more
      (i32.store (i32.const 0) (i32.const 65536))
      (i32.store (i32.const 4) (i32.const 65536))
      (call $check (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.load (i32.const 8))
        (then
          (call $write (i32.const 1) (i32.const 65536) (i32.load (i32.const 8)))
          (br $more)))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $more)))
    (local.get $n))

  ;; $prefix is whether the n bytes at $a equal those at $b.
  (func $prefix (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $differ
      (loop $more
        (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
        (br_if $differ (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $more)))
    (i32.const 0))

  ;; $streq compares two NUL-terminated strings.
  (func $streq (param $a i32) (param $b i32) (result i32)
    (i32.and
      (i32.eq (call $strlen (local.get $a)) (call $strlen (local.get $b)))
      (call $prefix (local.get $a) (local.get $b) (call $strlen (local.get $a)))))

  ;; $atoi parses an optionally negative decimal number (wrapping, as a u32).
  (func $atoi (param $p i32) (result i32)
    (local $n i32) (local $neg i32) (local $c i32)
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 45)) ;; '-'
      (then
        (local.set $neg (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))))
    (block $done
      (loop $more
        (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (br_if $done (i32.gt_u (local.get $c) (i32.const 9)))
        (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (local.get $c)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $more)))
    (if (result i32) (local.get $neg)
      (then (i32.sub (i32.const 0) (local.get $n)))
      (else (local.get $n))))

  (func $arg (param $i i32) (result i32)
    (i32.load (i32.add (i32.const 4096) (i32.shl (local.get $i) (i32.const 2)))))

  (func $usage
    (call $write (i32.const 2) (i32.const 1192) (i32.const 83))
    (call $proc_exit (i32.const 2)))

  (func $argc_is (param $n i32) (result i32)
    (i32.eq (i32.load (i32.const 16)) (local.get $n)))

  (func $now (param $clock i32) (param $at i32)
    (call $check (call $clock_time_get (local.get $clock) (i64.const 1) (local.get $at))))

  (func (export "_start")
    (local $mode i32) (local $n i32) (local $i i32) (local $fd i32) (local $path i32)
    (call $check (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (if (i32.or (i32.gt_u (i32.load (i32.const 16)) (i32.const 1024))
                (i32.gt_u (i32.load (i32.const 20)) (i32.const 24576)))
      (then (call $proc_exit (i32.const 1)))) ;; too many arguments for this probe
    (call $check (call $args_get (i32.const 4096) (i32.const 8192)))
    (if (i32.lt_u (i32.load (i32.const 16)) (i32.const 2)) (then (call $usage)))
    (local.set $mode (call $arg (i32.const 1)))

    ;; args: the raw argv buffer is every argument NUL-terminated.
    (if (call $streq (local.get $mode) (i32.const 1024))
      (then (call $write (i32.const 1) (i32.const 8192) (i32.load (i32.const 20))) (return)))

    ;; env: the raw environ buffer is every KEY=VALUE NUL-terminated.
    (if (call $streq (local.get $mode) (i32.const 1032))
      (then
        (call $check (call $environ_sizes_get (i32.const 24) (i32.const 28)))
        (if (i32.or (i32.gt_u (i32.load (i32.const 24)) (i32.const 1024))
                    (i32.gt_u (i32.load (i32.const 28)) (i32.const 28672)))
          (then (call $proc_exit (i32.const 1))))
        (call $check (call $environ_get (i32.const 32768) (i32.const 36864)))
        (call $write (i32.const 1) (i32.const 36864) (i32.load (i32.const 28)))
        (return)))

    (if (i32.and (call $streq (local.get $mode) (i32.const 1040)) (call $argc_is (i32.const 3)))
      (then (call $proc_exit (call $atoi (call $arg (i32.const 2))))))

    (if (i32.and (call $streq (local.get $mode) (i32.const 1048)) (call $argc_is (i32.const 3)))
      (then
        (local.set $n (call $atoi (call $arg (i32.const 2))))
        (if (i32.gt_u (local.get $n) (i32.const 0x4000000)) (then (call $usage))) ;; 64 MiB at most
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $n) (i32.const 16)) (i32.const 1))) (i32.const -1))
          (then (call $proc_exit (i32.const 1))))
        (block $filled
          (loop $fill
            (br_if $filled (i32.eq (local.get $i) (local.get $n)))
            (i32.store8 (i32.add (i32.const 65536) (local.get $i))
              (i32.xor (local.get $i) (i32.shr_u (local.get $i) (i32.const 8))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $fill)))
        (call $write (i32.const 1) (i32.const 65536) (local.get $n))
        (return)))

    (if (call $streq (local.get $mode) (i32.const 1056))
      (then
        (call $write (i32.const 1) (i32.const 1128) (i32.const 3))
        (call $write (i32.const 2) (i32.const 1132) (i32.const 3))
        (call $write (i32.const 1) (i32.const 1136) (i32.const 4))
        (call $write (i32.const 2) (i32.const 1140) (i32.const 13))
        (call $write (i32.const 1) (i32.const 1156) (i32.const 3))
        (return)))

    ;; clock: realtime, monotonic, a 5ms sleep (poll_oneoff on a relative
    ;; monotonic clock), monotonic again; 24 bytes, little-endian.
    (if (call $streq (local.get $mode) (i32.const 1064))
      (then
        (call $now (i32.const 0) (i32.const 40))
        (call $now (i32.const 1) (i32.const 48))
        (i64.store (i32.const 128) (i64.const 0))        ;; userdata
        (i32.store8 (i32.const 136) (i32.const 0))       ;; tag: clock
        (i32.store (i32.const 144) (i32.const 1))        ;; clock id: monotonic
        (i64.store (i32.const 152) (i64.const 5000000))  ;; timeout: 5ms
        (i64.store (i32.const 160) (i64.const 0))        ;; precision
        (i32.store16 (i32.const 168) (i32.const 0))      ;; flags: relative
        (call $check (call $poll_oneoff (i32.const 128) (i32.const 192) (i32.const 1) (i32.const 240)))
        (call $now (i32.const 1) (i32.const 56))
        (call $write (i32.const 1) (i32.const 40) (i32.const 24))
        (return)))

    (if (call $streq (local.get $mode) (i32.const 1072))
      (then
        (call $check (call $random_get (i32.const 64) (i32.const 32)))
        (call $write (i32.const 1) (i32.const 64) (i32.const 32))
        (return)))

    ;; cat /sandbox/PATH: PATH opened relative to fd 3, the first preopen.
    (if (i32.and (call $streq (local.get $mode) (i32.const 1080)) (call $argc_is (i32.const 3)))
      (then
        (local.set $path (call $arg (i32.const 2)))
        (if (i32.eqz (call $prefix (local.get $path) (i32.const 1112) (i32.const 9)))
          (then
            (call $write (i32.const 2) (i32.const 1160) (i32.const 28))
            (call $proc_exit (i32.const 1))))
        (local.set $path (i32.add (local.get $path) (i32.const 9)))
        (if (call $path_open (i32.const 3) (i32.const 1) (local.get $path) (call $strlen (local.get $path))
              (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 72)) ;; rights: fd_read
          (then
            (call $write (i32.const 2) (i32.const 1160) (i32.const 28))
            (call $proc_exit (i32.const 1))))
        (call $copy (i32.load (i32.const 72)))
        (return)))

    (if (call $streq (local.get $mode) (i32.const 1088))
      (then (call $copy (i32.const 0)) (return)))

    ;; preopens: each preopened directory's name, NUL-terminated.
    (if (call $streq (local.get $mode) (i32.const 1096))
      (then
        (local.set $fd (i32.const 3))
        (block $done
          (loop $more
            (br_if $done (call $fd_prestat_get (local.get $fd) (i32.const 80)))
            (local.set $n (i32.load (i32.const 84)))
            (if (i32.gt_u (local.get $n) (i32.const 65535)) (then (call $proc_exit (i32.const 1))))
            (call $check (call $fd_prestat_dir_name (local.get $fd) (i32.const 65536) (local.get $n)))
            (i32.store8 (i32.add (i32.const 65536) (local.get $n)) (i32.const 0))
            (call $write (i32.const 1) (i32.const 65536) (i32.add (local.get $n) (i32.const 1)))
            (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
            (br $more)))
        (return)))

    (call $usage))
)
