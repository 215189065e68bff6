#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/, docs/fuzzing.md) one after another, SECONDS_EACH seconds each
# (default 60: `make fuzz-smoke`), on the seed corpora of scripts/fuzz-corpus.sh (made when missing),
# after building the `fuzz` preset. A crash, leak, timeout or sanitizer report stops that target and is
# kept under build-fuzz/artifacts/TARGET/ (the input that caused it). Prints one JSON line per target
# (runs, cov, ft, exec/s, corpus size) and exits 1 if any target failed.
# Usage: scripts/fuzz.sh [TARGET...]   (default: all)   SECONDS_EACH=600 scripts/fuzz.sh manifest
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-60}
B=build-fuzz
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_NOHASHDIR=1 CCACHE_BASEDIR=$PWD
[ -f $B/build.ninja ] || cmake --preset fuzz >/dev/null
cmake --build --preset fuzz >&2
[ -d $B/corpus ] || scripts/fuzz-corpus.sh $B/corpus >&2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*_fuzz.cc; do t=$(basename "$f" _fuzz.cc); targets+=("$t"); done
fi
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$B/corpus/$t" "$B/artifacts/$t" "$B/logs"
  log="$B/logs/$t.log"
  rc=0
  # -timeout: one input taking this long is a finding (a hang); -rss_limit_mb: so is this much memory.
  # fuzz/lsan.supp: leaks inside Debian's libraries (each with its reproduction), not allot's.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0} \
    "$B/fuzz/${t}_fuzz" -max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$B/artifacts/$t/" "$B/corpus/$t" >"$log" 2>&1 || rc=$?
  python3 - "$t" "$log" "$rc" <<'PY'
import json, re, sys
t, log, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(log, errors="replace").read()
last = [l for l in text.splitlines() if re.match(r"#\d+\s", l)]
stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", text))
m = re.search(r"cov: (\d+) ft: (\d+) corp: (\d+)/\S+", last[-1]) if last else None
out = {"target": t, "ok": rc == 0, "runs": int(stats.get("number_of_executed_units", 0)),
       "exec_per_s": int(stats.get("average_exec_per_sec", 0)), "seconds": int(stats.get("number_of_executed_units", 0)) // max(1, int(stats.get("average_exec_per_sec", 1))),
       "cov": int(m.group(1)) if m else None, "ft": int(m.group(2)) if m else None, "corpus": int(m.group(3)) if m else None,
       "peak_rss_mb": int(stats.get("peak_rss_mb", 0))}
if rc != 0:
    crash = re.findall(r"Test unit written to (\S+)", text)
    out["artifact"] = crash[-1] if crash else None
    out["log"] = log
print(json.dumps(out))
PY
  [ "$rc" -eq 0 ] || failed=1
done
exit $failed
