#!/usr/bin/env bash
# Builds the seed corpora of the libFuzzer targets (fuzz/, docs/fuzzing.md) from the repository's tests
# and examples and ../shared/data: one directory per target under OUT (default build-fuzz/corpus), made
# afresh. Nothing here is committed; the fuzzers add what they find to the same directories.
# Usage: scripts/fuzz-corpus.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build-fuzz/corpus}
SHARED=${SHARED:-../shared/data}
rm -rf "$OUT"
mkdir -p "$OUT"
python3 - "$OUT" "$SHARED" <<'PY'
import glob, gzip, json, os, re, sys

out, shared = sys.argv[1], sys.argv[2]
count = {}

def seed(target, data):
    if isinstance(data, str):
        data = data.encode()
    if not data or len(data) > 64 * 1024:  # large inputs only slow the fuzzer down
        return
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    n = count.get(target, 0)
    count[target] = n + 1
    with open(os.path.join(d, "seed-%05d" % n), "wb") as f:
        f.write(data)

def read(path):
    with open(path, "rb") as f:
        return f.read()

def documents(path):
    """The YAML documents of a multi-document file, each alone."""
    text = read(path).decode("utf-8", "replace")
    return [d for d in re.split(r"(?m)^---[ \t]*$", text) if d.strip()]

# quantity: the strings the quantity tests use, and a few of each syntax.
for q in ["500m", "2", "1.5", "2Gi", "512Mi", "8G", "1e3", "100000Ti", "7Ei", "0.001", "-1", ".5", "512m",
          "2g", "1gb", "1E", "9223372036854775807", "1.5e-3", "0x10", "+5", "1Ki"]:
    seed("quantity", q)
for f in glob.glob("tests/core/quantity_test.cc"):
    for s in sorted(set(re.findall(r'"([^"\\\n]{1,40})"', read(f).decode())))[:400]:
        seed("quantity", s)

# scenario: every scenario file, and JSON forms of them (the JSON loader is its own code).
try:
    import yaml
except ImportError:
    yaml = None
for f in sorted(glob.glob("tests/scenarios/*.yaml") + glob.glob("examples/sim/*.yaml") + glob.glob("examples/policy/*.yaml")):
    seed("scenario", read(f))
    if yaml is not None:
        try:
            seed("scenario", json.dumps(yaml.safe_load(read(f))))
        except Exception:
            pass

# manifest: each Kubernetes document alone; compose: whole files.
for f in sorted(glob.glob(os.path.join(shared, "manifests", "*.yaml"))):
    for d in documents(f):
        seed("manifest", d)
for f in sorted(glob.glob("examples/plan/seed/*") + glob.glob("examples/plan/*.y*ml")):
    if os.path.isfile(f):
        seed("manifest", read(f))
for f in sorted(glob.glob(os.path.join(shared, "compose", "*.y*ml")) + glob.glob("examples/plan/*.yml")):
    seed("compose", read(f))

# hpa: the autoscale examples.
for f in sorted(glob.glob("examples/autoscale/*.yaml")):
    seed("hpa", read(f))

# server_config: the example configs and seed 001's files.
for f in sorted(glob.glob("examples/server/*.yaml") + glob.glob("examples/seed001/*.yaml")):
    seed("server_config", read(f))
seed("server_config", "auth:\n  rate_limit: {rate: 100/s, burst: 200}\n  tokens:\n"
                      "    - {name: a, role: admin, token: a-secret-1, expires: 24h}\n"
                      "  client_certs: [{cn: agent-1, role: agent}]\ntls: {cert: s.crt, key: s.key, client_ca: ca.crt}\n")

# http_request: the first byte picks the limits (even: the defaults).
for r in [b"GET /v1/nodes HTTP/1.1\r\nHost: x\r\n\r\n",
          b"POST /v1/allocations?tenant=org%2Fa&x=1+2 HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
          b"PUT /v1/quotas/org/a HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
          b"GET / HTTP/1.1\r\nAccept: a\r\nAccept: b\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
          b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]:
    seed("http_request", b"\x00" + r)
    seed("http_request", b"\x01" + r)

# api_body: the first byte picks the route (fuzz/api_body_fuzz.cc's table).
bodies = {
    0: ['{"name":"n2","capacity":{"cpu":"8","memory":"16Gi","gpu":1},"labels":{"zone":"a"},"pool":"p"}'],
    1: ['{"usage":{"cpu":"2","memory":"4Gi"},"gpus":[{"index":0,"model":"A100","memory":80,"utilization":50}]}'],
    2: ['{"tenant":"org/a","requests":{"cpu":"1","memory":"2Gi"},"priority":"high","duration":"1h","wait":30}',
        '{"agent_id":"policy_analyzer_01","workflow_id":"w1","resources":{"cpu":4,"memory":8,"gpu":"500m"},'
        '"priority":"HIGH","idempotency_key":"k1","selector":{"zone":"a"},"preemptible":true,"count":2}'],
    3: ['{"duration":"10m"}'],
    4: ['{"id":"r1","tenant":"org/a","start":"2030-01-01T00:00:00Z","end":"2030-01-01T01:00:00Z","requests":{"cpu":"4"},"nodes":["n1"]}'],
    5: ['{"guaranteed":{"cpu":"4"},"max":{"cpu":"8","memory":"16Gi"},"weight":2,"burst":1.5,"grace":"30s"}'],
    6: ['{"rate":"5/m","burst":5}', '{"limits":[{"scope":"tenant","rate":"10/s"},{"scope":"global","quota_per_day":1000}]}'],
    7: ['{"n":1,"tenant":"org/a"}'],
    8: ['{"requests":[{"key":"k1","n":1},{"key":"k2","n":2,"tenant":"org/b"}]}'],
    9: ['{"holder":"w1","rate":"1/s","start":"2030-01-01T00:00:00Z","end":"2030-01-02T00:00:00Z"}'],
    10: ['{"capacity":10,"ttl":"1m"}'],
    11: ['{"n":2,"tenant":"org/a","holder":"h","ttl":"30s"}'],
    12: ['{"lease":1}'],
    13: ['{"lease":1,"ttl":"1m"}'],
    14: ['{"failure_threshold":0.5,"window":"10s","min_requests":5,"open_for":"30s"}'],
    15: ['{"outcome":"failure","latency_ms":120,"tenant":"org/a"}'],
    16: ['{"tenant":"org/a"}'],
    17: ['tenant=org/a&state=placed&limit=10'],
    18: ['since=24h&limit=5', 'after=3&id=a-1'],
    19: ['offset=0&limit=3'],
    20: ['id=r1'],
}
for route, items in bodies.items():
    for b in items:
        seed("api_body", bytes([route]) + b.encode())

# trace: the first byte picks the reader (0 Alibaba nodes, 1 Alibaba pods, 2 Google task events, 3 SWF);
# the first lines of each real trace, plain and gzipped.
def head(path, n):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return b"".join(line for _, line in zip(range(n), f))
traces = [(0, "alibaba-gpu-v2023/openb_node_list_all_node.csv"), (1, "alibaba-gpu-v2023/openb_pod_list_default.csv"),
          (1, "alibaba-gpu-v2023/openb_pod_list_gpuspec33.csv"), (2, "google-2011/task_events-part-00000-first-100-jobs.csv"),
          (3, "pwa-nasa-ipsc/NASA-iPSC-1993-3.1-cln.swf.gz")]
for sel, rel in traces:
    path = os.path.join(shared, "traces", rel)
    if not os.path.exists(path):
        continue
    for n in (3, 40):
        text = head(path, n)
        seed("trace", bytes([sel]) + text)
        seed("trace", bytes([sel | 4]) + gzip.compress(text))

for t in sorted(count):
    print(f"{t}: {count[t]} seeds")
PY
