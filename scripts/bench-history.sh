#!/usr/bin/env bash
# Benchmarks of the amount history (issue 18), on loopback. Prints one JSON line per measurement:
#   1. bytes for 30 days at 10,000 nodes and 1,000 tenants with the default tiers, busy and quiet
#      (bench_server_history size; the workload is described in bench/server_history_bench.cc)
#   2. sampling cost at 10,000 nodes: a real `allot serve` with 10,000 nodes (1,000 of them reporting usage
#      through heartbeats), 1,000 tenants and 5,000 allocations samples every second (the 5 s tier keeps
#      the nodes); the server's own count of the sampling passes' CPU time, per sample and as a share of
#      one core at the default 15 s interval; beside it the whole process's CPU with history on and off
#   3. GET /v1/history for 7 days at 1-minute steps: a store filled with 7 days of 15 s samples
#      (bench_server_history fill), served with the tiers 15s/24h, 1m/7d, 5m/30d; curl's time_total,
#      median of 21
# Usage: scripts/bench-history.sh [BUILD_DIR]   (default build/; builds nothing). SECONDS_RUN=30 by default;
#        PARTS="2 3" runs only those measurements (part 1 takes a quarter of an hour on 2 busy cores).
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then  # the comment above, without running anything
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."
B=${1:-build}
ALLOT=$B/allot
BENCH=$B/bench/bench_server_history
SECONDS_RUN=${SECONDS_RUN:-30}
PARTS=${PARTS:-1 2 3}
part() { [[ " $PARTS " == *" $1 "* ]]; }
work=$(mktemp -d /tmp/allot-bench-history-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for f in "$ALLOT" "$BENCH"; do
  if [ ! -x "$f" ]; then
    echo "bench-history.sh: $f is missing: build it first (make build), or pass a build dir that has it" >&2
    exit 2
  fi
done
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 6000); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.01; done; return 1; }

# 1. size
if part 1; then
  $BENCH size --nodes 10000 --tenants 1000 --pools 10 --days 30
  $BENCH size --nodes 10000 --tenants 1000 --pools 10 --days 30 --quiet
fi

# 2. sampling cost at 10,000 nodes, history on (every 1 s) and off
python3 - "$work/nodes.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("tenants: {auto_create: true}\nnodes:\n")
    for i in range(10000):
        f.write('  - {name: node-%05d, capacity: {cpu: "64", memory: 256Gi%s}, pool: pool-%d}\n'
                % (i, ", gpu: 8" if i % 8 == 0 else "", i % 10))
PY
sample_run() {  # $1: history.interval (0: off); prints the run's JSON
  local port; port=$(free_port)
  cat "$work/nodes.yaml" > "$work/serve-$1.yaml"
  echo "history: {interval: $1, tiers: [{step: 1s, keep: 1h}, {step: 5s, keep: 1d, nodes: true}]}" >> "$work/serve-$1.yaml"
  $ALLOT serve --dev --quiet --config "$work/serve-$1.yaml" --listen 127.0.0.1:$port --data "$work/data-$1" \
    2>"$work/serve-$1.log" &
  pid=$!
  wait_ready $port
  python3 - "$port" "$pid" "$SECONDS_RUN" "$1" <<'PY'
import http.client, json, os, sys, time
port, pid, secs, interval = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def call(method, path, body=None):
    c.request(method, path, body=json.dumps(body) if body is not None else None)
    r = c.getresponse()
    return r.status, r.read()
for i in range(5000):  # 1,000 tenants, 5,000 allocations
    call("POST", "/v1/allocations", {"tenant": "org-%d/team-%d" % (i % 100, i % 1000 // 100),
                                     "requests": {"cpu": "%dm" % (500 + i % 8 * 500), "memory": "%dGi" % (1 + i % 16)}})
for i in range(0, 10000, 10):  # 1,000 nodes report usage
    call("POST", "/v1/nodes/node-%05d/heartbeat" % i, {"usage": {"cpu": "%dm" % (1000 + i), "memory": "%d" % (2**30 + i * 4099)}})
def metric(name):
    _, body = call("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0
def cpu_s():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
time.sleep(3)
s0, c0, p0, t0 = metric("allot_history_samples_total"), metric("allot_history_sample_cpu_seconds_total"), cpu_s(), time.time()
time.sleep(secs)
s1, c1, p1, t1 = metric("allot_history_samples_total"), metric("allot_history_sample_cpu_seconds_total"), cpu_s(), time.time()
samples = s1 - s0
per = (c1 - c0) / samples if samples else 0
print(json.dumps({"history_interval": interval, "nodes": 10000, "seconds": round(t1 - t0, 1), "samples": int(samples),
                  "sample_cpu_ms_mean": round(per * 1000, 2),
                  "share_of_a_core_at_15s_percent": round(per / 15 * 100, 3),
                  "process_cpu_percent": round((p1 - p0) / (t1 - t0) * 100, 2),
                  "stored_bytes": int(metric("allot_history_stored_bytes")),
                  "memory_bytes": int(metric("allot_history_memory_bytes"))}))
PY
  kill $pid; wait $pid || true; pid=
}
if part 2; then
  sample_run 1s
  sample_run 0
fi

# 3. GET /v1/history for 7 days at 1-minute steps
part 3 || exit 0
$BENCH fill --data "$work/week" --days 7
port=$(free_port)
cat > "$work/week.yaml" <<'YAML'
history:
  interval: 15s
  tiers: [{step: 15s, keep: 24h}, {step: 1m, keep: 7d}, {step: 5m, keep: 30d, nodes: true}]
YAML
$ALLOT serve --dev --quiet --config "$work/week.yaml" --listen 127.0.0.1:$port --data "$work/week" 2>"$work/week.log" &
pid=$!
wait_ready $port
url="http://127.0.0.1:$port/v1/history?from=7d&step=1m"
curl -sf "$url" > "$work/week.json"
for _ in $(seq 21); do curl -s -o /dev/null -w '%{time_total}\n' "$url"; done | sort -n > "$work/times"
python3 - "$work/week.json" "$work/times" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
t = [float(x) * 1000 for x in open(sys.argv[2]).read().split()]
print(json.dumps({"query": "GET /v1/history?from=7d&step=1m", "series": len(a["series"]),
                  "points": sum(len(s["t"]) for s in a["series"]), "resolution": a["resolution"],
                  "ms_median": round(t[len(t) // 2], 2), "ms_max": round(t[-1], 2)}))
PY
kill $pid; wait $pid || true; pid=
