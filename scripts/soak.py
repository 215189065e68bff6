#!/usr/bin/env python3
"""Soak test of `allot serve`: N minutes of mixed load against a real server, watching its memory and
descriptors.

Load (threads, each on its own keep-alive connection): allocate, renew and release (with and without a
lease); rate-limit acquires on a defined limit; long-poll watches (GET /v1/allocations/ID?wait=); GET
/metrics scrapes; node churn (register, heartbeat, remove). The load is offered at a fixed rate
(--cycles, --acquires: ~1,700 requests/s by default), not as fast as the machine allows, so that the
store's steady size does not follow the machine's noise. Every few seconds the server's RSS
(/proc/PID/status VmRSS) and open descriptors (/proc/PID/fd) are sampled.

Pass: after the warm-up, RSS less the heap SQLite holds (allot_store_memory_bytes: its page caches fill
towards their bound as the store's pages are touched, for most of an hour at this load) grows less than
--max-growth (default 5 %) from the median of the first minute after the warm-up to the median of the last
minute, at the same achieved load (within 10 %: else the run measured nothing and fails); SQLite's heap
stays within --store-memory-mb (72: the committer's 64 MiB page cache, the reader's 2 MiB, statements);
the plain RSS growth is reported beside; and the descriptor count at the end is within
--fd-slack of where it was after the warm-up. Retention is configured short (finished allocations 60 s,
at most 5,000; audit events 5 minutes, pruned every 30 s; history tiers of 2 and 5 minutes) so that the
warm-up reaches the steady state the retention allows. The SQLite store's page cache (64 MiB,
src/store/sqlite_store.cc) is the largest part of that: it fills as the store grows to its steady size;
hence the 8 minute warm-up. Errors (other than
the expected 409/429) also fail the run.

Only the standard library. Prints a summary (and --json FILE writes it with every sample).

  nice -n 10 scripts/soak.py --minutes 30 --json soak.json
  scripts/soak.py --minutes 3 --warmup 0.5      # a quick check (RSS still grows: it fails)
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

CONFIG = """
retention: {finished_allocations: 60s, finished_count: 5000, events: 5m}
history: {interval: 1s, tiers: [{step: 1s, keep: 2m, nodes: true}, {step: 10s, keep: 5m}]}
heartbeat_timeout: 30s
tenants: {auto_create: true}
nodes:
  - {name: big-1, capacity: {cpu: "4096", memory: 16Ti, gpu: "64"}}
  - {name: big-2, capacity: {cpu: "4096", memory: 16Ti, gpu: "64"}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Conn:
    """One keep-alive connection, reopened after a failure."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port, self.timeout, self.c = port, timeout, None

    def call(self, method: str, path: str, body=None, timeout=None):
        for attempt in (0, 1):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout or self.timeout)
                elif timeout:
                    self.c.sock.settimeout(timeout)
                data = None if body is None else json.dumps(body)
                self.c.request(method, path, body=data, headers={"Content-Type": "application/json"})
                r = self.c.getresponse()
                raw = r.read()
                if r.will_close:
                    self.c.close()
                    self.c = None
                try:
                    return r.status, json.loads(raw) if raw and raw[:1] in b"{[" else raw
                except ValueError:
                    return r.status, raw
            except (OSError, http.client.HTTPException):
                if self.c is not None:
                    self.c.close()
                self.c = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


class Pacer:
    """A fixed offered load: wait() returns at `rate` calls per second, on a schedule fixed from the start (a
    thread that falls behind catches up without sleeping), so the store's steady size (events within their
    retention, finished allocations) does not follow the machine's noise."""

    def __init__(self, rate: float) -> None:
        self.period = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()

    def wait(self, stop) -> None:
        if self.period == 0.0:
            return
        self.next += self.period
        delay = self.next - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        elif delay < -1.0:  # more than a second behind: do not burst to catch up
            self.next = time.monotonic()


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = {}
        self.errors = {}

    def add(self, kind: str, status: int, ok=(200, 201, 202)) -> None:
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if status not in ok:
                key = f"{kind} {status}"
                self.errors[key] = self.errors.get(key, 0) + 1


def allocator(port, stop, stats, rates, worker):
    c = Conn(port)
    pace = Pacer(rates.cycles)
    i = 0
    while not stop.is_set():
        pace.wait(stop)
        i += 1
        body = {"tenant": f"soak/t{worker % 8}", "requests": {"cpu": "100m", "memory": "64Mi"}}
        if i % 3 == 0:
            body["duration"] = "2s"  # ends by its lease: the timer's expiry path
        st, a = c.call("POST", "/v1/allocations", body)
        stats.add("allocate", st)
        if st not in (201, 202) or not isinstance(a, dict):
            continue
        if i % 3 == 0:
            continue
        st, _ = c.call("POST", f"/v1/allocations/{a['id']}/renew", {"duration": "1m"})
        stats.add("renew", st)
        st, _ = c.call("DELETE", f"/v1/allocations/{a['id']}")
        stats.add("release", st)


def acquirer(port, stop, stats, rates):
    c = Conn(port)
    pace = Pacer(rates.acquires)
    while not stop.is_set():
        pace.wait(stop)
        st, _ = c.call("POST", "/v1/ratelimits/soak/api/acquire", {"n": 1, "tenant": "soak/t1"})
        stats.add("ratelimit", st)


def watcher(port, stop, stats, rates):
    c = Conn(port, timeout=60)
    while not stop.is_set():
        st, a = c.call("POST", "/v1/allocations", {"tenant": "soak/watch", "requests": {"cpu": "1"}, "duration": "3s"})
        stats.add("allocate", st)
        if st not in (201, 202) or not isinstance(a, dict):
            continue
        # Long-polls until the lease ends (about 3 s) or the 5 s wait passes.
        st, _ = c.call("GET", f"/v1/allocations/{a['id']}?wait=5s&state=placed", timeout=60)
        stats.add("watch", st)


def scraper(port, stop, stats, rates):
    c = Conn(port)
    while not stop.wait(1.0):
        st, _ = c.call("GET", "/metrics")
        stats.add("metrics", st)
        st, _ = c.call("GET", "/v1/utilization")
        stats.add("utilization", st)


def churner(port, stop, stats, rates):
    c = Conn(port)
    i = 0
    while not stop.is_set():
        i += 1
        name = f"churn-{i % 50}"
        st, _ = c.call("POST", "/v1/nodes", {"name": name, "capacity": {"cpu": "8", "memory": "32Gi"}, "labels": {"soak": "yes"}})
        stats.add("node_add", st)
        for _ in range(3):
            st, _ = c.call("POST", f"/v1/nodes/{name}/heartbeat", {"usage": {"cpu": "1", "memory": "1Gi"}})
            stats.add("heartbeat", st)
        st, _ = c.call("DELETE", f"/v1/nodes/{name}")
        stats.add("node_remove", st)
        stop.wait(0.05)


def sample(pid):
    """RSS in KiB, open descriptors, and RSS by kind (RssAnon: the heap; RssFile, RssShmem: mappings)."""
    rss, parts = 0, {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                parts[line.split(":")[0][3:].lower() + "_kb"] = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), parts


def store_memory_kb(port):
    """allot_store_memory_bytes from /metrics (the heap SQLite holds: its page caches and statements), in KiB."""
    try:
        st, text = Conn(port, 10).call("GET", "/metrics")
    except OSError:
        return None
    if st != 200 or not isinstance(text, (bytes, str)):
        return None
    for line in (text.decode() if isinstance(text, bytes) else text).splitlines():
        if line.startswith("allot_store_memory_bytes "):
            return int(float(line.split()[1])) // 1024
    return None


def store_kb(data):
    """The size of the data directory (the SQLite file and its WAL)."""
    total = 0
    for root, _, files in os.walk(data):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total // 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--allot", default=os.path.join(REPO, "build", "allot"))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=8, help="minutes before the baseline (default 8)")
    ap.add_argument("--interval", type=float, default=5, help="seconds between samples (default 5)")
    ap.add_argument("--max-growth", type=float, default=0.05)
    ap.add_argument("--store-memory-mb", type=float, default=72,
                    help="the bound on the heap SQLite may hold (allot_store_memory_bytes; default 72)")
    ap.add_argument("--fd-slack", type=int, default=4)
    ap.add_argument("--allocators", type=int, default=4)
    ap.add_argument("--cycles", type=float, default=100,
                    help="allocate/renew/release cycles per second per allocator (0: as fast as it goes)")
    ap.add_argument("--acquires", type=float, default=300,
                    help="rate-limit acquires per second per acquirer (0: as fast as it goes)")
    ap.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    ap.add_argument("--json", help="write the summary and samples here")
    args = ap.parse_args()
    if not os.access(args.allot, os.X_OK):
        print(f"soak: no allot binary at {args.allot} (build it: make build, or pass --allot)", file=sys.stderr)
        return 2
    if args.warmup + 2 > args.minutes:
        print("soak: --minutes must leave two minutes after the warm-up", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="allot-soak-")
    cfg = os.path.join(work, "soak.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG)
    port = free_port()
    data = os.path.join(work, "data")
    log = open(os.path.join(work, "serve.log"), "wb")
    proc = subprocess.Popen([args.allot, "serve", "--dev", "--quiet", "--no-fsync", "--config", cfg, "--listen",
                             f"127.0.0.1:{port}", "--data", data, "--store", args.store], stdout=subprocess.DEVNULL, stderr=log)
    stop = threading.Event()
    threads = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if Conn(port, 1).call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                print("soak: the server did not start; its log is in " + work, file=sys.stderr)
                return 2
            time.sleep(0.05)
        st, _ = Conn(port).call("PUT", "/v1/ratelimits/soak/api", {"rate": "1000/s", "burst": 100})
        if st not in (200, 201):
            print(f"soak: defining the rate limit answered {st}", file=sys.stderr)
            return 2
        stats = Stats()
        specs = [(allocator, (i,)) for i in range(args.allocators)] + [(acquirer, ()), (acquirer, ()), (watcher, ()),
                                                                       (watcher, ()), (scraper, ()), (churner, ())]
        for fn, extra in specs:
            t = threading.Thread(target=fn, args=(port, stop, stats, args) + extra, daemon=True)
            t.start()
            threads.append(t)
        samples = []
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        while time.monotonic() < end:
            if proc.poll() is not None:
                print("soak: the server exited during the run; its log is in " + work, file=sys.stderr)
                return 1
            rss, fds, parts = sample(proc.pid)
            with stats.lock:
                done = sum(stats.counts.values())
            samples.append({"t": round(time.monotonic() - t0, 1), "rss_kb": rss, "fds": fds, "store_kb": store_kb(data),
                            "store_memory_kb": store_memory_kb(port), "requests": done, **parts})
            time.sleep(args.interval)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        time.sleep(1)
        end_rss, end_fds, _ = sample(proc.pid)
        warm = [s for s in samples if s["t"] >= args.warmup * 60]
        first = [s["rss_kb"] for s in warm if s["t"] < args.warmup * 60 + 60]
        last = [s["rss_kb"] for s in warm if s["t"] >= samples[-1]["t"] - 60]
        base, final = statistics.median(first), statistics.median(last)
        anon_first = statistics.median(s.get("anon_kb", 0) for s in warm if s["t"] < args.warmup * 60 + 60)
        anon_last = statistics.median(s.get("anon_kb", 0) for s in warm if s["t"] >= samples[-1]["t"] - 60)
        growth = (final - base) / base
        # The same without the heap SQLite holds (its page cache fills towards its bound, 64 MiB, as the
        # store's pages are touched): what the server itself holds.
        def beyond(window):
            return statistics.median(s["rss_kb"] - (s.get("store_memory_kb") or 0) for s in window)
        first_w = [s for s in warm if s["t"] < args.warmup * 60 + 60]
        last_w = [s for s in warm if s["t"] >= samples[-1]["t"] - 60]
        own_base, own_final = beyond(first_w), beyond(last_w)
        own_growth = (own_final - own_base) / own_base
        sqlite_first = statistics.median((s.get("store_memory_kb") or 0) for s in first_w)
        sqlite_last = statistics.median((s.get("store_memory_kb") or 0) for s in last_w)
        # The load achieved in the first and the last minute after the warm-up (requests per second).
        def rate(window):
            return round((window[-1]["requests"] - window[0]["requests"]) / max(1e-9, window[-1]["t"] - window[0]["t"]), 1)
        rate_first = rate([s for s in warm if s["t"] < args.warmup * 60 + 60])
        rate_last = rate([s for s in warm if s["t"] >= samples[-1]["t"] - 60])
        fd_base = warm[0]["fds"]
        elapsed = samples[-1]["t"] if samples else 0
        with stats.lock:
            counts, errors = dict(stats.counts), dict(stats.errors)
        # 409 (an allocation already ended when renewed or released: its 2 s lease) and 429 (the rate
        # limit saying no) are answers the load expects.
        unexpected = {k: v for k, v in errors.items() if not k.endswith((" 409", " 429"))}
        summary = {
            "minutes": args.minutes, "warmup_minutes": args.warmup, "requests": sum(counts.values()),
            "requests_per_s": round(sum(counts.values()) / max(1, elapsed), 1),
            "requests_per_s_after_warmup": rate_first, "requests_per_s_end": rate_last, "by_kind": counts,
            "expected_refusals": {k: v for k, v in errors.items() if k not in unexpected}, "errors": unexpected,
            "rss_mb_after_warmup": round(base / 1024, 1), "rss_mb_end": round(final / 1024, 1),
            "rss_mb_max": round(max(s["rss_kb"] for s in samples) / 1024, 1), "rss_growth": round(growth, 4),
            "fds_after_warmup": fd_base, "fds_end_under_load": warm[-1]["fds"], "fds_after_load": end_fds,
            "rss_mb_after_load": round(end_rss / 1024, 1),
            "store_memory_mb_after_warmup": round(sqlite_first / 1024, 1), "store_memory_mb_end": round(sqlite_last / 1024, 1),
            "rss_beyond_store_mb_after_warmup": round(own_base / 1024, 1), "rss_beyond_store_mb_end": round(own_final / 1024, 1),
            "rss_beyond_store_growth": round(own_growth, 4),
            "rss_anon_mb_after_warmup": round(anon_first / 1024, 1), "rss_anon_mb_end": round(anon_last / 1024, 1),
            "store_mb_after_warmup": round(warm[0]["store_kb"] / 1024, 1),
            "store_mb_end": round(samples[-1]["store_kb"] / 1024, 1),
        }
        summary["load_steady"] = rate_first > 0 and abs(rate_last - rate_first) <= 0.1 * rate_first
        # RSS must be flat but for the store's page cache, which must stay within its bound (64 MiB for the
        # committer's connection, SQLite's default 2 MiB for the reader's, and their statements).
        summary["store_memory_bounded"] = sqlite_last <= args.store_memory_mb * 1024
        summary["pass"] = (own_growth < args.max_growth and summary["store_memory_bounded"] and
                           end_fds <= fd_base + args.fd_slack and not unexpected and summary["load_steady"])
        print(json.dumps(summary, indent=2))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"summary": summary, "samples": samples}, f, indent=1)
        return 0 if summary["pass"] else 1
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
