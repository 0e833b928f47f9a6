#!/usr/bin/env bash
# Installs what the tests need on a fresh machine. Idempotent and quiet when
# everything is already there: Go (required, not installed here), the Go
# modules, Debian's containerd, runc and busybox-static for container tasks
# (the tests' image is built from /bin/busybox), the toolchains of the WASI
# behaviour probes (examples/wasm/wasi), and a Consul server built from the
# Go module proxy into .cache/bin for the HA tests.
set -euo pipefail
command -v go >/dev/null || { echo "setup: Go is required (https://go.dev/dl)" >&2; exit 1; }
go mod download

# Debian packages, installed only when one is missing (apt-get update first,
# then only).
missing=()
command -v containerd >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
# The image needs the static busybox; Debian's busybox package (dynamic)
# installs /bin/busybox too.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
installed busybox-static || missing+=(busybox-static)
# The WASI probes: C with wasi-libc, WAT, Rust's wasm32-wasi std (Debian's
# rustc), and node/npm for AssemblyScript (below).
for p in clang lld wasi-libc libclang-rt-dev-wasm32 wabt rustc libstd-rust-dev-wasm32; do
  installed "$p" || missing+=("$p")
done
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: ${missing[*]} missing; run as root to install them with apt-get" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# AssemblyScript for its WASI probe, from npm into the probe's node_modules
# (git ignores it; package-lock.json pins it), again only when the lockfile
# changed since the last install.
as=examples/wasm/wasi/assemblyscript
if ! cmp -s "$as/package-lock.json" "$as/node_modules/.pando-installed"; then
  npm ci --prefix "$as" --silent
  cp "$as/package-lock.json" "$as/node_modules/.pando-installed"
fi

# The Consul server the HA tests run (built once per machine, minutes).
bash "$(dirname "$0")/consul.sh"
