// Package telemetry sets up OpenTelemetry for a Pando process: a meter
// provider exported in Prometheus text format on /metrics, and a tracer
// provider for the per-task spans (offer to terminal state). Each process
// gets its own registry so tests can run several in one binary.
package telemetry
