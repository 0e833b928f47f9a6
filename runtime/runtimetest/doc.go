// Package runtimetest is the conformance suite that every task runtime
// (runtime/wasm, runtime/container, ...) must pass: one set of behaviours,
// checked against the real runtime with real artifacts, so that the agent
// can treat all runtimes alike.
//
// A runtime's test calls Run with a constructor and the artifacts that
// behave as Artifacts describes:
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, func(t *testing.T) runtime.Runtime { ... }, runtimetest.Artifacts{...})
//	}
package runtimetest
