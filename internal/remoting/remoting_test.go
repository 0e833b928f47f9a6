package remoting

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestListenOnATakenPortIsAnError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	system := NewSystem(nil)
	defer system.Shutdown()
	if r, err := Listen(system, l.Addr().String(), ""); err == nil {
		r.Shutdown(false)
		t.Fatal("listening on a taken port succeeded")
	}
	if _, err := Listen(system, "no-port", ""); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Fatalf("a malformed address: %v, want an error naming host:port", err)
	}
}

func TestWarnOnlyDropsInfo(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(WarnOnly{slog.NewTextHandler(&buf, nil)}).With("lib", "protoactor")
	log.Info("spawned")
	log.Warn("connection lost")
	if out := buf.String(); strings.Contains(out, "spawned") || !strings.Contains(out, "connection lost") || !strings.Contains(out, "lib=protoactor") {
		t.Fatalf("log output %q: want the warning only, tagged", out)
	}
}
