// Package wasmbuild builds the WASM examples of examples/wasm for tests:
// Go programs with GOOS=wasip1 GOARCH=wasm, hand-written ones from their
// committed .wasm. Builds are cached on disk, keyed by a hash of the
// example's sources and the Go toolchain, because linking a Go wasm binary
// takes seconds and many test packages need the same examples.
//
//	path := wasmbuild.MustBuild(t, "hello") // a .wasm file, read-only
//
// The WASI probes of examples/wasm/wasi are built the same way by the
// toolchain each is written for (clang, wat2wasm, rustc, go, asc):
//
//	path := wasmbuild.MustBuildProbe(t, "c") // skips if clang is missing, fails under CI=true
//
// The cache is $PANDO_WASM_CACHE if set, else <repo>/.cache/wasm.
package wasmbuild
