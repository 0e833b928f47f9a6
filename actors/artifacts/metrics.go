package artifacts

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// CacheStats are what a Cache did since it opened, and what it holds.
type CacheStats struct {
	// Requests are the artifacts asked of Fetch (modules, image tarballs,
	// inputs); Fetches those downloaded from the source, FetchFailures
	// the downloads that failed (unreachable source, bad bytes), and
	// FetchedBytes what the downloads brought. Every other request was
	// answered from the cache, or joined a download under way.
	Requests, Fetches, FetchFailures, FetchedBytes int64
	// Evicted and EvictedBytes are the entries Collect deleted; Bytes is
	// what the caches held after the latest Collect (0 before one).
	Evicted, EvictedBytes, Bytes int64
}

// cacheCounters are a Cache's CacheStats, updated atomically where the
// work happens.
type cacheCounters struct {
	requests, fetches, fetchFailures, fetchedBytes atomic.Int64
	evicted, evictedBytes, bytes                   atomic.Int64
}

// Stats returns the cache's counts so far.
func (c *Cache) Stats() CacheStats {
	n := &c.counters
	return CacheStats{
		Requests: n.requests.Load(), Fetches: n.fetches.Load(), FetchFailures: n.fetchFailures.Load(),
		FetchedBytes: n.fetchedBytes.Load(),
		Evicted:      n.evicted.Load(), EvictedBytes: n.evictedBytes.Load(), Bytes: n.bytes.Load(),
	}
}

// RegisterCacheMetrics reports c's CacheStats as OpenTelemetry instruments,
// read at each collection: how often tasks find their artifacts on the
// agent (requests against fetches) and what the bound costs (evictions).
func RegisterCacheMetrics(meter metric.Meter, c *Cache) error {
	requests, err := meter.Int64ObservableCounter("pando.agent.artifacts.requests",
		metric.WithDescription("Artifacts (modules, image tarballs, inputs) tasks asked of the agent's cache"))
	if err != nil {
		return fmt.Errorf("artifact cache metrics: %w", err)
	}
	fetches, err := meter.Int64ObservableCounter("pando.agent.artifacts.fetches",
		metric.WithDescription("Artifacts the agent's cache downloaded from the master, by outcome (ok, failed)"))
	if err != nil {
		return fmt.Errorf("artifact cache metrics: %w", err)
	}
	fetched, err := meter.Int64ObservableCounter("pando.agent.artifacts.fetched", metric.WithUnit("By"),
		metric.WithDescription("Bytes the agent's cache downloaded from the master"))
	if err != nil {
		return fmt.Errorf("artifact cache metrics: %w", err)
	}
	evicted, err := meter.Int64ObservableCounter("pando.agent.artifacts.evicted",
		metric.WithDescription("Entries the agent's cache deleted to stay within --artifact-cache-size"))
	if err != nil {
		return fmt.Errorf("artifact cache metrics: %w", err)
	}
	evictedBytes, err := meter.Int64ObservableCounter("pando.agent.artifacts.evicted.bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes the agent's cache deleted to stay within --artifact-cache-size"))
	if err != nil {
		return fmt.Errorf("artifact cache metrics: %w", err)
	}
	held, err := meter.Int64ObservableGauge("pando.agent.artifacts.cache.bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes the agent's caches (artifacts, views, unpacked trees, compiled modules) held at their latest collection"))
	if err != nil {
		return fmt.Errorf("artifact cache metrics: %w", err)
	}
	ok, failed := metric.WithAttributes(attribute.String("outcome", "ok")), metric.WithAttributes(attribute.String("outcome", "failed"))
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := c.Stats()
		o.ObserveInt64(requests, s.Requests)
		o.ObserveInt64(fetches, s.Fetches, ok)
		o.ObserveInt64(fetches, s.FetchFailures, failed)
		o.ObserveInt64(fetched, s.FetchedBytes)
		o.ObserveInt64(evicted, s.Evicted)
		o.ObserveInt64(evictedBytes, s.EvictedBytes)
		o.ObserveInt64(held, s.Bytes)
		return nil
	}, requests, fetches, fetched, evicted, evictedBytes, held)
	if err != nil {
		return fmt.Errorf("artifact cache metrics: %w", err)
	}
	return nil
}
