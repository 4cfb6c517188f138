#!/usr/bin/env bash
# Makes sure the services and programs the test suite uses are present, so
# `npm test` works on a fresh machine: redis-server (tests that restart Redis
# start their own on a free port), a Redis on 127.0.0.1:6379, Debian's
# Chromium for the browser tests and promtool (Debian's prometheus package) for
# `promtool check metrics/rules` (that test fails in CI when promtool is missing).
# Installs from Debian when missing (as root).
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-prereqs: missing ${need[*]}; install them (apt-get install -y ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "test-prereqs: installing ${need[*]} from Debian (once)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "test-prereqs: starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
