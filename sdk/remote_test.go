//go:build !race

package sdk

// This test is left out of -race builds: every remote.Start calls
// grpclog.SetLoggerV2, which grpc documents as not goroutine-safe, so two
// remote-enabled actor systems in one process (master and driver here)
// always trip the race detector inside protoactor/grpc, not in Pando.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/asynkron/protoactor-go/remote"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// TestDriverRemoteByURL runs the master in a remote-enabled actor system and
// lets a driver with no system of its own find it through MasterURL: real
// gRPC remoting and protobuf serialization of every message.
func TestDriverRemoteByURL(t *testing.T) {
	msys := quietSystem()
	r := remote.NewRemote(msys, remote.Configure("127.0.0.1", 0))
	r.Start()
	defer func() { r.Shutdown(false); msys.Shutdown() }()
	m, mpid := spawnMaster(t, msys, 3)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/api/v1/master" {
			http.NotFound(w, req)
			return
		}
		_ = json.NewEncoder(w).Encode(MasterInfo{ActorAddress: mpid.Address, ActorID: mpid.Id, Epoch: 3})
	}))
	defer srv.Close()

	rec := newRecorder()
	d, err := NewDriver(Config{Framework: &kernelpb.FrameworkInfo{Name: "remote"}, MasterURL: srv.URL}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	sub, sender := next[*kernelpb.Subscribe](t, m)
	if sub.GetFramework().GetName() != "remote" || sender == nil || sender.Address == mpid.Address {
		t.Fatalf("Subscribe %v from %v", sub, sender)
	}
	if e := rec.next(t, "subscribed"); e.frameworkID != "fw-1" {
		t.Fatalf("subscribed %q", e.frameworkID)
	}
	msys.Root.Send(mpid, &push{&kernelpb.Update{Epoch: 3, Status: &kernelpb.TaskStatus{TaskId: "t", AgentId: "a", UpdateId: "u9"}}})
	rec.next(t, "update")
	if ack, _ := next[*kernelpb.Acknowledge](t, m); ack.GetUpdateId() != "u9" {
		t.Fatalf("ack %v", ack)
	}
	d.Stop(false)
	if td, _ := next[*kernelpb.Teardown](t, m); td.GetFrameworkId() != "fw-1" {
		t.Fatalf("teardown %v", td)
	}
}
