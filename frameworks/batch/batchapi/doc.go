// Package batchapi is the batch framework's HTTP API as Go: the JSON types
// it serves under /api/v1/batch/ on the master (JobSpec, JobStatus,
// JobFailure) and a client for them over sdk/client. The CLI and any
// other tool submit and watch jobs with it; the framework serves these
// very types, so the two cannot drift apart.
package batchapi
