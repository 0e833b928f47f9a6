package wasm_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandodc/pando/examples/wasm/wasmbuild"
	"github.com/pandodc/pando/internal/freeport"
	"github.com/pandodc/pando/runtime"
	"github.com/pandodc/pando/runtime/wasm"
)

// A WASM task with ports serves on its preopened listeners, sees its ports
// and their fds in its environment, and a kill ends it promptly and frees
// its port.
func TestServesTCPOnItsPorts(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	port := freeport.Take(t)
	sandbox := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	task, err := rt.Launch(ctx, runtime.Spec{TaskID: "web", Sandbox: sandbox, Artifact: wasmbuild.MustBuild(t, "webserver"), Ports: []uint16{port}})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	body := getWithin(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second)
	if want := fmt.Sprintf("hello from web on port %d", port); !strings.Contains(body, want) {
		t.Errorf("GET / = %q, want it to say %q", body, want)
	}
	if body := getWithin(t, fmt.Sprintf("http://127.0.0.1:%d/health", port), time.Second); strings.TrimSpace(body) != "ok" {
		t.Errorf("GET /health = %q, want ok", body)
	}
	if out, _ := os.ReadFile(filepath.Join(sandbox, "stdout")); !strings.Contains(string(out), "(fd 4)") {
		t.Errorf("stdout = %q, want the server to accept on fd 4 (after the sandbox's fd 3)", out)
	}

	// Its own budget: under -race, compiling at launch takes most of ctx's.
	killCtx, cancelKill := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelKill()
	if err := task.Kill(killCtx); err != nil {
		t.Fatalf("Kill of a serving task: %v", err)
	}
	exit, err := task.Wait(killCtx)
	if err != nil || exit.Outcome != runtime.Killed {
		t.Fatalf("after Kill: exit %+v, err %v; want Killed", exit, err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("the killed task's port is still taken: %v", err)
	}
	ln.Close()
}

// A kill ends a guest blocked reading a connection whose client holds it
// open and sends nothing, without that client's help.
func TestKillEndsAGuestReadingAnIdleConnection(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	port := freeport.Take(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	task, err := rt.Launch(ctx, runtime.Spec{TaskID: "web", Sandbox: t.TempDir(), Artifact: wasmbuild.MustBuild(t, "webserver"), Ports: []uint16{port}})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	getWithin(t, fmt.Sprintf("http://127.0.0.1:%d/health", port), 10*time.Second)
	idle, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// The guest serves one connection at a time: once a second client
	// cannot get an answer, it is blocked reading the idle one.
	probe := &http.Client{Timeout: 300 * time.Millisecond}
	for i := 0; i < 50; i++ {
		resp, err := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
		if err != nil {
			break
		}
		resp.Body.Close()
	}
	t0 := time.Now()
	killCtx, cancelKill := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelKill()
	if err := task.Kill(killCtx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	exit, err := task.Wait(killCtx)
	if err != nil || exit.Outcome != runtime.Killed {
		t.Fatalf("after Kill, with an idle client: exit %+v, err %v; want Killed", exit, err)
	}
	t.Logf("ended %s after the kill", time.Since(t0).Round(time.Millisecond))
	// The client sees its connection end.
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); err == nil {
		t.Errorf("the idle client read %d bytes after the kill, want its connection ended", n)
	}
}

// A port already taken fails the launch, naming the address and saying
// what may hold it.
func TestPortTakenFailsLaunch(t *testing.T) {
	rt := newRuntime(t, wasm.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	exit, _, stderr := run(t, rt, runtime.Spec{Artifact: wasmbuild.MustBuild(t, "webserver"), Ports: []uint16{port}})
	if exit.Cause != runtime.CauseLaunchFailed || !strings.Contains(exit.Message, fmt.Sprint(port)) || !strings.Contains(exit.Message, "holds the port on the host") {
		t.Errorf("exit %+v (stderr %q), want a launch failure naming port %d and who may hold it", exit, stderr, port)
	}
}

// getWithin GETs url until it answers 200, for at most d.
func getWithin(t *testing.T, url string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no answer within %v: %v", url, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
