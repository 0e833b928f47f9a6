#!/usr/bin/env bash
# Runs Pando's benchmarks. Each reports its figures next to a baseline run
# in the same process (e.g. raw wazero instantiation beside Pando's task
# pipeline), so ratios hold on any machine. kernel/master reports the
# master's heap per agent and per task (B/agent, B/task).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -benchtime=${BENCHTIME:-1x} -timeout 30m ./kernel/allocator/ ./kernel/resources/ ./kernel/master/ ./runtime/wasm/ ./actors/node/ ${BENCH_PKGS:-} "$@"
