// Command webserver is a WASM service: an HTTP server that accepts on the
// TCP listener its runtime preopened for it, as Pando's WASM runtime does
// for each of a task's ports (WASI preview1 has no socket() or bind(): a
// module can only accept on listeners the host opened).
//
// Pando preopens the listeners right after the sandbox directory, one per
// port in the task's ports resources, lowest first: fd 4 for PORT0, fd 5
// for PORT1, and so on; PANDO_LISTEN_FDS lists them ("4,5"). The server
// answers GET /health with "ok" and GET / with a greeting naming the task.
//
// It serves one connection at a time, one request per connection, with
// blocking reads: a WASI preview1 module has one thread, and wazero's
// poll_oneoff does not wait on sockets, so Go's net poller cannot park a
// goroutine on one while another runs (http.Serve would accept and then
// block in the next accept before serving). It serves until it is killed.
//
// Built with GOOS=wasip1 GOARCH=wasm.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

func main() {
	fd, err := listenFD()
	if err != nil {
		fmt.Fprintf(os.Stderr, "webserver: %v\n", err)
		os.Exit(2)
	}
	ln, err := net.FileListener(os.NewFile(fd, "listener"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "webserver: fd %d is not a listener (does the task have a ports resource?): %v\n", fd, err)
		os.Exit(2)
	}
	fmt.Printf("serving on port %s (fd %d)\n", os.Getenv("PORT0"), fd)
	for {
		conn, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "webserver: %v\n", err)
			os.Exit(1)
		}
		serve(conn)
	}
}

// serve answers one request on conn and closes it. It reads the request
// line and headers itself rather than with net/http, which would make the
// module three times bigger and slower to compile, for one GET.
func serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return // the client went away
	}
	for { // the headers, up to the blank line; none is needed
		h, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.TrimRight(h, "\r\n") == "" {
			break
		}
	}
	status, body := "200 OK", ""
	method, target, _ := strings.Cut(strings.TrimSpace(line), " ")
	path, _, _ := strings.Cut(target, " ")
	switch {
	case method != "GET" && method != "HEAD":
		status, body = "405 Method Not Allowed", "only GET\n"
	case path == "/health":
		body = "ok\n"
	case path == "/":
		body = fmt.Sprintf("hello from %s on port %s\n", os.Getenv("PANDO_TASK_ID"), os.Getenv("PORT0"))
	default:
		status, body = "404 Not Found", "not found\n"
	}
	fmt.Fprintf(conn, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", status, len(body))
	if method != "HEAD" {
		io.WriteString(conn, body)
	}
}

// listenFD is the first listener Pando preopened (PANDO_LISTEN_FDS), or
// fd 3 for runtimes that preopen a listener and no directory (wazero's CLI).
func listenFD() (uintptr, error) {
	fds := os.Getenv("PANDO_LISTEN_FDS")
	if fds == "" {
		return 3, nil
	}
	first, _, _ := strings.Cut(fds, ",")
	n, err := strconv.ParseUint(first, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("PANDO_LISTEN_FDS=%q: want fd numbers separated by commas", fds)
	}
	return uintptr(n), nil
}
