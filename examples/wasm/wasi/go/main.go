// Command probe is the WASI behaviour probe in Go (GOOS=wasip1): see
// ../README.md for its modes and their exact output; every toolchain's
// probe prints the same bytes for the same input.
package main

import (
	"io"
	"os"
	"strconv"
	"time"
)

// The probe uses few packages (no fmt, crypto or reflection), so that its
// module stays small: the tests compile it under the race detector.

func usage() {
	os.Stderr.WriteString("usage: probe args|env|exit N|stdout N|streams|clock|random|cat PATH|stdin|preopens\n")
	os.Exit(2)
}

func put(w io.Writer, b []byte) {
	if _, err := w.Write(b); err != nil {
		os.Exit(1)
	}
}

func nul(s string) []byte { return append([]byte(s), 0) }

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	out := os.Stdout
	switch mode := os.Args[1]; {
	case mode == "args":
		for _, a := range os.Args {
			put(out, nul(a))
		}
	case mode == "env":
		for _, e := range os.Environ() {
			put(out, nul(e))
		}
	case mode == "exit" && len(os.Args) == 3:
		code, _ := strconv.ParseInt(os.Args[2], 10, 64)
		os.Exit(int(int32(code)))
	case mode == "stdout" && len(os.Args) == 3:
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			usage()
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i ^ i>>8)
		}
		put(out, b)
	case mode == "streams":
		put(out, []byte("o1\n"))
		put(os.Stderr, []byte("e1\n"))
		put(out, []byte("o2\r\n"))
		put(os.Stderr, []byte("e2 no newline"))
		put(out, []byte("\x00\xff\x1a"))
	case mode == "clock":
		real, mono1 := clock(clockRealtime), clock(clockMonotonic)
		time.Sleep(5 * time.Millisecond)
		mono2 := clock(clockMonotonic)
		var b []byte
		for _, v := range []uint64{real, mono1, mono2} {
			for i := range 8 {
				b = append(b, byte(v>>(8*i)))
			}
		}
		put(out, b)
	case mode == "random":
		put(out, random(32))
	case mode == "cat" && len(os.Args) == 3:
		f, err := os.Open(os.Args[2])
		if err != nil {
			os.Stderr.WriteString("probe: " + err.Error() + "\n")
			os.Exit(1)
		}
		copyOut(f, os.Args[2])
	case mode == "stdin":
		copyOut(os.Stdin, "stdin")
	case mode == "preopens":
		for _, name := range preopens() {
			put(out, nul(name))
		}
	default:
		usage()
	}
}

func copyOut(r io.Reader, name string) {
	if _, err := io.Copy(os.Stdout, r); err != nil {
		os.Stderr.WriteString("probe: reading " + name + ": " + err.Error() + "\n")
		os.Exit(1)
	}
}
