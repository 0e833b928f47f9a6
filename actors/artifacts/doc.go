// Package artifacts stores and fetches task artifacts (WASM modules, image
// tarballs) by content address, "sha256:<hex>". The master keeps a Store in
// its data dir and serves it over HTTP; each agent keeps a Cache that
// fetches an artifact once, verifies its digest, and reuses it for every
// task that names it.
package artifacts
