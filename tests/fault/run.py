#!/usr/bin/env python3
"""The fault test of replicated `allot serve`: three etcd members and three replicas on loopback (free
ports, every process started and stopped by its PID), concurrent clients that allocate, renew and release
through the Python client given all three URLs, and a nemesis that kills the leader with SIGKILL (then
restarts it), kills a standby, and freezes a replica with SIGSTOP past the lease TTL before SIGCONT (to
etcd, a replica cut off). Every operation goes to a history with its invoke and completion times and
result (ok, fail, or info when unknown); a sampler records every replica's nodes and placed allocations
as it goes; after recovery the final state of each replica is recorded, and history.check must find
nothing wrong.

    tests/fault/run.py --faults 5                 # the short version (CTest fault.short)
    scripts/fault-test.sh                         # the long one: 24 faults

Exit status: 0 when the checker passes, 1 when it finds a violation (printed), 2 when the cluster could not
be brought up. The history is left in --out (a temporary directory by default) as history.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cluster import REPO, EtcdCluster, Replica, allot_binary, etcd_binary, http_json, wait_leader  # noqa: E402
from history import check  # noqa: E402

try:
    import allot  # noqa: F401  (PYTHONPATH: the build tree's package, as CTest sets it)
    if not hasattr(allot, "Client"):
        raise ImportError
except ImportError:
    sys.modules.pop("allot", None)
    sys.path.insert(0, os.path.join(REPO, "python"))  # the client needs no native code
from allot import AllotConnectionError, AllotError, Client, ResourceRequest  # noqa: E402

NODES = 4
NODE_CPU = 4000  # millicores per node
UNIT = 500       # millicores per allocation


class Recorder:
    """The history: events appended from every thread, written as JSON lines."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.events: List[Dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, process: Any, type_: str, f: str, value: Dict[str, Any]) -> None:
        with self.lock:
            self.events.append({"index": len(self.events), "process": process, "type": type_, "f": f,
                                "time": time.time(), "value": value})

    def write(self) -> None:
        with self.lock, open(self.path, "w", encoding="utf-8") as out:
            for e in self.events:
                out.write(json.dumps(e) + "\n")


def outcome(e: Exception) -> str:
    """A refusal that did nothing (fail), or an outcome nobody knows (info)."""
    if isinstance(e, AllotConnectionError):
        return "info"
    if isinstance(e, AllotError) and e.status in (400, 403, 404, 409, 422, 429):
        return "fail"
    return "info"  # 5xx: a replica that could not make it durable may or may not have


def client(pid: int, urls: str, rec: Recorder, stop: threading.Event, seed: int, args: argparse.Namespace) -> None:
    rng = random.Random(seed)
    c = Client(urls, timeout=args.op_timeout, failover_timeout=args.failover_timeout)
    held: List[str] = []
    n = 0
    while not stop.is_set():
        r = rng.random()
        if not held or (len(held) < args.hold and r < 0.45):
            n += 1
            key = f"c{pid}-{n}"
            rec.add(pid, "invoke", "alloc", {"key": key, "cpu": UNIT, "duration": args.lease})
            try:
                a = c.allocate_resources(ResourceRequest(agent_id=f"client{pid}", resources={"cpu": f"{UNIT}m"},
                                                         duration=args.lease, idempotency_key=key))
            except AllotError as e:
                rec.add(pid, outcome(e), "alloc", {"key": key, "error": str(e)[:300], "status": e.status})
                continue
            if a.state not in ("placed", "queued"):
                rec.add(pid, "fail", "alloc", {"key": key, "error": f"{a.state}: {a.reason}"})
                continue
            rec.add(pid, "ok", "alloc", {"key": key, "id": a.id, "node": a.node_id, "state": a.state,
                                         "revision": c.revision, "replica": c.answered_by})
            held.append(a.id or "")
        elif r < 0.8:
            alloc_id = rng.choice(held)
            rec.add(pid, "invoke", "renew", {"id": alloc_id, "duration": args.lease})
            try:
                a = c.renew(alloc_id, args.lease)
                rec.add(pid, "ok", "renew", {"id": alloc_id, "node": a.node_id, "state": a.state, "revision": c.revision})
            except AllotError as e:
                rec.add(pid, outcome(e), "renew", {"id": alloc_id, "status": e.status, "error": str(e)[:300]})
                if outcome(e) == "fail":
                    held.remove(alloc_id)
        else:
            alloc_id = held.pop(rng.randrange(len(held)))
            rec.add(pid, "invoke", "release", {"id": alloc_id})
            try:
                c.release(alloc_id)
                rec.add(pid, "ok", "release", {"id": alloc_id, "revision": c.revision})
            except AllotError as e:
                rec.add(pid, outcome(e), "release", {"id": alloc_id, "status": e.status, "error": str(e)[:300]})
        stop.wait(rng.uniform(0, args.think))
    c.close()


def state_of(r: Replica, timeout: float = 1.0) -> Optional[Dict[str, Any]]:
    """One replica's nodes and allocations, as its own state holds them (None when it does not answer)."""
    try:
        s1, allocs, h1 = http_json(r.url, "GET", "/v1/allocations?limit=100000", timeout=timeout)
        s2, nodes, _ = http_json(r.url, "GET", "/v1/nodes", timeout=timeout)
    except OSError:
        return None
    if s1 != 200 or s2 != 200:
        return None
    v: Dict[str, Any] = {"replica": r.name, "revision": int(h1.get("x-allot-revision", "0")),
                         "nodes": {n["name"]: [n["allocated"].get("cpu", 0), n["capacity"].get("cpu", 0)]
                                   for n in nodes["nodes"]},
                         "allocations": {}, "active": {}, "keys": {}, "cpu": {}}
    for a in allocs["allocations"]:
        if a["state"] not in ("placed", "queued"):
            continue
        v["active"][a["id"]] = a["state"]
        if a.get("idempotency_key"):
            v["keys"][a["id"]] = a["idempotency_key"]
        if a["state"] == "placed":
            v["allocations"][a["id"]] = a["node"]
            v["cpu"][a["id"]] = a["requests"].get("cpu", 0) * a.get("count", 1)
    return v


def sampler(replicas: List[Replica], rec: Recorder, stop: threading.Event) -> None:
    while not stop.is_set():
        for r in replicas:
            if not r.process.alive() or r.process.frozen:
                continue
            v = state_of(r, 0.5)
            if v is not None:
                del v["active"], v["keys"], v["cpu"]
                rec.add("sampler", "ok", "read", v)
        stop.wait(0.2)


class Nemesis:
    def __init__(self, replicas: List[Replica], rec: Recorder, args: argparse.Namespace, rng: random.Random) -> None:
        self.replicas = replicas
        self.rec = rec
        self.args = args
        self.rng = rng
        self.failovers: List[float] = []
        self.done = 0

    def note(self, what: str, r: Replica, **extra: Any) -> None:
        self.rec.add("nemesis", "info", "fault", {"fault": what, "replica": r.name, **extra})
        print(f"[{time.strftime('%H:%M:%S')}] {what} {r.name} {extra or ''}", flush=True)

    def standby(self) -> Replica:
        leader = wait_leader(self.replicas)
        return self.rng.choice([r for r in self.replicas if r is not leader])

    def settle(self) -> None:
        """Every replica answers again (as leader or standby) and one leads."""
        for r in self.replicas:
            r.wait_role(timeout=60)
        wait_leader(self.replicas, 60)

    def run(self, deadline: float) -> None:
        kinds = ["kill-leader", "kill-standby", "freeze-standby", "freeze-leader"]
        for i in range(self.args.faults):
            if time.monotonic() > deadline:
                print(f"time is up after {self.done} faults", flush=True)
                return
            kind = kinds[i % len(kinds)]
            if kind == "kill-leader":
                victim = wait_leader(self.replicas)
                t0 = time.monotonic()
                victim.process.kill9()
                self.note("kill -9", victim, role="leader")
                new = wait_leader(self.replicas, 60, exclude=victim)
                self.failovers.append(time.monotonic() - t0)
                self.note("new leader", new, after_s=round(self.failovers[-1], 3))
                victim.start()
            elif kind == "kill-standby":
                victim = self.standby()
                victim.process.kill9()
                self.note("kill -9", victim, role="standby")
                time.sleep(0.5)
                victim.start()
            else:
                victim = wait_leader(self.replicas) if kind == "freeze-leader" else self.standby()
                victim.process.freeze()
                self.note("SIGSTOP", victim, role=kind.split("-")[1])
                time.sleep(self.args.ttl + 1.5)
                victim.process.thaw()
                self.note("SIGCONT", victim)
            self.settle()
            self.done += 1
            time.sleep(self.args.pause)


def final_states(replicas: List[Replica], rec: Recorder, timeout: float = 60.0) -> List[Dict[str, Any]]:
    """Each replica's state once all of them agree (or, after `timeout`, as they are)."""
    deadline = time.monotonic() + timeout
    while True:
        states = [state_of(r, 2.0) for r in replicas]
        if all(s is not None for s in states):
            same = all(s["active"] == states[0]["active"] and s["nodes"] == states[0]["nodes"] for s in states)
            if same or time.monotonic() > deadline:
                for s in states:
                    rec.add("checker", "ok", "final", s)
                return states  # type: ignore[return-value]
        elif time.monotonic() > deadline:
            raise RuntimeError("a replica does not answer after recovery")
        time.sleep(0.3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faults", type=int, default=5, help="faults to inject (default 5; the long run: 24)")
    ap.add_argument("--max-seconds", type=float, default=240, help="no new fault after this long (default 240)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--hold", type=int, default=6, help="allocations each client holds at most")
    ap.add_argument("--lease", type=float, default=20, help="allocation lease, seconds")
    ap.add_argument("--ttl", type=int, default=2, help="the replicas' leader lease TTL, seconds")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between faults")
    ap.add_argument("--think", type=float, default=0.02, help="a client's pause between operations (at most)")
    ap.add_argument("--op-timeout", type=float, default=2.0, help="one exchange with one replica, seconds")
    ap.add_argument("--failover-timeout", type=float, default=15.0, help="how long the client retries, seconds")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", default=None, help="directory for logs and history.jsonl (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep --out even when the check passes")
    args = ap.parse_args()
    if etcd_binary() is None:
        print("etcd is not installed (scripts/install-deps.sh test installs it)", file=sys.stderr)
        return 77
    if not os.access(allot_binary(), os.X_OK):
        print(f"no allot binary at {allot_binary()} (set ALLOT_BINARY)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    out = args.out or tempfile.mkdtemp(prefix="allot-fault-")
    os.makedirs(out, exist_ok=True)
    print(f"fault test: seed {seed}, {args.faults} faults, logs in {out}", flush=True)
    rng = random.Random(seed)
    rec = Recorder(os.path.join(out, "history.jsonl"))
    etcd = EtcdCluster(out)
    replicas = [Replica(out, f"r{i}", etcd.endpoints, ttl=args.ttl) for i in range(3)]
    stop = threading.Event()
    threads: List[threading.Thread] = []
    start = time.monotonic()
    bad: List[str] = []
    try:
        try:
            etcd.start()
            for r in replicas:
                r.start()
            leader = wait_leader(replicas, 60)
            for r in replicas:
                r.wait_role(timeout=60)
        except RuntimeError as e:
            print(f"the cluster did not come up: {e}", file=sys.stderr)
            return 2
        for i in range(NODES):
            status, body, _ = http_json(leader.url, "POST", "/v1/nodes",
                                        {"name": f"n{i}", "capacity": {"cpu": f"{NODE_CPU}m"}}, timeout=5)
            if status not in (200, 201):
                print(f"node registration failed: {status} {body}", file=sys.stderr)
                return 2
        urls = ",".join(r.url for r in replicas)
        threads = [threading.Thread(target=client, args=(i, urls, rec, stop, seed + i, args), daemon=True)
                   for i in range(args.clients)]
        threads.append(threading.Thread(target=sampler, args=(replicas, rec, stop), daemon=True))
        for t in threads:
            t.start()
        time.sleep(2)
        nemesis = Nemesis(replicas, rec, args, rng)
        nemesis.run(start + args.max_seconds)
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(args.op_timeout + args.failover_timeout + 5)
        for r in replicas:
            if r.process.frozen:
                r.process.thaw()
            if not r.process.alive():
                r.start()
        wait_leader(replicas, 60)
        final_states(replicas, rec)
        rec.write()
        bad = check(rec.events)
        ops = [e for e in rec.events if e["type"] != "invoke" and e["f"] in ("alloc", "renew", "release")]
        counts = {k: sum(1 for e in ops if e["type"] == k) for k in ("ok", "fail", "info")}
        fo = nemesis.failovers
        print(f"{nemesis.done} faults in {time.monotonic() - start:.0f} s; {len(ops)} operations "
              f"({counts['ok']} ok, {counts['fail']} failed, {counts['info']} unknown); "
              f"{sum(1 for e in rec.events if e['f'] == 'read')} samples"
              + (f"; leader kill to new leader: median {statistics.median(fo):.2f} s, max {max(fo):.2f} s" if fo else ""),
              flush=True)
        if nemesis.done == 0:
            bad.append("no fault was injected")
        if counts["ok"] == 0:
            bad.append("no operation was acknowledged")
    finally:
        stop.set()
        for r in replicas:
            r.process.stop()
        etcd.stop()
        rec.write()
    for b in bad[:50]:
        print("VIOLATION " + b)
    if bad:
        print(f"{len(bad)} violations; the history is {rec.path}")
        return 1
    print("the checker found nothing wrong")
    if args.out is None and not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
