#!/usr/bin/env bash
# Installs what the tests need on a fresh machine. Idempotent and quiet when
# everything is already there: Go (required, not installed here), the Go
# modules, Debian's containerd, runc and busybox-static for container tasks
# (the tests' image is built from /bin/busybox), and a Consul server built
# from the Go module proxy into .cache/bin for the HA tests.
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
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)
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

# The Consul server the HA tests run (built once per machine, minutes).
bash "$(dirname "$0")/consul.sh"
