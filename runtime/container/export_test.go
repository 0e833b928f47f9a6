package container

// Imports is how many tarball imports rt has started.
func Imports(rt *Runtime) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.imports
}

// LogsTo is the shim-side logger of a task's sandbox.
var LogsTo = logsTo

// FileDigest is the digest of a tarball, as Prepare names it.
var FileDigest = fileDigest
