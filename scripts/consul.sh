#!/usr/bin/env bash
# Builds the Consul server the integration tests and `task consul-dev` run,
# from the pinned tool module tools/consul (MPL-2.0 Consul v1.14.x; v1.17+ is
# BUSL and never used), into the gitignored .cache/bin/consul. It builds only
# when the binary is missing or was built from another version, so a fresh
# machine pays the few minutes once. Quiet when the binary is current.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.cache/bin/consul
stamp=.cache/bin/consul.version
want=$(go -C tools/consul list -m -f '{{.Version}}' github.com/hashicorp/consul)
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
mkdir -p .cache/bin
echo "consul: building Consul $want into $bin (a few minutes, once per machine)" >&2
start=$(date +%s)
# -trimpath and -s -w keep the binary small and the link fast; the version
# package's Version is fixed in the tagged source, so no -X flags are needed.
go -C tools/consul build -trimpath -ldflags='-s -w' -o "$PWD/$bin.tmp" github.com/hashicorp/consul
mv "$bin.tmp" "$bin"
echo "$want" >"$stamp"
echo "consul: built in $(( $(date +%s) - start ))s: $("$bin" version | head -1)" >&2
