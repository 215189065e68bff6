#!/usr/bin/env bash
# Rate-limit decisions per second: allot's in-process GCRA (bench/throttle_bench.cc) beside the Redis
# peer (Redis 7 + a GCRA Lua script, ../shared/peers/redis-ratelimit.sh), in the same run on the same
# machine, printed side by side. Both use 10,000 keys at rate 1000/s, burst 100.
#
# Usage: scripts/bench-ratelimit.sh [REDIS_N] [REDIS_RUNS]   (defaults 200000 and 1)
# Env:   BUILD=build           (a build dir with bench/bench_throttle; never built here)
#        CPU=1                 (the core the in-process benchmark is pinned to)
#        MIN_TIME=1            (seconds per in-process benchmark)
# Redis is started and stopped by the peer script (by its PID file), on 127.0.0.1:16379.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then  # the comment above, without running anything
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
here=$(cd "$(dirname "$0")/.." && pwd)
peer=${PEER:-$here/../shared/peers/redis-ratelimit.sh}
build=${BUILD:-$here/build}
n=${1:-200000}
runs=${2:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ ! -x "$build/bench/bench_throttle" ]; then
  echo "bench-ratelimit.sh: $build/bench/bench_throttle is missing: build it first (make build, or" \
       "cmake --build $build --target bench_throttle), or set BUILD to a build dir that has it" >&2
  exit 2
fi

echo "== allot in-process (one core: taskset -c ${CPU:-1}) =="
taskset -c "${CPU:-1}" "$build/bench/bench_throttle" --benchmark_min_time="${MIN_TIME:-1}" \
  --benchmark_format=json >"$out/allot.json" 2>/dev/null
python3 - "$out/allot.json" <<'PY' | tee "$out/allot.txt"
import json, sys
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    print(f'{b["name"]:<28} {b["items_per_second"]/1e6:8.2f} M decisions/s  ({b["cpu_time"]:.1f} ns each)')
PY

echo "== Redis peer (redis-benchmark, GCRA Lua script) =="
if ! command -v redis-server >/dev/null || [ ! -x "$peer" ]; then
  echo "redis-server or $peer missing: no peer figure" | tee "$out/redis.txt"
else
  export RUN="$out/redis"
  "$peer" start >/dev/null
  trap '"$peer" stop >/dev/null 2>&1 || true; rm -rf "$out"' EXIT
  "$peer" check || echo "(peer check failed)"
  "$peer" bench "$n" "$runs" | tee "$out/redis.txt"
  "$peer" stop >/dev/null
fi

echo
echo "== side by side (decisions/s) =="
allot_keyed=$(awk '/BM_TableOneLevel10kKeys/ {print $2 * 1e6}' "$out/allot.txt")
allot_core=$(awk '/BM_Gcra10kLimiters/ {print $2 * 1e6}' "$out/allot.txt")
printf '%-52s %14.0f\n' "allot RateLimitTable, 10k keys, in-process, 1 core" "$allot_keyed"
printf '%-52s %14.0f\n' "allot GcraLimiter, 10k limiters, in-process, 1 core" "$allot_core"
grep -E ' GCRA: ' "$out/redis.txt" | while read -r line; do
  c=$(echo "$line" | sed -E 's/.*c=([0-9]+) P=([0-9]+).*/c=\1 P=\2/')
  m=$(echo "$line" | sed -E 's/.*mean=([0-9]+).*/\1/')
  printf '%-52s %14.0f\n' "redis GCRA Lua, 10k keys, loopback, $c" "$m"
done
