#!/usr/bin/env bash
# The engine at scale (issue 22), two binaries side by side: each row runs BEFORE then AFTER with the
# same arguments, back to back, pinned to one CPU (taskset -c $CPU), $REPEAT times alternating, and
# prints the median of each figure:
#  1. `allot bench engine --nodes 100000 --policy most-allocated`: decisions/s, p50, p99, peak RSS, and
#     the whole run's wall time (node setup and the fill to 75 % included);
#  2. the fill to 75 % at 10,000 / 30,000 / 100,000 nodes: wall seconds of a run with one timed decision
#     (a binary that reports fill_s also gives that), to see how it grows with N;
#  3. DRF with 1,000 tenants (3 levels) and 100 reservations at 10,000 nodes;
#  4. the README's engine rows: 10,000 and 100 nodes, the preemption search, bytes per queued request.
# A binary that predates the index takes minutes a run at 100,000 nodes (400 s of fill on a quiet
# machine); BEFORE_100K=0 skips those runs of BEFORE.
# It builds nothing (BEFORE and AFTER are two `allot` binaries, e.g. build/allot of two checkouts).
# Usage: scripts/bench-engine-scale.sh BEFORE AFTER
#   env REPEAT=3 CPU=1 REQUESTS=50000 BIG_REQUESTS=100000 BEFORE_100K=1
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then  # the comment above, without running anything
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
before=${1:?usage: bench-engine-scale.sh BEFORE AFTER}
after=${2:?usage: bench-engine-scale.sh BEFORE AFTER}
for b in "$before" "$after"; do
  [[ -x $b ]] || { echo "bench-engine-scale: no binary at $b" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || { echo "bench-engine-scale: needs /usr/bin/time (Debian package time)" >&2; exit 2; }
REPEAT=${REPEAT:-3} CPU=${CPU:-1} REQUESTS=${REQUESTS:-50000} BIG_REQUESTS=${BIG_REQUESTS:-100000}
BEFORE_100K=${BEFORE_100K:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# one BIN ARGS...: one pinned run; prints "decisions_per_s p50_us p99_us fill_s bytes preempt_p99 wall rss_kb"
# (fill_s and preempt_p99 "-" where the binary does not report them).
one() {
  local bin=$1
  shift
  /usr/bin/time -f '%e %M' -o "$work/time" taskset -c "$CPU" "$bin" bench engine "$@" >"$work/out.json"
  python3 - "$work/out.json" "$work/time" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
wall, rss = open(sys.argv[2]).read().split()[-2:]
g = lambda k: j.get(k, "-")
print(g("decisions_per_s"), g("p50_us"), g("p99_us"), g("fill_s"), g("bytes_per_queued_request"),
      g("preemption_p99_us"), wall, rss)
EOF
}

# row NAME RUNS_BEFORE ARGS...: REPEAT alternating runs of both; prints the medians.
row() {
  local name=$1 runs_before=$2
  shift 2
  : >"$work/b" && : >"$work/a"
  for ((i = 0; i < REPEAT; i++)); do
    if ((i < runs_before)); then one "$before" "$@" >>"$work/b"; fi
    one "$after" "$@" >>"$work/a"
  done
  python3 - "$name" "$work/b" "$work/a" <<'EOF'
import statistics, sys
name = sys.argv[1]
cols = ["decisions/s", "p50 us", "p99 us", "fill s", "B/queued", "preempt p99 us", "wall s", "RSS MB"]
def med(path):
    rows = [l.split() for l in open(path) if l.strip()]
    out = []
    for c in range(len(cols)):
        vals = [r[c] for r in rows if r[c] != "-"]
        if not vals:
            out.append("-")
            continue
        m = statistics.median(float(v) for v in vals)
        out.append(f"{m / 1024:.0f}" if c == 7 else f"{m:.0f}" if c in (0, 4) else f"{m:.2f}")
    return out, len(rows)
b, nb = med(sys.argv[2])
a, na = med(sys.argv[3])
print(f"== {name}")
print("  " + "".join(f"{c:>15}" for c in ["", *cols]))
print("  " + f"{'before (' + str(nb) + ')':>15}" + "".join(f"{v:>15}" for v in b))
print("  " + f"{'after (' + str(na) + ')':>15}" + "".join(f"{v:>15}" for v in a))
EOF
}

big_before=$REPEAT
((BEFORE_100K)) || big_before=0
((big_before > 1)) && big_before=1  # minutes a run: once is enough to compare
echo "bench-engine-scale: before $before, after $after, CPU $CPU, $REPEAT runs a row (medians)"
row "100,000 nodes, most-allocated, $BIG_REQUESTS decisions (wall: the whole run, fill included)" \
  "$big_before" --nodes 100000 --requests "$BIG_REQUESTS" --policy most-allocated
row "fill: 10,000 nodes (one timed decision)" "$REPEAT" --nodes 10000 --requests 1
row "fill: 30,000 nodes (one timed decision)" "$REPEAT" --nodes 30000 --requests 1
row "DRF + 1,000 tenants + 100 reservations, 10,000 nodes" "$REPEAT" --nodes 10000 --requests "$REQUESTS" --policy drf
row "10,000 nodes, most-allocated (README)" "$REPEAT" --nodes 10000 --requests "$REQUESTS" --policy most-allocated
row "100 nodes (README)" "$REPEAT" --nodes 100 --requests 300000
row "preemption search, 10,000 nodes (README)" "$REPEAT" --nodes 10000 --requests 5000 --preemption
