#!/usr/bin/env bash
# npm run bench: installs wrk (and nginx, the lighter upstream) when missing, builds, measures.
# HAProxy, the C peer, is used when installed and skipped (said so) when not: apt-get install haproxy.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "bench needs: ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
npm run build --silent
node dist/bench/bench.js
