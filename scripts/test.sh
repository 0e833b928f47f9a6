#!/usr/bin/env bash
# Runs every test. The packages with goroutines (actors, runtimes, isolators, the SDK,
# frameworks, the CLI's integration tests) run under the race detector; the
# pure kernel runs without it, since its property tests are long and it has
# no concurrency to race.
set -euo pipefail
cd "$(dirname "$0")/.."
# pkgs lists the packages under the given top-level folders that exist.
pkgs() {
  local patterns=()
  for dir in "$@"; do [ -d "$dir" ] && patterns+=("./$dir/...") || true; done
  [ ${#patterns[@]} -eq 0 ] || go list "${patterns[@]}"
}
pure=$(pkgs kernel examples)
concurrent=$(pkgs actors runtime isolators sdk frameworks cmd)
status=0
[ -z "$pure" ] || go test -count=1 -timeout 15m $pure || status=1
[ -z "$concurrent" ] || go test -race -count=1 -timeout 20m $concurrent || status=1
exit $status
