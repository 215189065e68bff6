#!/usr/bin/env python3
"""Figures of replicated `allot serve` on one machine: 3 etcd members and 3 replicas on free loopback ports
(every process started and stopped by its PID).

1. Throughput: durable allocations/s through the three replicas (bench_store_replica allocs: clients given
   every replica, redirected to the leader, each allocation acknowledged once durable in etcd), beside
   raw etcd puts/s in the same run (bench_store_replica puts: transactions of 1 and of --batch puts through
   the v3 gateway, the client allot's store uses), with the leader's average batches per etcd transaction
   and how long the standbys took to hold every allocation afterwards.
2. Failover: --kills times, kill -9 the leader and time until a write is acknowledged by the new leader
   (each surviving replica probed every 10 ms with a write), restart the old one as a standby. Median and
   max, with the new leader's promotion (reloading the state from etcd) as its log says.

    scripts/bench-replicas.py [--kills 20] [--seconds 10] [--connections 128] [--max-txn-ops 128] [--ttl 2]

Prints one JSON line per figure. Needs build/allot, build/bench/bench_store_replica and etcd.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "fault"))

from cluster import EtcdCluster, Replica, http_json, wait_leader  # noqa: E402


def metric(url: str, name: str) -> float:
    status, text, _ = http_json(url, "GET", "/metrics", timeout=10)
    m = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? ([0-9.e+-]+)$", text if isinstance(text, str) else "", re.M)
    return float(m.group(1)) if m else float("nan")


def bench(build: str, args: List[str]) -> Dict:
    out = subprocess.run([os.path.join(build, "bench", "bench_store_replica")] + args, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def emit(what: str, **fields) -> None:
    print(json.dumps({"figure": what, **fields}), flush=True)


def throughput(a: argparse.Namespace, etcd: EtcdCluster, replicas: List[Replica]) -> None:
    leader = wait_leader(replicas)
    urls = ",".join(r.url for r in replicas)
    tx0 = metric(leader.url, "allot_store_transactions_total")
    b0 = metric(leader.url, "allot_store_batches_total")
    allocs = bench(a.build, ["allocs", "--servers", urls, "--connections", str(a.connections), "--seconds", str(a.seconds)])
    done = time.monotonic()
    tx = metric(leader.url, "allot_store_transactions_total") - tx0
    batches = metric(leader.url, "allot_store_batches_total") - b0
    # The standbys hold every allocation once their revision reaches the leader's.
    _, _, h = http_json(leader.url, "GET", "/v1/allocations?limit=1", timeout=10)
    target = int(h.get("x-allot-revision", "0"))
    lags = []
    for r in replicas:
        if r is leader:
            continue
        while True:
            _, _, hr = http_json(r.url, "GET", "/v1/allocations?limit=1", timeout=10)
            if int(hr.get("x-allot-revision", "0")) >= target:
                lags.append(round(time.monotonic() - done, 3))
                break
            if time.monotonic() - done > 120:
                lags.append(None)
                break
            time.sleep(0.05)
    emit("allocations through 3 replicas", **allocs, etcd_transactions=int(tx),
         batches_per_transaction=round(batches / tx, 1) if tx else None, standbys_caught_up_after_s=lags)
    for batch in (1, a.batch):
        puts = bench(a.build, ["puts", "--endpoints", etcd.endpoints, "--connections", str(a.connections),
                               "--seconds", str(a.seconds), "--batch", str(batch)])
        emit(f"raw etcd puts, {batch} per transaction", **puts)


def failover(a: argparse.Namespace, replicas: List[Replica]) -> None:
    times: List[float] = []
    promotions: List[int] = []
    n = 0
    for k in range(a.kills):
        leader = wait_leader(replicas, 60)
        others = [r for r in replicas if r is not leader]
        t0 = time.monotonic()
        leader.process.kill9()
        t1 = None
        while t1 is None and time.monotonic() - t0 < 60:
            for r in others:
                n += 1
                try:
                    status, _, _ = http_json(r.url, "POST", "/v1/allocations",
                                             {"tenant": "bench/fo", "requests": {"cpu": "1m"}, "idempotency_key": f"fo-{n}"},
                                             timeout=0.5)
                except OSError:
                    continue
                if status in (201, 202):
                    t1 = time.monotonic()
                    new = r
                    break
            else:
                time.sleep(0.01)
        if t1 is None:
            raise RuntimeError("no write was acknowledged within 60 s of the kill")
        times.append(t1 - t0)
        m = re.findall(r'"promotion_ms":(\d+)', new.process.log())
        if m:
            promotions.append(int(m[-1]))
        leader.start()
        leader.wait_role(("standby", "leader"), 60)  # it may win the next election itself
        time.sleep(a.settle)
    state = http_json(wait_leader(replicas).url, "GET", "/v1/allocations?limit=1", timeout=10)[1].get("count")
    emit("leader kill -9 to the first acknowledged write on the new leader", kills=len(times), lease_ttl_s=a.ttl,
         median_s=round(statistics.median(times), 3), max_s=round(max(times), 3), min_s=round(min(times), 3),
         promotion_ms_median=statistics.median(promotions) if promotions else None,
         promotion_ms_max=max(promotions) if promotions else None, allocations_in_state=state)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=128)
    ap.add_argument("--batch", type=int, default=128, help="puts per transaction of the batched raw etcd run")
    ap.add_argument("--ttl", type=int, default=2, help="the replicas' leader lease TTL (etcd's minimum is 2 s)")
    ap.add_argument("--max-txn-ops", type=int, default=128,
                    help="keys per etcd transaction: etcd's --max-txn-ops and allot's --etcd-max-txn-ops (default 128)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds between a restart and the next kill")
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-failover", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("ALLOT_BINARY", os.path.join(a.build, "allot"))
    for f in (os.environ["ALLOT_BINARY"], os.path.join(a.build, "bench", "bench_store_replica")):
        if not os.access(f, os.X_OK):
            print(f"bench-replicas.py: {f} is missing: build it first (make build)", file=sys.stderr)
            return 2
    if shutil.which("etcd") is None:
        print("bench-replicas.py: etcd is not installed (scripts/install-deps.sh test)", file=sys.stderr)
        return 2
    d = tempfile.mkdtemp(prefix="allot-bench-replicas-")
    etcd = EtcdCluster(d, extra=["--max-txn-ops", str(a.max_txn_ops)])
    replicas = [Replica(d, f"r{i}", etcd.endpoints, ttl=a.ttl, extra=["--etcd-max-txn-ops", str(a.max_txn_ops)])
                for i in range(3)]
    try:
        etcd.start()
        for r in replicas:
            r.start()
        leader = wait_leader(replicas, 60)
        for r in replicas:
            r.wait_role(timeout=60)
        for i in range(2):
            http_json(leader.url, "POST", "/v1/nodes", {"name": f"big-{i}", "capacity": {"cpu": "1000000"}}, timeout=10)
        if not a.skip_throughput:
            throughput(a, etcd, replicas)
        if not a.skip_failover:
            failover(a, replicas)
    finally:
        for r in replicas:
            r.process.stop()
        etcd.stop()
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
