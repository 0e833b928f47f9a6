#!/usr/bin/env bash
# Installs what the tests need on a fresh machine. Idempotent and quiet when
# everything is already there. The tests need Go (generated protobuf code
# and the hand-written tiny.wasm are committed) and a Consul server, built
# from the Go module proxy into .cache/bin. Later steps (containerd) add
# their installs here.
set -euo pipefail
command -v go >/dev/null || { echo "setup: Go is required (https://go.dev/dl)" >&2; exit 1; }
go mod download
# The Consul server the HA tests run (built once per machine, minutes).
bash "$(dirname "$0")/consul.sh"
