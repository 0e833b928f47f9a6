// probe: the WASI behaviour probe, in Rust with its wasm32-wasi std. See
// ../README.md for its modes and their exact output; every toolchain's probe
// prints the same bytes for the same input.
use std::env;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::wasi::ffi::OsStrExt;
use std::process::exit;
use std::time::Duration;

// WASI preview1 imports the std does not expose (raw clocks, random,
// preopens), declared as any WASI binding does.
#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
    fn random_get(buf: *mut u8, len: usize) -> u16;
    fn fd_prestat_get(fd: u32, prestat: *mut u32) -> u16;
    fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: usize) -> u16;
}

fn usage() -> ! {
    eprintln!("usage: probe args|env|exit N|stdout N|streams|clock|random|cat PATH|stdin|preopens");
    exit(2)
}

fn put(w: &mut impl Write, b: &[u8]) {
    if w.write_all(b).is_err() {
        exit(1)
    }
}

fn now(id: u32) -> u64 {
    let mut t = 0u64;
    if unsafe { clock_time_get(id, 1, &mut t) } != 0 {
        exit(1)
    }
    t
}

fn copy(r: &mut impl Read, name: &str) {
    let mut out = io::stdout().lock();
    if let Err(e) = io::copy(r, &mut out) {
        eprintln!("probe: reading {}: {}", name, e);
        exit(1)
    }
}

fn main() {
    let args: Vec<OsString> = env::args_os().collect();
    let arg = |i: usize| args.get(i).map(|a| a.to_string_lossy().into_owned());
    let mode = arg(1).unwrap_or_else(|| usage());
    let mut out = io::stdout().lock();
    match (mode.as_str(), args.len()) {
        ("args", _) => {
            for a in &args {
                put(&mut out, a.as_bytes());
                put(&mut out, b"\0");
            }
        }
        ("env", _) => {
            for (k, v) in env::vars_os() {
                put(&mut out, k.as_bytes());
                put(&mut out, b"=");
                put(&mut out, v.as_bytes());
                put(&mut out, b"\0");
            }
        }
        ("exit", 3) => exit(arg(2).unwrap().parse::<i64>().unwrap_or(1) as i32),
        ("stdout", 3) => {
            let n: u64 = arg(2).unwrap().parse().unwrap_or_else(|_| usage());
            let b: Vec<u8> = (0..n).map(|i| (i ^ (i >> 8)) as u8).collect();
            put(&mut out, &b);
        }
        ("streams", _) => {
            let mut err = io::stderr().lock();
            put(&mut out, b"o1\n");
            put(&mut err, b"e1\n");
            put(&mut out, b"o2\r\n");
            put(&mut err, b"e2 no newline");
            put(&mut out, b"\0\xff\x1a");
        }
        ("clock", _) => {
            let real = now(0);
            let mono1 = now(1);
            std::thread::sleep(Duration::from_millis(5));
            let mono2 = now(1);
            for v in [real, mono1, mono2] {
                put(&mut out, &v.to_le_bytes());
            }
        }
        ("random", _) => {
            let mut b = [0u8; 32];
            if unsafe { random_get(b.as_mut_ptr(), b.len()) } != 0 {
                exit(1)
            }
            put(&mut out, &b);
        }
        ("cat", 3) => {
            let path = arg(2).unwrap();
            drop(out);
            match File::open(&path) {
                Ok(mut f) => copy(&mut f, &path),
                Err(e) => {
                    eprintln!("probe: opening {}: {}", path, e);
                    exit(1)
                }
            }
            return;
        }
        ("stdin", _) => {
            drop(out);
            copy(&mut io::stdin().lock(), "stdin");
            return;
        }
        ("preopens", _) => {
            for fd in 3.. {
                let mut p = [0u32; 2]; // tag, then the name's length
                if unsafe { fd_prestat_get(fd, p.as_mut_ptr()) } != 0 {
                    break;
                }
                let mut name = vec![0u8; p[1] as usize];
                if unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), name.len()) } != 0 {
                    exit(1)
                }
                put(&mut out, &name);
                put(&mut out, b"\0");
            }
        }
        _ => usage(),
    }
    if out.flush().is_err() {
        exit(1)
    }
}
