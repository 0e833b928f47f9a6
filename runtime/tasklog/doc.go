// Package tasklog keeps tasks' stdout and stderr at a cost per task near
// zero when they write little: no directory and no file per task.
//
// A Store (one per runtime, so per executor process) buffers each task's
// small output in memory and appends it, as records, to one append-only
// segment file shared by all its tasks: on a timer while the task runs,
// and when the task's log is closed, so that a task's output is on disk
// before its end is reported. Records are batched: one write(2) carries
// every record that is ready. A log that grows past Config.SpillBytes
// stops buffering and streams to a file of its own (the task's sandbox
// "stdout" or "stderr"), so megabytes never sit in memory.
//
// An Index (the agent's side, possibly another process) reads the
// segments as they grow and finds a task's chunks: a task's log is its
// chunks in the segments, in order, followed by its own file if it spilled.
//
// A segment is a sequence of records:
//
//	u32 length of what follows | u8 kind | u8 stream | i64 run | i64 at | u16 len(key) | key | data
//
// kind is data or seal (the writer will not append again: an Index may
// delete the segment once none of its tasks is kept); run is when the
// task's run started (unix ns), so a task id run again shows only its
// latest run; at is when the record was written.
package tasklog
