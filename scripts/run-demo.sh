#!/usr/bin/env bash
# `make run`: the allot server in dev mode (no auth, loopback only) with the demo cluster, and its dashboard
# at http://127.0.0.1:7070/. Ctrl-C stops both.
# Request lines are at debug in the demo config: ALLOT_LOG_LEVEL=debug make run (or --log-level debug) shows them.
# A little load keeps the demo alive (scripts/demo-load.sh: a few allocations with durations at start, then
# one about every 20 s, through `allot alloc`); ALLOT_DEMO_LOAD=0 turns it off.
set -euo pipefail
cd "$(dirname "$0")/.."
listen=${ALLOT_LISTEN:-127.0.0.1:7070}  # ALLOT_LISTEN moves it
build/allot serve --dev --config examples/server/demo.yaml --listen "$listen" --data "${ALLOT_DATA:-/tmp/allot-demo}" \
    --log-level "${ALLOT_LOG_LEVEL:-info}" "$@" &
server=$!
load=""
stop() {
  [ -n "$load" ] && kill "$load" 2>/dev/null
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 100); do
  curl -fsS "http://$listen/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { wait "$server"; exit $?; }
  sleep 0.1
done
echo "allot: the dashboard is at http://$listen/ (the API at http://$listen/v1; Ctrl-C stops the server)" >&2
if [ "${ALLOT_DEMO_LOAD:-1}" != 0 ]; then
  scripts/demo-load.sh "http://$listen" &
  load=$!
fi
wait "$server"
