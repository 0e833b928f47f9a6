// probe: the WASI behaviour probe, in AssemblyScript with
// @assemblyscript/wasi-shim (its process, crypto and console on WASI). See
// ../README.md for its modes and their exact output; every toolchain's probe
// prints the same bytes for the same input. AssemblyScript has no file
// system API, so `cat` opens its path relative to the first preopen (fd 3),
// as the WAT probe does: it takes paths under /sandbox/ only.

// The WASI calls the shim does not expose.
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(id: u32, precision: u64, time: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "poll_oneoff")
declare function poll_oneoff(subscriptions: usize, events: usize, n: usize, nevents: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_prestat_get")
declare function fd_prestat_get(fd: u32, prestat: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_prestat_dir_name")
declare function fd_prestat_dir_name(fd: u32, path: usize, len: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "path_open")
declare function path_open(dirfd: u32, dirflags: u32, path: usize, pathLen: usize, oflags: u32, rightsBase: u64, rightsInheriting: u64, fdflags: u32, fd: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_read")
declare function fd_read(fd: u32, iovs: usize, n: usize, nread: usize): u16;

const scratch = memory.data(64);

function usage(): void {
  process.stderr.write("usage: probe args|env|exit N|stdout N|streams|clock|random|cat PATH|stdin|preopens\n");
  process.exit(2);
}

function check(errno: u16): void {
  if (errno != 0) process.exit(1);
}

function out(b: ArrayBuffer): void {
  process.stdout.write(b);
}

function nul(s: string): void {
  out(String.UTF8.encode(s, true));
}

function now(id: u32): u64 {
  check(clock_time_get(id, 1, scratch));
  return load<u64>(scratch);
}

function u64le(v: u64): ArrayBuffer {
  const b = new ArrayBuffer(8);
  store<u64>(changetype<usize>(b), v);
  return b;
}

// copy writes everything read from fd to stdout.
function copy(fd: u32): void {
  const buf = new ArrayBuffer(65536);
  while (true) {
    store<usize>(scratch, changetype<usize>(buf));
    store<usize>(scratch, buf.byteLength, 4);
    check(fd_read(fd, scratch, 1, scratch + 8));
    const n = load<u32>(scratch, 8);
    if (n == 0) return;
    out(buf.slice(0, n));
  }
}

function sleepMs(ms: u64): void {
  const sub = new ArrayBuffer(48); // a relative monotonic clock subscription
  const p = changetype<usize>(sub);
  store<u8>(p, 0, 8);         // tag: clock
  store<u32>(p, 1, 16);       // clock id: monotonic
  store<u64>(p, ms * 1000000, 24);
  const ev = new ArrayBuffer(32);
  check(poll_oneoff(p, changetype<usize>(ev), 1, scratch));
}

const argv = process.argv;
if (argv.length < 2) usage();
const mode = argv[1];
if (mode == "args") {
  for (let i = 0; i < argv.length; i++) nul(argv[i]);
} else if (mode == "env") {
  const keys = process.env.keys();
  for (let i = 0; i < keys.length; i++) nul(keys[i] + "=" + process.env.get(keys[i]));
} else if (mode == "exit" && argv.length == 3) {
  process.exit(<i32>I64.parseInt(argv[2]));
} else if (mode == "stdout" && argv.length == 3) {
  const n = I32.parseInt(argv[2]);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = <u8>(i ^ (i >> 8));
  out(b.buffer);
} else if (mode == "streams") {
  process.stdout.write("o1\n");
  process.stderr.write("e1\n");
  process.stdout.write("o2\r\n");
  process.stderr.write("e2 no newline");
  const b = new Uint8Array(3);
  b[0] = 0; b[1] = 0xff; b[2] = 0x1a;
  out(b.buffer);
} else if (mode == "clock") {
  const real = now(0);
  const mono1 = now(1);
  sleepMs(5);
  const mono2 = now(1);
  out(u64le(real));
  out(u64le(mono1));
  out(u64le(mono2));
} else if (mode == "random") {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  out(b.buffer);
} else if (mode == "cat" && argv.length == 3) {
  if (!argv[2].startsWith("/sandbox/")) {
    process.stderr.write("probe: cannot open the file\n");
    process.exit(1);
  }
  const path = String.UTF8.encode(argv[2].substring(9));
  if (path_open(3, 1, changetype<usize>(path), path.byteLength, 0, 2, 0, 0, scratch) != 0) {
    process.stderr.write("probe: cannot open the file\n");
    process.exit(1);
  }
  copy(load<u32>(scratch));
} else if (mode == "stdin") {
  copy(0);
} else if (mode == "preopens") {
  for (let fd: u32 = 3; fd_prestat_get(fd, scratch) == 0; fd++) {
    const name = new ArrayBuffer(load<u32>(scratch, 4) + 1);
    check(fd_prestat_dir_name(fd, changetype<usize>(name), name.byteLength - 1));
    out(name);
  }
} else {
  usage();
}
