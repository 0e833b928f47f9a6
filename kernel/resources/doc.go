// Package resources is the resource algebra of Pando: scalar quantities
// (cpus, mem, disk, gpus, custom names) in exact fixed point, port ranges,
// and roles; add, subtract, contains; the Mesos text form
// ("cpus:2;mem:4096;ports:[31000-32000]") and human sizes ("64MiB").
//
// Sets are immutable, canonical values (entries sorted by name then role),
// so the allocator can share them freely; Add, Subtract and Contains are
// linear merges over short slices, and Contains does not allocate.
// Parse and FromProto are where outside input enters: they validate
// everything and return errors that say what is wrong, never panic.
//
// It is pure: no I/O, no clock, no goroutines.
package resources
