package wasm

// Compiles is how many compilations rt has started.
func Compiles(rt *Runtime) int {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return rt.compiles
}

// Modules is how many compiled modules (or compilations) rt holds.
func Modules(rt *Runtime) int {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return len(rt.modules)
}
