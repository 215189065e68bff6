#!/usr/bin/env bash
# allot guard vs the usual Python way (psutil, Debian python3-psutil), same machine, same run.
#
#   1. end to end, process start to exit: `allot guard check --memory 1Gi` vs a python3 script that
#      does the same check with psutil (cpu_percent, virtual_memory, disk_usage), N runs each;
#   2. one probe in-process: bench_host (Google Benchmark) vs psutil.virtual_memory() / disk_usage()
#      timed with timeit.
#   PEER=1 also runs ../shared/peers/parallel-guard.sh overhead (GNU parallel --memfree / --load).
#
# Usage: scripts/bench-guard.sh [BUILD_DIR] [N]     (defaults: build-host, 300)
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then  # the comment above, without running anything
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."
BUILD=${1:-build-host}
N=${2:-300}
ALLOT=$BUILD/allot
[ -x "$ALLOT" ] || { echo "build first: $ALLOT missing" >&2; exit 2; }
# Debian's interpreter carries python3-psutil; a python3 earlier in PATH (pyenv) may not.
PY=${PYTHON:-}
for cand in /usr/bin/python3 python3; do
  [ -z "$PY" ] && "$cand" -c 'import psutil' 2>/dev/null && PY=$cand
done
[ -n "$PY" ] || { echo "python3-psutil is not installed (apt-get install python3-psutil)" >&2; exit 2; }
STATE=$(mktemp -d)
trap 'rm -rf "$STATE"' EXIT

# Runs "$@" N times; prints mean and p50/p95 per run in ms (the loop itself adds no process).
time_runs() {
  local i t0 t1 out=()
  for ((i = 0; i < N; i++)); do
    t0=${EPOCHREALTIME/./}  # microseconds, read without forking (bash 5)
    "$@" >/dev/null 2>&1 || true
    t1=${EPOCHREALTIME/./}
    out+=($((t1 - t0)))
  done
  printf '%s\n' "${out[@]}" | sort -n | awk -v n="$N" '{a[NR]=$1; s+=$1} END {
    printf "mean %.2f ms  p50 %.2f ms  p95 %.2f ms  (n=%d)\n", s/NR/1000, a[int(NR*0.5)+1]/1000, a[int(NR*0.95)]/1000, n}'
}

cat > "$STATE/check.py" <<'PY'
# The same decision as `allot guard check --memory 1Gi` with psutil: cpu <= 80 %, memory after +1 GiB <= 80 %.
import sys, psutil
cpu = psutil.cpu_percent(interval=None)  # since the last call: like allot's state file, no window
vm = psutil.virtual_memory()
disk = psutil.disk_usage("/")
used = vm.total - vm.available
ok = cpu <= 80 and (used + (1 << 30)) * 100 <= 80 * vm.total
sys.exit(0 if ok else 1)
PY

echo "== host: $(nproc) cores, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== end to end, process start to exit ($N runs each; exit codes ignored)"
printf '%-44s ' "allot guard check --memory 1Gi"; time_runs "$ALLOT" guard check --memory 1Gi --quiet --state-dir "$STATE"
printf '%-44s ' "python3 psutil check (same decision)"; time_runs "$PY" "$STATE/check.py"
printf '%-44s ' "python3 -c pass (interpreter floor)"; time_runs "$PY" -c pass
printf '%-44s ' "/bin/true (process floor)"; time_runs /bin/true

echo "== one probe, in process"
if [ -x "$BUILD/bench/bench_host" ]; then
  "$BUILD/bench/bench_host" --benchmark_min_time=0.2 2>/dev/null | grep -E '^BM_'
else
  echo "($BUILD/bench/bench_host not built: configure with -DALLOT_BENCH=ON)"
fi
"$PY" - <<'PY'
import timeit, psutil
for name, fn in [("virtual_memory()", psutil.virtual_memory), ("disk_usage('/')", lambda: psutil.disk_usage("/")),
                 ("cpu_times()", psutil.cpu_times), ("getloadavg()", psutil.getloadavg)]:
    n = 20000
    t = timeit.timeit(fn, number=n)
    print(f"psutil.{name:<22} {t / n * 1e9:10.0f} ns per call")
PY

if [ "${PEER:-0}" = 1 ]; then
  echo "== peer: GNU parallel gate overhead"
  ../shared/peers/parallel-guard.sh overhead 300
fi
