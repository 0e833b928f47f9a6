// Package store is the small key-value store frameworks keep their state in
// (framework id, jobs, progress), so that a framework restarted on another
// process picks up where it left off.
//
// Keys are "/"-separated paths ("batch/jobs/j-42"); List walks a prefix.
// Values are opaque bytes: callers choose the encoding (JSON in Pando's own
// frameworks). Two implementations are planned: Bolt, a single file on
// local disk (the default for `pando dev`), and Consul KV for highly
// available deployments. Both satisfy the same Store interface, so a
// framework does not care which one it was handed.
//
// Writes are durable when they return: Bolt fsyncs each one, which costs
// milliseconds. Callers on a hot path should batch or throttle their writes
// rather than write per event.
package store
