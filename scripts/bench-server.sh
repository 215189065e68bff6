#!/usr/bin/env bash
# Load benchmark of `allot serve` on loopback (keep-alive, durable group commit with fsync):
#   1. allocate+release pairs/s with p50/p99 latency (bench_server pairs: one epoll thread over CONNS
#      connections), and the request batches each durable store transaction (one fdatasync) carried.
#      Where redis-server and redis-benchmark are installed, Redis with appendfsync always (each write
#      fsynced before it is answered, one fsync per turn of its event loop) is the durable reference on the
#      same disk: SETs over CONNS connections from redis-benchmark (one epoll thread too), two durable
#      writes per pair as allot's pairs are. The two alternate run by run, ROUNDS times (PEER=0: allot only).
#   2. GET /metrics latency at 10,000 nodes
#   3. restart time with 1,000,000 active allocations in the store
# Usage: scripts/bench-server.sh [BUILD_DIR]   (default build/). Prints one JSON line per measurement.
#   env CONNS=16 SECONDS_RUN=5 ALLOCS=1000000 PARTS="1 2 3" (which measurements) ALLOT=PATH (another
#   allot binary to measure, e.g. an older build, with this tree's load generator) ROUNDS=1 PEER=1
#   GENERATOR=epoll (or threads: a thread and a blocking client per connection) PAIR_NODES=N (part 1 on a
#   cluster of N nodes of 64 CPUs instead of two large ones)
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then  # the comment above, without running anything
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."
B=${1:-build}
ALLOT=${ALLOT:-$B/allot}
BENCH=$B/bench/bench_server
CONNS=${CONNS:-16}
SECONDS_RUN=${SECONDS_RUN:-5}
ALLOCS=${ALLOCS:-1000000}
PARTS=${PARTS:-1 2 3}
want() { [[ " $PARTS " == *" $1 "* ]]; }
work=$(mktemp -d /tmp/allot-bench-XXXXXX)
pid=
peer=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  [ -n "$peer" ] && kill "$peer" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for f in "$ALLOT" "$BENCH"; do
  if [ ! -x "$f" ]; then
    echo "bench-server.sh: $f is missing: build it first (make build), or pass a build dir that has it" >&2
    exit 2
  fi
done
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 3000); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.01; done; return 1; }

# 1. pairs
if want 1; then
port=$(free_port)
if [ -n "${PAIR_NODES:-}" ]; then  # a cluster of PAIR_NODES nodes of 64 CPUs (the server's per-request cost at scale)
  python3 -c 'import sys
print("nodes:")
for i in range(int(sys.argv[1])):
    print("  - {name: node-%d, capacity: {cpu: \"64\", memory: 256Gi, gpu: \"8\", ephemeral-storage: 2Ti}}" % i)' \
    "$PAIR_NODES" > "$work/pairs.yaml"
else
  cat > "$work/pairs.yaml" <<YAML
nodes: [{name: big-1, capacity: {cpu: "100000", memory: 100Ti}}, {name: big-2, capacity: {cpu: "100000", memory: 100Ti}}]
YAML
fi
$ALLOT serve --dev --quiet --config "$work/pairs.yaml" --listen 127.0.0.1:$port --data "$work/pairs" 2>"$work/pairs.log" &
pid=$!
wait_ready $port
peer=
if [ "${PEER:-1}" != 0 ] && command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  rport=$(free_port)
  mkdir -p "$work/redis"
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --appendfsync always \
    --save '' --daemonize yes --pidfile "$work/redis/pid" --logfile "$work/redis/log"
  for _ in $(seq 1 500); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.01; done
  peer=$(cat "$work/redis/pid")
fi
for round in $(seq 1 "${ROUNDS:-1}"); do
  $BENCH pairs --url http://127.0.0.1:$port --connections "$CONNS" --seconds "$SECONDS_RUN" \
    --generator "${GENERATOR:-epoll}" | tee -a "$work/allot.jsonl"
  if [ -n "$peer" ]; then
    # As many SETs as about SECONDS_RUN takes at 20,000/s; the rate is what counts.
    n=$(python3 -c "print(max(1000, int(20000 * float('${SECONDS_RUN%s}'))))")
    redis-benchmark -p "$rport" -c "$CONNS" -n "$n" -r 100000 -t set --csv |
      python3 -c 'import csv,json,sys
rows = list(csv.reader(sys.stdin))
h, v = rows[0], rows[1]
d = dict(zip(h, v))
w = float(d["rps"])
print(json.dumps({"peer": "redis appendfsync always", "connections": int(sys.argv[1]), "durable_writes_per_s": round(w),
                  "pairs_per_s_equivalent": round(w / 2), "p50_ms": float(d["p50_latency_ms"]), "p99_ms": float(d["p99_latency_ms"])}))' "$CONNS" |
      tee -a "$work/redis.jsonl"
  fi
done
if [ -n "$peer" ]; then
  # The median of allot's runs against the median of Redis's, and the median of the pairs' ratios.
  python3 - "$work/allot.jsonl" "$work/redis.jsonl" <<'PY'
import json, statistics, sys
a = [json.loads(l) for l in open(sys.argv[1])]
r = [json.loads(l) for l in open(sys.argv[2])]
ratios = [x["pairs_per_s"] / y["pairs_per_s_equivalent"] for x, y in zip(a, r) if y["pairs_per_s_equivalent"]]
print(json.dumps({"allot_pairs_per_s": round(statistics.median(x["pairs_per_s"] for x in a)),
                  "redis_pairs_per_s_equivalent": round(statistics.median(y["pairs_per_s_equivalent"] for y in r)),
                  "ratio_allot_to_redis": round(statistics.median(ratios), 2) if ratios else None}))
PY
  kill "$peer" 2>/dev/null || true; peer=
fi
# Group commit: request batches made durable per store transaction (one fdatasync each).
curl -s "http://127.0.0.1:$port/metrics" | awk '/^allot_store_transactions_total /{t=$2} /^allot_store_batches_total /{b=$2}
  END{printf "{\"store_transactions\": %d, \"store_batches\": %d, \"batches_per_transaction\": %.2f}\n", t, b, t ? b/t : 0}'
kill $pid; wait $pid || true; pid=
fi

# 2. metrics at 10,000 nodes
if want 2; then
port=$(free_port)
$ALLOT serve --dev --quiet --listen 127.0.0.1:$port --data "$work/metrics" 2>"$work/metrics.log" &
pid=$!
wait_ready $port
$BENCH metrics --url http://127.0.0.1:$port --nodes 10000
kill $pid; wait $pid || true; pid=
fi

# 3. restart with $ALLOCS active allocations
if want 3; then
$BENCH seed --data "$work/restart" --allocations "$ALLOCS"
sync  # the seeding's dirty pages go to disk first: the kernel's writeback is not the restart's time
port=$(free_port)
start=$(date +%s.%N)
$ALLOT serve --dev --quiet --listen 127.0.0.1:$port --data "$work/restart" 2>"$work/restart.log" &
pid=$!
wait_ready $port
end=$(date +%s.%N)
restored=$(curl -s "http://127.0.0.1:$port/v1/utilization" | python3 -c 'import json,sys;print(json.load(sys.stdin)["allocations"]["placed"])')
rss=$(ps -o rss= -p $pid | tr -d ' ')
echo "{\"restart_allocations\": $restored, \"restart_s\": $(python3 -c "print(round($end-$start,2))"), \"rss_mb\": $((rss/1024))}"
kill $pid; wait $pid || true; pid=
fi
