package isolatortest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// workerEnv set to 1 makes the test binary a task (see Main).
const workerEnv = "PANDO_ISOLATORTEST_WORKER"

// Main runs the tests, or, when the binary was started by StartTask, the
// task's command loop. Call it from TestMain: func TestMain(m *testing.M) {
// isolatortest.Main(m) }.
func Main(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(work(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// work reads one command a line and answers each with "ok [result]" or
// "err <why>" on a line of its own:
//
//	cpu <ms>              spin for ms milliseconds
//	mem <bytes>           allocate and touch bytes, and keep them
//	io <dir> <bytes>      write then read back bytes with O_DIRECT in dir
//	send <addr> <bytes>   send bytes over TCP to addr, then read to EOF
func work(in io.Reader, out io.Writer) int {
	var kept [][]byte
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		result := ""
		switch {
		case err != nil:
			err = fmt.Errorf("%q: the last argument must be a number", sc.Text())
		case f[0] == "cpu" && len(f) == 2:
			spin(time.Duration(n) * time.Millisecond)
		case f[0] == "mem" && len(f) == 2:
			b := make([]byte, n)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			kept = append(kept, b)
		case f[0] == "io" && len(f) == 3:
			err = directIO(f[1], int(n))
		case f[0] == "send" && len(f) == 3:
			var got int64
			got, err = send(f[1], n)
			result = strconv.FormatInt(got, 10)
		default:
			err = fmt.Errorf("unknown command %q", sc.Text())
		}
		if err != nil {
			fmt.Fprintf(out, "err %v\n", err)
		} else {
			fmt.Fprintf(out, "ok %s\n", result)
		}
	}
	_ = kept
	return 0
}

func spin(d time.Duration) {
	x := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 10000; i++ {
			x += i * x
		}
	}
	_ = x
}

// directIO writes n bytes (rounded up to 4KiB) to a new file in dir and reads
// them back, both bypassing the page cache, so that the block device sees
// them from this process.
func directIO(dir string, n int) error {
	const block = 4096
	n = (n + block - 1) / block * block
	buf := alignedBlock(1 << 20)
	path := fmt.Sprintf("%s/isolatortest-io-%d", dir, os.Getpid())
	defer os.Remove(path)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC|unix.O_DIRECT, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s with O_DIRECT: %w", path, err)
	}
	defer unix.Close(fd)
	for done := 0; done < n; {
		c := min(len(buf), n-done)
		w, err := unix.Pwrite(fd, buf[:c], int64(done))
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		done += w
	}
	for done := 0; done < n; {
		c := min(len(buf), n-done)
		r, err := unix.Pread(fd, buf[:c], int64(done))
		if err != nil || r == 0 {
			return fmt.Errorf("reading %s back: %d bytes, %v", path, r, err)
		}
		done += r
	}
	return nil
}

// alignedBlock is a buffer of n bytes aligned to 4KiB, as O_DIRECT needs.
func alignedBlock(n int) []byte {
	b := make([]byte, n+4096)
	off := int(4096 - uintptr(unsafe.Pointer(&b[0]))%4096)
	return b[off%4096:][:n]
}

// send writes n bytes to addr, closes its writing side and reads what the
// other side answers until it closes; it returns the bytes read.
func send(addr string, n int64) (int64, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.CopyN(c, zeros{}, n); err != nil {
		return 0, fmt.Errorf("sending: %w", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	got, err := io.Copy(io.Discard, c)
	return got, err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
