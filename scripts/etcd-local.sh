#!/usr/bin/env bash
# `allot serve --store etcd` on a local single-member etcd (loopback, free ports), for trying it out and for
# the numbers of the etcd store:
#   pairs     allocate+release pairs/s through a server on etcd, then the same on SQLite (bench_server pairs)
#   failover  N times: two replicas on one etcd, kill -9 the leader, time until the standby answers /readyz
#   serve     start etcd and two replicas and leave them running (Ctrl-C stops everything)
# Usage: scripts/etcd-local.sh pairs|failover [N]|serve [BUILD_DIR via B=...]
# Env: B=build (build dir with allot and bench/bench_server), CONNS=16, SECONDS_RUN=5, TTL=2 (lease TTL, s)
# Everything runs under a temp dir; processes are stopped by PID, never by name.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
ALLOT=$B/allot
BENCH=$B/bench/bench_server
CONNS=${CONNS:-16}
SECONDS_RUN=${SECONDS_RUN:-5}
TTL=${TTL:-2}
command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server)" >&2; exit 2; }
work=$(mktemp -d /tmp/allot-etcd-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
ready() { curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; }
wait_ready() { for _ in $(seq 1 3000); do ready "$1" && return 0; sleep 0.01; done; return 1; }
now() { date +%s.%N; }

start_etcd() {
  ECP=$(free_port); EPP=$(free_port)
  ETCD=http://127.0.0.1:$ECP
  etcd --name e --data-dir "$work/etcd" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
    --listen-peer-urls "http://127.0.0.1:$EPP" --initial-advertise-peer-urls "http://127.0.0.1:$EPP" \
    --initial-cluster "e=http://127.0.0.1:$EPP" --max-txn-ops 1024 --logger zap --log-outputs "$work/etcd.log" &
  ETCD_PID=$!; pids+=("$ETCD_PID")
  for _ in $(seq 1 500); do curl -sf -X POST "$ETCD/v3/kv/range" -d '{"key":"AA=="}' >/dev/null && return 0; sleep 0.02; done
  echo "etcd did not start: $(tail -3 "$work/etcd.log")" >&2; return 1
}

replica() {  # $1 = port, $2 = log name; sets REPLICA_PID
  $ALLOT serve --dev --quiet --listen "127.0.0.1:$1" --store etcd --etcd-endpoints "$ETCD" \
    --etcd-lease-ttl "$TTL" --etcd-max-txn-ops 1024 --config "$work/nodes.yaml" 2>"$work/$2.log" &
  REPLICA_PID=$!; pids+=("$REPLICA_PID")
}

cat > "$work/nodes.yaml" <<YAML
nodes: [{name: big-1, capacity: {cpu: "100000", memory: 100Ti}}, {name: big-2, capacity: {cpu: "100000", memory: 100Ti}}]
YAML

pairs() {
  start_etcd
  local port; port=$(free_port)
  replica "$port" pairs-etcd; wait_ready "$port"
  echo -n '{"store": "etcd", '; $BENCH pairs --url "http://127.0.0.1:$port" --connections "$CONNS" --seconds "$SECONDS_RUN" | sed 's/^{//'
  kill "$REPLICA_PID"; wait "$REPLICA_PID" || true
  port=$(free_port)
  $ALLOT serve --dev --quiet --config "$work/nodes.yaml" --listen "127.0.0.1:$port" --data "$work/sqlite" 2>"$work/pairs-sqlite.log" &
  local p=$!; pids+=("$p")
  wait_ready "$port"
  echo -n '{"store": "sqlite", '; $BENCH pairs --url "http://127.0.0.1:$port" --connections "$CONNS" --seconds "$SECONDS_RUN" | sed 's/^{//'
  kill "$p"; wait "$p" || true
}

failover() {
  local n=${1:-5} i pa pb a b t0 t1
  start_etcd
  pa=$(free_port); pb=$(free_port)
  replica "$pa" a; a=$REPLICA_PID; wait_ready "$pa"
  replica "$pb" b; b=$REPLICA_PID
  for i in $(seq 1 "$n"); do
    sleep 1
    curl -s -X POST "http://127.0.0.1:$pa/v1/allocations" -d '{"tenant":"t","requests":{"cpu":"1"}}' >/dev/null
    t0=$(now); kill -9 "$a"; wait "$a" 2>/dev/null || true
    wait_ready "$pb"; t1=$(now)
    echo "{\"failover\": $i, \"lease_ttl_s\": $TTL, \"standby_ready_s\": $(python3 -c "print(round($t1-$t0,3))"), \"allocations\": $(curl -s "http://127.0.0.1:$pb/v1/allocations" | python3 -c 'import json,sys;print(json.load(sys.stdin)["count"])')}"
    replica "$pa" a; a=$REPLICA_PID  # the killed one comes back as the standby; swap roles
    local t=$pa; pa=$pb; pb=$t; t=$a; a=$b; b=$t
  done
}

serve() {
  start_etcd
  local pa pb; pa=$(free_port); pb=$(free_port)
  replica "$pa" a; replica "$pb" b
  echo "etcd $ETCD; replicas http://127.0.0.1:$pa and http://127.0.0.1:$pb (one serves); logs in $work"
  wait
}

cmd=${1:-}; shift || true
case "$cmd" in
  pairs) pairs ;;
  failover) failover "$@" ;;
  serve) serve ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
