package registry

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/pandodc/pando/actors/election"
	"github.com/pandodc/pando/actors/election/consultest"
)

func TestConsul(t *testing.T) {
	t.Parallel()
	srv := consultest.Start(t)
	var n atomic.Int64
	testRegistry(t, func(t *testing.T) newTermFunc {
		// Each subtest has a prefix of its own on the shared agent.
		prefix := fmt.Sprintf("pando-test-%d", n.Add(1))
		var previous string
		return func(t *testing.T) Registry {
			term := takeLock(t, srv.Client, election.LockKey(prefix), previous)
			previous = term.Session
			r, err := NewConsul(srv.Client, prefix, term)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
	})
}

// takeLock ends the previous session (if any) and takes the lock with a
// new one, as a new leader would, returning its term.
func takeLock(t *testing.T, client *api.Client, lockKey, previous string) election.Term {
	t.Helper()
	if previous != "" {
		if _, err := client.Session().Destroy(previous, nil); err != nil {
			t.Fatal(err)
		}
	}
	id, _, err := client.Session().Create(&api.SessionEntry{TTL: "30s", LockDelay: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.Session().Destroy(id, nil) })
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, _, err := client.KV().Acquire(&api.KVPair{Key: lockKey, Session: id}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("could not take %s within 5s", lockKey)
		}
		time.Sleep(10 * time.Millisecond) // the previous session's lock-delay
	}
	pair, _, err := client.KV().Get(lockKey, &api.QueryOptions{RequireConsistent: true})
	if err != nil || pair == nil || pair.Session != id {
		t.Fatalf("reading back %s: %+v, %v", lockKey, pair, err)
	}
	return election.Term{Epoch: pair.ModifyIndex, Session: id, LockKey: lockKey}
}

func TestNewConsulNeedsATerm(t *testing.T) {
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewConsul(client, "", election.Term{Epoch: 3}); err == nil {
		t.Fatal("NewConsul accepted a term without a session")
	}
	if _, err := NewConsul(nil, "", election.Term{Epoch: 3, Session: "s", LockKey: "k"}); err == nil {
		t.Fatal("NewConsul accepted a nil client")
	}
}
