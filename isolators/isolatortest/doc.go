// Package isolatortest is the test suite every isolator passes (Run), and the
// real tasks it runs them on: a child process of the test binary (StartTask)
// in cgroups of its own, made as runc makes a container's, that does on
// command the work isolators measure (CPU, memory, block IO, TCP).
//
// A package using it calls Main from its TestMain, so that the test binary
// can be the task. The suite needs root and a cgroup hierarchy; without them
// it fails under CI=true and skips elsewhere, saying why (Require).
package isolatortest
