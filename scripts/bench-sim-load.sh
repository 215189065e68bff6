#!/usr/bin/env bash
# The `allot sim` load benchmark (issue 15), everything measured in one run:
#  1. a 300-node, 5,000-request JSON scenario through `allot sim --json` and through seed 001's own
#     placement algorithm in Python (scripts/sim-seed.py seed), end to end (process start to exit, best
#     of $REPEAT, alternating): wall and CPU seconds of each and the ratio;
#  2. the loading rate: file size / `load_seconds` of allot's summary (read and validate the scenario),
#     the best and the median of $REPEAT;
#  3. a 100,000-event JSON scenario: peak RSS (/usr/bin/time -v) less that of the same nodes with no
#     events, per event, and the wall time; with HUGE=1000000 also a 1M-event one.
# It builds nothing: give the binary as $1 or ALLOT (default build/allot).
# Usage: scripts/bench-sim-load.sh [ALLOT] ; env REPEAT=3 NODES=300 REQUESTS=5000 BIG=100000 HUGE=0
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then  # the comment above, without running anything
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
allot=${1:-${ALLOT:-build/allot}}
[[ -x $allot ]] || { echo "bench-sim-load: no allot binary at $allot (build it first, or pass its path)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "bench-sim-load: needs /usr/bin/time (Debian package time)" >&2; exit 2; }
REPEAT=${REPEAT:-3} NODES=${NODES:-300} REQUESTS=${REQUESTS:-5000} BIG=${BIG:-100000} HUGE=${HUGE:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seed="python3 $here/sim-seed.py"

# run NAME CMD...: runs CMD under /usr/bin/time -v (stdout to $work/NAME.out) and prints
# "wall cpu maxrss_kb".
run() {
  local name=$1
  shift
  /usr/bin/time -v "$@" >"$work/$name.out" 2>"$work/$name.time"
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = (n == 3 ? p[1] * 3600 + p[2] * 60 + p[3] : p[1] * 60 + p[2]) }
              /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { m = $2 }
              END { printf "%.3f %.3f %d\n", w, u + s, m }' "$work/$name.time"
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
ratio() { awk -v a="$1" -v b="$2" -v s="${3:-1}" 'BEGIN { printf "%.1f", a / b / s }'; }
load_seconds() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["load_seconds"])' "$1"; }

$seed gen "$NODES" "$REQUESTS" "$work/s.json"
$seed gen "$NODES" 0 "$work/empty.json"
size=$(stat -c %s "$work/s.json")
echo "== $NODES nodes, $REQUESTS requests: $work/s.json, $size bytes (best of $REPEAT, alternating)"
best_a=(1e9 1e9 0) best_s=(1e9 1e9 0) best_load=1e9 loads=()
for ((i = 0; i < REPEAT; i++)); do
  read -r w c m < <(run allot "$allot" sim "$work/s.json" --json)
  lt "$w" "${best_a[0]}" && best_a=("$w" "$c" "$m")
  l=$(load_seconds "$work/allot.out")
  lt "$l" "$best_load" && best_load=$l
  loads+=("$l")
  read -r w c m < <(run seed $seed seed "$work/s.json")
  lt "$w" "${best_s[0]}" && best_s=("$w" "$c" "$m")
done
python3 - "$work/allot.out" "$work/seed.out" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))["summary"]
s = json.loads(open(sys.argv[2]).read())
print(f"placed: allot {a['requests'] - a['queued'] - a['rejected']} of {a['requests']}, seed {s['placed']} (+{s['pending']} pending)")
EOF
printf '%-28s %8s %8s %10s\n' "" "wall s" "cpu s" "peak RSS"
printf '%-28s %8.3f %8.3f %7d KB\n' "allot sim --json" "${best_a[0]}" "${best_a[1]}" "${best_a[2]}"
printf '%-28s %8.3f %8.3f %7d KB\n' "seed 001 in Python" "${best_s[0]}" "${best_s[1]}" "${best_s[2]}"
echo "ratio (seed / allot): wall $(ratio "${best_s[0]}" "${best_a[0]}")x, cpu $(ratio "${best_s[1]}" "${best_a[1]}")x"
median_load=$(printf '%s\n' "${loads[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
echo "load: best ${best_load}s, $(ratio "$size" "$best_load" 1000000) MB/s; median ${median_load}s, $(ratio "$size" "$median_load" 1000000) MB/s"

# big N: peak RSS per event over the same nodes without events, and the time.
big() {
  local n=$1
  $seed gen "$NODES" "$n" "$work/big.json"
  local bsize
  bsize=$(stat -c %s "$work/big.json")
  read -r _ _ m0 < <(run base "$allot" sim "$work/empty.json" --json)
  read -r w c m < <(run big "$allot" sim "$work/big.json" --json)
  local l
  l=$(load_seconds "$work/big.out")
  echo "== $n events ($bsize bytes): wall ${w}s, cpu ${c}s, peak RSS $m KB (no events: $m0 KB):" \
    "$(((m - m0) * 1024 / n)) bytes per event; load ${l}s, $(ratio "$bsize" "$l" 1000000) MB/s"
  rm -f "$work/big.json" "$work/big.out"
}
big "$BIG"
if ((HUGE > 0)); then big "$HUGE"; fi
