// Package artifacts stores and fetches task artifacts (WASM modules, image
// tarballs) by content address, "sha256:<hex>". The master keeps a Store in
// its data dir and serves it over HTTP; each agent keeps a Cache that
// fetches an artifact once, verifies its digest, and reuses it for every
// task that names it. What the master's store keeps is decided by Refs
// (leases and live tasks), what an agent's cache keeps by Eviction (a
// bound in bytes, least recently used first, never what a live task
// needs): both pure, with time as a parameter.
package artifacts
