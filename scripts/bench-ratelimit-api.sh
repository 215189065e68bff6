#!/usr/bin/env bash
# Rate-limit decisions per second on loopback: the real `allot serve` (POST /v1/ratelimits/{key}/acquire,
# and the batch form) beside the Redis peer (Redis 7 + a GCRA Lua script, ../shared/peers/redis-ratelimit.sh),
# in the same run on the same machine. Both sides are driven by the same load generator design:
# bench/bench_server_ratelimit, one epoll thread over all connections, HTTP for allot and RESP (EVALSHA of
# the peer's GCRA script) for Redis; redis-benchmark's own figures follow for reference. Both servers are
# up at once and the generator alternates between them run by run, ROUNDS times per row: each row gives
# the medians and the median of the pairs' ratios (this machine's speed moves between minutes).
# Both use 10,000 keys at rate 1000/s, burst 100, keys picked at random per call.
#   allot c=1 single   <->  redis c=1 P=1
#   allot c=50 single  <->  redis c=50 P=1
#   allot c=50 batch16 <->  redis c=50 P=16   (16 decisions per round trip in both)
#   allot c=50 P=16    <->  redis c=50 P=16   (16 requests pipelined per round trip in both)
#
# Usage: scripts/bench-ratelimit-api.sh [SECONDS] [REDIS_N]   (defaults 5 and 200000)
# Env:   BUILD=build                a build dir with allot and bench/bench_server_ratelimit (never built here)
#        WORKERS=2                  allot serve worker threads
#        ROUNDS=3                   alternating runs per side and row
#        PEER=../shared/peers/redis-ratelimit.sh
# The server and Redis are stopped by their PIDs (the peer script's PID file), never by name.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then  # the comment above, without running anything
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$here/build}
peer=${PEER:-$here/../shared/peers/redis-ratelimit.sh}
secs=${1:-5}
redis_n=${2:-200000}
rounds=${ROUNDS:-3}
work=$(mktemp -d /tmp/allot-rlbench-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -f "$work/redis/redis.pid" ] && RUN="$work/redis" "$peer" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Nothing is built here: the binaries come from the build dir as they are.
gen="$build/bench/bench_server_ratelimit"
for f in "$build/allot" "$gen"; do
  if [ ! -x "$f" ]; then
    echo "bench-ratelimit-api.sh: $f is missing: build it first (make build, or cmake --build $build" \
         "--target allot bench_server_ratelimit), or set BUILD to a build dir that has it" >&2
    exit 2
  fi
done

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# allot: 10,000 keys defined in the config's throttling section (durable definitions, no PUT needed).
{
  echo "limits: {workers: ${WORKERS:-2}}"
  echo "throttling:"
  echo "  ratelimits:"
  for i in $(seq 0 9999); do echo "    rl/$i: {rate: 1000/s, burst: 100}"; done
} >"$work/bench.yaml"
port=$(free_port)
"$build/allot" serve --dev --quiet --config "$work/bench.yaml" --listen "127.0.0.1:$port" --data "$work/data" \
  2>"$work/serve.log" &
pid=$!
for _ in $(seq 1 1000); do kill -0 "$pid" 2>/dev/null || break; curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.02; done
curl -sf "http://127.0.0.1:$port/v1/ratelimits/rl/0" >/dev/null || { echo "allot serve did not come up"; cat "$work/serve.log"; exit 1; }

# Redis runs beside it: both are up for the whole measurement and the generator alternates between
# them run by run (allot, Redis, allot, Redis, ...), so that both sides of each pair see the same minute
# of this machine; the ratio reported is the median of the pairs' ratios.
have_redis=0
if ! command -v redis-server >/dev/null || [ ! -x "$peer" ]; then
  echo "redis-server or $peer missing: no peer figure" | tee "$work/redis.txt"
else
  export RUN="$work/redis" PORT="$(free_port)"
  "$peer" start >/dev/null
  "$peer" check || echo "(peer check failed)"
  # The peer's GCRA script, loaded by its check: its SHA1 is what EVALSHA names.
  lua=$(sed -n "/^GCRA_LUA=\$(cat <<'EOF'/,/^EOF/p" "$peer" | sed '1d;$d')
  sha=$(redis-cli -h 127.0.0.1 -p "$PORT" script load "$lua")
  have_redis=1
fi

echo "== allot serve (HTTP/1.1 keep-alive) and Redis (RESP), alternating, ${rounds} rounds of ${secs}s each =="
: >"$work/allot.txt"
: >"$work/redis-gen.txt"
for cfg in "1 1 1 1" "50 1 1 1" "50 16 1 16" "50 1 16 16"; do
  read -r c b p rp <<<"$cfg"
  for _ in $(seq 1 "$rounds"); do
    line=$("$gen" --url "http://127.0.0.1:$port" --connections "$c" --batch "$b" --pipeline "$p" --seconds "$secs" \
      --keys 10000)
    echo "$line" | tee -a "$work/allot.txt"
    if [ "$have_redis" = 1 ]; then
      line=$("$gen" --url "redis://127.0.0.1:$PORT" --sha "$sha" --connections "$c" --batch "$rp" --seconds "$secs" \
        --keys 10000)
      echo "$line" | tee -a "$work/redis-gen.txt"
    fi
  done
done
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

if [ "$have_redis" = 1 ]; then
  echo "== redis-benchmark with the peer's GCRA script, for reference =="
  "$peer" bench "$redis_n" 1 | tee "$work/redis.txt"
  "$peer" stop >/dev/null
fi

echo
echo "== side by side: rate-limit decisions/s over loopback, 10k keys, rate 1000/s burst 100 =="
printf '%-22s %26s %26s %8s %20s\n' "" "allot serve (HTTP/JSON)" "redis GCRA (RESP)" "ratio" "redis-benchmark"
# Each row: label, allot's batch and pipeline, Redis' pipeline (-P), at c connections. Figures are the
# medians of the rounds; the ratio is the median of the ratios of the pairs run one after the other.
for cfg in "1 1 1 1 batch/P=1" "50 1 1 1 batch/P=1" "50 16 1 16 batch16/P=16" "50 1 16 16 pipeline16/P=16"; do
  read -r c b p rp label <<<"$cfg"
  row=$(python3 - "$work/allot.txt" "$work/redis-gen.txt" "$c" "$b" "$p" "$rp" <<'PY'
import json, statistics, sys
a_file, r_file, c, b, p, rp = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
def runs(path, batch, pipeline):
    out = []
    for line in open(path):
        j = json.loads(line)
        if j["connections"] == c and j["batch"] == batch and j.get("pipeline", 1) == pipeline:
            out.append(j)
    return out
a, r = runs(a_file, b, p), runs(r_file, rp, rp)
def fig(rs):
    if not rs:
        return "n/a"
    return f"{statistics.median(x['decisions_per_s'] for x in rs):.0f} (p50 {statistics.median(x['p50_ms'] for x in rs):.3f} ms)"
pairs = [x["decisions_per_s"] / y["decisions_per_s"] for x, y in zip(a, r) if y["decisions_per_s"] > 0]
ratio = f"{statistics.median(pairs):.2f}" if pairs else "n/a"
print(f"{fig(a)}|{fig(r)}|{ratio}|" + (" ".join(f"{q:.2f}" for q in pairs)))
PY
)
  IFS='|' read -r a g ratio each <<<"$row"
  r=$(grep -E "c=$c P=$rp keys=10000 GCRA:" "$work/redis.txt" 2>/dev/null | sed -E 's/.*mean=([0-9]+).*/\1/' || true)
  printf '%-22s %26s %26s %8s %20s   pairs: %s\n' "c=$c $label" "$a" "$g" "$ratio" "${r:-n/a}" "$each"
done
