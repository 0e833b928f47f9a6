#!/usr/bin/env bash
# Starts a local one-node Consul server for trying Pando's HA mode by hand:
# it listens on 127.0.0.1 only, on free ports (HTTP on 8500 when that is
# free, so the default CONSUL_HTTP_ADDR works), keeps its state in
# .cache/consul-dev (so it survives a restart; delete the folder to start
# afresh) and runs in the foreground until Ctrl-C. Builds Consul first if
# needed (scripts/consul.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/consul.sh

# in_use reports whether something listens on 127.0.0.1:$1 (TCP).
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port prints $1 if it is free, else a free port from 20000-59999.
free_port() {
  local p=$1
  while [ -z "$p" ] || in_use "$p" || [[ " ${taken[*]} " == *" $p "* ]]; do
    p=$(( 20000 + RANDOM % 40000 ))
  done
  echo "$p"
}
taken=()
http=$(free_port "${PANDO_CONSUL_PORT:-8500}"); taken+=("$http")
serf_lan=$(free_port ""); taken+=("$serf_lan")
serf_wan=$(free_port ""); taken+=("$serf_wan")
server=$(free_port ""); taken+=("$server")
data=.cache/consul-dev
mkdir -p "$data"
echo "consul-dev: HTTP API and UI on http://127.0.0.1:$http (data in $data)"
echo "consul-dev: point Pando at it with --consul 127.0.0.1:$http or: export CONSUL_HTTP_ADDR=127.0.0.1:$http"
exec .cache/bin/consul agent -server -bootstrap-expect=1 -ui -node=pando-dev \
  -bind=127.0.0.1 -advertise=127.0.0.1 -client=127.0.0.1 -data-dir="$data" \
  -hcl "ports { http = $http, dns = -1, serf_lan = $serf_lan, serf_wan = $serf_wan, server = $server, grpc = -1, grpc_tls = -1 }" \
  -hcl 'performance { raft_multiplier = 1 }' -hcl 'disable_update_check = true' "$@"
