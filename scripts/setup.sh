#!/usr/bin/env bash
# Installs what the tests need on a fresh machine. Idempotent and quiet when
# everything is already there. Today the tests need only Go: generated
# protobuf code and the hand-written tiny.wasm are committed. Later steps
# (containerd, Consul) add their installs here.
set -euo pipefail
command -v go >/dev/null || { echo "setup: Go is required (https://go.dev/dl)" >&2; exit 1; }
go mod download
