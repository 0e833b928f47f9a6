#!/usr/bin/env bash
# Installs what the tests need on a fresh machine. Idempotent and quiet when
# everything is already there. Today the tests need only Go: generated
# protobuf code and the hand-written tiny.wasm are committed. Later steps
# (containerd, Consul) add their installs here.
set -euo pipefail
command -v go >/dev/null || { echo "setup: Go is required (https://go.dev/dl)" >&2; exit 1; }
go mod download

# The toolchains of the WASI behaviour probes (examples/wasm/wasi): C with
# wasi-libc, WAT, Rust's wasm32-wasi std (Debian's rustc), and AssemblyScript
# from npm into the probe's node_modules (git ignores it; package-lock.json
# pins it). Outside CI a missing one only skips its probe.
wasi_pkgs=(clang lld wasi-libc libclang-rt-dev-wasm32 wabt rustc libstd-rust-dev-wasm32)
command -v node >/dev/null && command -v npm >/dev/null || wasi_pkgs+=(nodejs npm)
missing=()
for p in "${wasi_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: the WASI probes need these Debian packages: ${missing[*]} (their tests skip meanwhile)" >&2
  fi
fi
as=examples/wasm/wasi/assemblyscript
if command -v npm >/dev/null && ! cmp -s "$as/package-lock.json" "$as/node_modules/.pando-installed"; then
  npm ci --prefix "$as" --silent
  cp "$as/package-lock.json" "$as/node_modules/.pando-installed"
fi
