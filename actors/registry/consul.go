package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/consul/api"

	"github.com/pandodc/pando/actors/election"
)

// Consul is a Registry in Consul's KV under <prefix>/registry/, fenced by
// the leader's Term: every Apply is one transaction whose first operation
// checks that the term's session still holds the lock key.
type Consul struct {
	client *api.Client
	root   string // "<prefix>/registry/"
	term   election.Term
	closed atomic.Bool
}

var _ Registry = (*Consul)(nil)

// NewConsul returns the registry of a leader's term (from the Elector's
// Leading event) under prefix ("" means election.DefaultPrefix).
func NewConsul(client *api.Client, prefix string, term election.Term) (*Consul, error) {
	if client == nil {
		return nil, errors.New("registry: a Consul client is required")
	}
	if term.Session == "" || term.LockKey == "" || term.Epoch == 0 {
		return nil, fmt.Errorf("registry: term %+v is not a leader's (it needs an epoch, a session and the lock key)", term)
	}
	if prefix == "" {
		prefix = election.DefaultPrefix
	}
	return &Consul{client: client, root: strings.TrimSuffix(prefix, "/") + "/registry/", term: term}, nil
}

// Epoch implements Registry.
func (c *Consul) Epoch() uint64 { return c.term.Epoch }

// Close implements Registry: later writes fail.
func (c *Consul) Close() error {
	c.closed.Store(true)
	return nil
}

// Get implements Registry. Reads are consistent (checked with a quorum),
// so a new leader sees every write its predecessor made.
func (c *Consul) Get(ctx context.Context, key string) (Entry, error) {
	if err := checkKey(key); err != nil {
		return Entry{}, err
	}
	pair, _, err := c.client.KV().Get(c.root+key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return Entry{}, fmt.Errorf("registry: reading %q from Consul: %w", key, err)
	}
	if pair == nil {
		return Entry{}, fmt.Errorf("%q: %w", key, ErrNotFound)
	}
	return c.entry(pair), nil
}

// List implements Registry.
func (c *Consul) List(ctx context.Context, prefix string) ([]Entry, error) {
	pairs, _, err := c.client.KV().List(c.root+prefix, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("registry: listing %q from Consul: %w", prefix, err)
	}
	out := make([]Entry, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, c.entry(p))
	}
	return out, nil
}

func (c *Consul) entry(p *api.KVPair) Entry {
	value := p.Value
	if value == nil {
		value = []byte{}
	}
	return Entry{Key: strings.TrimPrefix(p.Key, c.root), Value: value, Version: p.ModifyIndex}
}

// Apply implements Registry.
func (c *Consul) Apply(ctx context.Context, ops ...Op) error {
	if c.closed.Load() {
		return errors.New("registry: Apply after Close")
	}
	if err := checkOps(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	txn := make(api.TxnOps, 0, len(ops)+1)
	txn = append(txn, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckSession, Key: c.term.LockKey, Session: c.term.Session}})
	for _, op := range ops {
		kv := &api.KVTxnOp{Key: c.root + op.key, Value: op.value, Index: op.ifVer}
		switch {
		case op.kind == opPut && op.checked:
			kv.Verb = api.KVCAS
		case op.kind == opPut:
			kv.Verb = api.KVSet
		case op.checked:
			kv.Verb = api.KVDeleteCAS
		default:
			kv.Verb = api.KVDelete
		}
		txn = append(txn, &api.TxnOp{KV: kv})
	}
	ok, resp, _, err := c.client.Txn().Txn(txn, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("registry: writing to Consul: %w", err)
	}
	if ok {
		return nil
	}
	for _, te := range resp.Errors {
		if te.OpIndex == 0 {
			return fmt.Errorf("%w (epoch %d: Consul key %s is no longer held by session %s)", ErrFenced, c.term.Epoch, c.term.LockKey, c.term.Session)
		}
	}
	var msgs []string
	for _, te := range resp.Errors {
		if te.OpIndex > 0 && te.OpIndex <= len(ops) {
			msgs = append(msgs, fmt.Sprintf("%s: %s", ops[te.OpIndex-1], te.What))
		}
	}
	return fmt.Errorf("%w: %s", ErrConflict, strings.Join(msgs, "; "))
}
