#!/usr/bin/env bash
# allocate+release pairs/s over TLS beside plain HTTP, in the same run: two `allot serve` processes with
# the same config (one with --tls-cert, certificates made here with openssl), loaded in turn by
# `bench_server pairs` for ROUNDS rounds each (plain, TLS, plain, TLS, ...); prints each run and the
# medians as JSON lines, and the ratio TLS/plain. The servers run with --no-fsync (FSYNC=1 keeps the fsync
# of every group commit), so that the transport, not the disk, is what the numbers compare.
# Usage: scripts/bench-tls.sh [BUILD_DIR]   (default build/; CONNS=16 SECONDS_RUN=5 ROUNDS=3 FSYNC=0)
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then  # the comment above, without running anything
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."
B=${1:-build}
ALLOT=$B/allot
BENCH=$B/bench/bench_server
CONNS=${CONNS:-16}
SECONDS_RUN=${SECONDS_RUN:-5}
ROUNDS=${ROUNDS:-3}
durability=(--no-fsync)
[ "${FSYNC:-0}" = 1 ] && durability=()
work=$(mktemp -d /tmp/allot-bench-tls-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for f in "$ALLOT" "$BENCH"; do
  if [ ! -x "$f" ]; then
    echo "bench-tls.sh: $f is missing: build it first (make build), or pass a build dir that has it" >&2
    exit 2
  fi
done
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 3000); do curl -sf --cacert "$work/ca.crt" "$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.01; done; return 1; }

# A CA and a server certificate for 127.0.0.1 (P-256, as a modern deployment would use).
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$work/ca.key" -out "$work/ca.crt" -days 1 -subj "/CN=bench CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1
openssl req -new "${ec[@]}" -keyout "$work/server.key" -out "$work/server.csr" -subj "/CN=127.0.0.1" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
  -out "$work/server.crt" -days 1 -extfile "$work/ext" >/dev/null 2>&1

cat > "$work/pairs.yaml" <<YAML
nodes: [{name: big-1, capacity: {cpu: "100000", memory: 100Ti}}, {name: big-2, capacity: {cpu: "100000", memory: 100Ti}}]
YAML
plain_port=$(free_port)
$ALLOT serve --dev --quiet "${durability[@]}" --config "$work/pairs.yaml" --listen 127.0.0.1:$plain_port --data "$work/plain" 2>"$work/plain.log" &
pids+=($!)
tls_port=$(free_port)
$ALLOT serve --dev --quiet "${durability[@]}" --config "$work/pairs.yaml" --listen 127.0.0.1:$tls_port --data "$work/tls" \
  --tls-cert "$work/server.crt" --tls-key "$work/server.key" 2>"$work/tls.log" &
pids+=($!)
wait_ready "http://127.0.0.1:$plain_port"
wait_ready "https://127.0.0.1:$tls_port"

plain=() tls=()
for r in $(seq 1 "$ROUNDS"); do
  out=$($BENCH pairs --url "http://127.0.0.1:$plain_port" --connections "$CONNS" --seconds "$SECONDS_RUN")
  echo "{\"round\": $r, \"transport\": \"http\", \"result\": $out}"
  plain+=("$(echo "$out" | python3 -c 'import json,sys;print(json.load(sys.stdin)["pairs_per_s"])')")
  out=$($BENCH pairs --url "https://127.0.0.1:$tls_port" --ca-cert "$work/ca.crt" --connections "$CONNS" --seconds "$SECONDS_RUN")
  echo "{\"round\": $r, \"transport\": \"https\", \"result\": $out}"
  tls+=("$(echo "$out" | python3 -c 'import json,sys;print(json.load(sys.stdin)["pairs_per_s"])')")
done
python3 - "${plain[*]}" "${tls[*]}" <<'PY'
import json, statistics, sys
plain = [float(x) for x in sys.argv[1].split()]
tls = [float(x) for x in sys.argv[2].split()]
mp, mt = statistics.median(plain), statistics.median(tls)
print(json.dumps({"http_pairs_per_s_median": mp, "https_pairs_per_s_median": mt,
                  "https_over_http": round(mt / mp, 3) if mp else None}))
PY
