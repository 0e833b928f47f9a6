// Package batch is Pando's batch framework: it runs jobs of many short
// tasks ("run this module 10,000 times", "run this container on 50
// machines") to completion. A task is a WebAssembly module or an OCI image.
//
// It is written only against sdk/ (plus the protocol and resources
// packages), exactly as a third-party framework would be: it learns the
// cluster's agents from the master's HTTP API (APICluster), and its own API
// types live in batchapi.
//
// # Jobs
//
// A job is a module digest or a container (image tarball digest, image
// name, command, working directory), args, env, an instance count,
// per-instance resources, a timeout, a kill grace period and a retry
// budget. Container instances go only to offers whose agent lists
// "container" in its "runtimes" attribute; when no agent does, the job's
// waiting note says so, with the agents' own reasons. Each instance runs as a task with
// id "<job>.<instance>.<attempt>" and the env variables PANDO_JOB,
// PANDO_INSTANCE and PANDO_TASK_ID on top of the job's own. A job ends when
// every instance is terminal; it is "finished" only if every instance
// finished.
//
// # Scheduling
//
// Pending instances wait in per-job FIFO queues. Each offer is filled by
// bin-packing instances from the jobs in round-robin order (so one huge job
// does not starve a small one submitted after it): the work per offer is
// proportional to the jobs waiting plus the tasks launched, never to the
// total number of instances. What an offer cannot hold is declined with a
// short filter, and counted per job and reason (too small in which
// resource, no container runtime) in JobStatus.Declined. When nothing is
// pending the framework suppresses offers, and revives them when a job is
// submitted or an instance needs a retry.
//
// # Failures
//
// FAILED and ERROR consume one of the job's retries; when none is left the
// instance fails. LOST (agent gone, launch dropped) is not the task's fault:
// it is relaunched without consuming a retry, up to MaxLostRelaunches times
// per instance, so a cluster that keeps losing tasks fails the job instead
// of looping forever. KILLED after the job was killed marks the instance
// killed; a kill the job did not ask for counts as a failure.
//
// # Persistence and failover
//
// Jobs and the framework id live in a store.Store. Submits and job ends are
// written at once; progress is written at most every PersistInterval (an
// fsync per task would cap the framework at a few hundred tasks a second).
// After a restart the framework subscribes with its old id and reconciles:
// tasks the master no longer knows come back LOST and are relaunched, so an
// instance may run more than once (at-least-once execution).
//
// Ended jobs stay listed up to Config.MaxEndedJobs (1000 by default);
// beyond that the jobs that ended first are forgotten, in memory and in the
// store.
package batch
