#!/usr/bin/env bash
# The programs the tests run for real: redis-server (and redis-cli, to form a Cluster), nginx
# (auth_request in front of a forward-auth verifier), haproxy (the load balancer of the rolling
# restart in `npm run test:ha`), openssl, curl. Installed from Debian
# when missing (as root, or with sudo); otherwise says what to install.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
  echo "the tests need: ${need[*]} (e.g. apt-get install ${need[*]})" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need: ${need[*]}; install them with your package manager" >&2
  exit 1
fi
echo "installing ${need[*]} for the tests"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
