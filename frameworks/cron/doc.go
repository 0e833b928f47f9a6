// Package cron is Pando's Chronos: it runs jobs on ISO 8601 repeating
// intervals ("R/2026-12-01T05:52:00Z/PT2S") or 5-field cron expressions,
// in a job's time zone, and jobs that run after their parents (a DAG),
// as WASM or container tasks. It is written only against sdk/, as a
// third-party framework would be.
//
// # Jobs
//
// A Job has Chronos's JSON shape (name, command, arguments, schedule,
// scheduleTimeZone, parents, retries, epsilon, concurrent, disabled,
// cpus, mem, disk, env, owner) plus module (a WASM module's digest) or
// container ({"image": "busybox:latest"}). DecodeJobs reports unknown
// fields by name; every other check names the field at fault, and a
// refused job changes nothing.
//
// # Slots and runs
//
// Each slot of a job's schedule becomes one run, launched as task
// "cron.<job>.s<slot ms>.<attempt>" (deterministic, so a restarted
// framework recognises it). A run that cannot start within epsilon of
// its slot (the framework was down, the job was still running, no offer
// fitted) is skipped and the history says so. FAILED, ERROR and KILLED
// use one of the job's retries; LOST relaunches without one, up to
// MaxLost times. A job's success queues a run of each child whose
// parents have all succeeded since its last run. Without concurrent, a
// job's runs go one at a time, in slot order. A disabled job gets no
// scheduled or dependent runs; "run now" still runs it.
//
// # Exactly once
//
// Core, the pure scheduler (time is a parameter: tests drive months of
// schedules in milliseconds), marks the jobs it changes; the shell
// (Framework) writes each changed job's Record, one key holding the
// schedule's next slot, the active runs and the history, before it
// launches a task or acknowledges a status update. So a slot is claimed
// and launched at most once, and after a restart the framework fails
// over to its old framework id (sdk.Config.State), reconciles the tasks
// of its active runs and carries on: none lost, none doubled. A task the
// master and agent lost with the framework (pando dev killed: all three
// are one process) comes back LOST and its slot runs again as a new
// attempt; the slot still counts once. Behind an elected master the store
// is Consul, so the master elected next runs the same framework on.
package cron
