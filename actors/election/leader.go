package election

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// DefaultPrefix is the KV prefix Pando writes under unless told otherwise.
const DefaultPrefix = "pando"

// ErrNoLeader is returned by FindLeader when no master leads right now
// (none has been elected yet, or a failover is under way): retry shortly.
var ErrNoLeader = errors.New("election: no master leads right now")

// LeaderInfo is what a leader publishes about itself in the lock key.
type LeaderInfo struct {
	// ID is the master's name, unique among the masters.
	ID string `json:"id"`
	// HTTPURL is where the master's HTTP API listens (http://host:port).
	HTTPURL string `json:"http_url"`
	// RemotingAddr is the master's actor remoting address (host:port).
	RemotingAddr string `json:"remoting_addr,omitempty"`
	// Epoch is the leader's fencing epoch; 0 while the leader is still
	// installing itself (it never acts at epoch 0).
	Epoch uint64 `json:"epoch"`
	// Since is when the leader acquired the lock, by its own clock.
	Since time.Time `json:"since"`
}

// Term names one leadership: the epoch and the Consul session holding the
// lock. A registry fenced by a Term refuses writes once the session no
// longer holds LockKey.
type Term struct {
	Epoch   uint64
	Session string
	LockKey string
}

// LockKey returns the key masters contend for under prefix ("" means
// DefaultPrefix).
func LockKey(prefix string) string {
	return strings.TrimSuffix(prefixOrDefault(prefix), "/") + "/leader"
}

func prefixOrDefault(prefix string) string {
	if prefix == "" {
		return DefaultPrefix
	}
	return prefix
}

// FindLeader returns the current leader as published in Consul under
// prefix ("" means DefaultPrefix), or an error wrapping ErrNoLeader when
// none leads. It reads the lock key, which holds the leader's addresses
// only while its session holds the lock, so a leader that died is never
// returned once Consul has noticed.
func FindLeader(ctx context.Context, client *api.Client, prefix string) (LeaderInfo, error) {
	key := LockKey(prefix)
	pair, _, err := client.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return LeaderInfo{}, fmt.Errorf("election: reading the leader from Consul key %s: %w", key, err)
	}
	info, ok, err := leaderOf(pair)
	if err != nil {
		return LeaderInfo{}, err
	}
	if !ok {
		return LeaderInfo{}, fmt.Errorf("%w (Consul key %s is not held)", ErrNoLeader, key)
	}
	return info, nil
}

// leaderOf decodes the lock key: ok is false when nobody holds it or the
// holder has not published its epoch yet.
func leaderOf(pair *api.KVPair) (LeaderInfo, bool, error) {
	if pair == nil || pair.Session == "" || len(pair.Value) == 0 {
		return LeaderInfo{}, false, nil
	}
	var info LeaderInfo
	if err := json.Unmarshal(pair.Value, &info); err != nil {
		return LeaderInfo{}, false, fmt.Errorf("election: Consul key %s does not hold a Pando leader (%q): %w", pair.Key, truncate(pair.Value, 80), err)
	}
	if info.Epoch == 0 {
		return LeaderInfo{}, false, nil
	}
	return info, true, nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// NewClient returns a Consul client for addr ("host:port" or a URL; ""
// keeps CONSUL_HTTP_ADDR, else 127.0.0.1:8500). The ACL token, TLS and
// the other settings come from the environment as api.DefaultConfig reads
// them (CONSUL_HTTP_TOKEN, CONSUL_CACERT, ...).
func NewClient(addr string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if addr != "" {
		cfg.Address = addr
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("election: Consul client for %q: %w", cfg.Address, err)
	}
	return client, nil
}

// Master is one master as the Consul catalog lists it.
type Master struct {
	ID           string
	HTTPURL      string
	RemotingAddr string
	// Leader is true for the instance tagged LeaderTag. The tag follows
	// the lock with a short lag; FindLeader is the authority.
	Leader bool
	// Healthy is true when its health check (and its node's) passes.
	Healthy bool
}

// ListMasters returns every master registered as serviceName ("" means
// DefaultServiceName) in the catalog, healthy or not, in Consul's order:
// for an operator's "which masters are there?".
func ListMasters(ctx context.Context, client *api.Client, serviceName string) ([]Master, error) {
	if serviceName == "" {
		serviceName = DefaultServiceName
	}
	entries, _, err := client.Health().Service(serviceName, "", false, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("election: listing the %s service in Consul: %w", serviceName, err)
	}
	out := make([]Master, 0, len(entries))
	for _, e := range entries {
		m := Master{
			ID: e.Service.Meta["id"], HTTPURL: e.Service.Meta["http_url"], RemotingAddr: e.Service.Meta["remoting_addr"],
			Healthy: e.Checks.AggregatedStatus() == api.HealthPassing,
		}
		for _, tag := range e.Service.Tags {
			m.Leader = m.Leader || tag == LeaderTag
		}
		out = append(out, m)
	}
	return out, nil
}
