#!/usr/bin/env python3
"""Benchmarks of the Python package `allot` (docs/python.md), each beside a baseline in the same run:

1. allot.guard.can_proceed() in process (p50, p99) vs psutil doing the same checks (cpu, memory, disk on
   ".", each against its limit): with the guard's default 10 ms snapshot reuse and with every call probing
   afresh (max_snapshot_age=0);
2. sync Client allocate+release pairs/s over one keep-alive connection vs raw http.client sending the same
   two requests over one connection;
3. asyncio ResourceManager with T tasks (default 50) vs raw http.client with T threads (one connection each).

Beside each rate it prints the client's own CPU time per pair (user + system of this process): on a busy
machine the rates follow the load, the CPU per pair much less, and 1e6 / (CPU per pair) is the rate the
client could reach with a core of its own.

It starts its own `allot serve --dev` (demo cluster, no fsync) on a free port and stops it by PID.

Usage: PYTHONPATH=build/python /usr/bin/python3 scripts/bench-python.py [--allot build/allot] [--seconds 3] [--tasks 50]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, List, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def percentile(xs: List[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def time_calls(f: Callable[[], object], n: int) -> List[float]:
    out = []
    pc = time.perf_counter_ns
    for _ in range(n):
        t = pc()
        f()
        out.append((pc() - t) / 1000.0)
    return out


def bench_guard(n: int) -> None:
    import allot.guard as g

    # Seed 004's level-1 warnings are still made (their cost is in the figures) but not printed.
    logging.getLogger("allot.guard").addHandler(logging.NullHandler())

    print(f"== can_proceed() in process, {n} calls each (microseconds)")
    g.configure()
    g.can_proceed()
    lat = time_calls(g.can_proceed, n)
    print(f"allot.guard.can_proceed()            p50 {percentile(lat, .5):8.1f}  p99 {percentile(lat, .99):8.1f}  "
          f"(snapshot reused up to 10 ms)")
    g.configure(max_snapshot_age=0)
    g.can_proceed()
    lat = time_calls(g.can_proceed, n)
    print(f"allot.guard.can_proceed() fresh      p50 {percentile(lat, .5):8.1f}  p99 {percentile(lat, .99):8.1f}  "
          f"(every call reads /proc, statvfs)")
    g.configure()
    try:
        import psutil
    except ImportError:
        print("psutil                               not installed (python3-psutil)")
        return
    lim = g.LIMITS

    def ps_check() -> bool:
        # The same checks: cpu utilisation since the last call, memory used, disk used on ".", each below its max.
        cpu = psutil.cpu_percent(interval=None)
        mem = psutil.virtual_memory()
        disk = psutil.disk_usage(".")
        return cpu < lim.cpu_max_percent and mem.percent < lim.memory_max_percent and disk.percent < lim.disk_max_percent

    ps_check()
    lat = time_calls(ps_check, n)
    print(f"psutil (cpu_percent, virtual_memory, disk_usage)  p50 {percentile(lat, .5):8.1f}  p99 {percentile(lat, .99):8.1f}")


class DemoServer:
    def __init__(self, allot: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="allot-bench-py-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([allot, "serve", "--dev", "--config", os.path.join(REPO, "examples/server/demo.yaml"),
                                      "--listen", f"127.0.0.1:{self.port}", "--data", os.path.join(self.dir, "data"),
                                      "--quiet", "--no-fsync"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(3000):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("allot serve did not start")

    def stop(self) -> None:
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


BODY = {"tenant": "bench/bench_01", "workflow": "bench", "priority": 2, "requests": {"cpu": "10m", "memory": "1048576"}}


def raw_pair(conn: http.client.HTTPConnection, i: int) -> None:
    body = dict(BODY, idempotency_key=f"raw-{threading.get_ident()}-{i}")
    conn.request("POST", "/v1/allocations", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    a = json.loads(r.read())
    assert r.status == 201, a
    conn.request("DELETE", f"/v1/allocations/{a['id']}")
    r = conn.getresponse()
    r.read()
    assert r.status == 200


def run_for(seconds: float, f: Callable[[int], None]) -> Tuple[float, float]:
    """Pairs per second, and this process's CPU time per pair in microseconds (user + system, all threads)."""
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        f(n)
        n += 1
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / max(1, n) * 1e6


def bench_sync(url: str, port: int, seconds: float) -> None:
    from allot import Client, ResourceRequest

    print(f"== sync allocate+release pairs/s over one keep-alive connection ({seconds:g} s each)")
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw, raw_cpu = run_for(seconds, lambda i: raw_pair(conn, i))
    c = Client(url)
    request = ResourceRequest(agent_id="bench_01", workflow_id="bench", resources={"cpu": "10m", "memory": "1Mi"})

    def pair(_: int) -> None:
        r = c.allocate_resources(request)
        assert r.success
        c.release(r)

    ours, ours_cpu = run_for(seconds, pair)
    print(f"raw http.client                      {raw:8.0f} pairs/s  client CPU {raw_cpu:6.0f} us/pair")
    print(f"allot.Client                         {ours:8.0f} pairs/s  client CPU {ours_cpu:6.0f} us/pair  "
          f"({ours / raw * 100:.0f} % of raw)")


def bench_async(url: str, port: int, seconds: float, tasks: int) -> None:
    from allot import ResourceManager, ResourceRequest

    print(f"== concurrent allocate+release pairs/s, {tasks} workers ({seconds:g} s each)")
    counts = [0] * tasks
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        i = 0
        while time.perf_counter() < stop:
            raw_pair(conn, i)
            i += 1
        counts[k] = i

    t0, c0 = time.perf_counter(), time.process_time()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(tasks)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    raw = sum(counts) / (time.perf_counter() - t0)
    raw_cpu = (time.process_time() - c0) / max(1, sum(counts)) * 1e6

    async def main() -> Tuple[float, float]:
        m = ResourceManager(url, max_connections=tasks)
        request = ResourceRequest(agent_id="bench_01", workflow_id="bench", resources={"cpu": "10m", "memory": "1Mi"})
        done = [0]
        end = asyncio.get_running_loop().time() + seconds

        async def one() -> None:
            loop = asyncio.get_running_loop()
            while loop.time() < end:
                r = await m.allocate_resources(request)
                assert r.success
                await m.release(r)
                done[0] += 1

        t, c = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one() for _ in range(tasks)))
        rate = done[0] / (time.perf_counter() - t)
        cpu = (time.process_time() - c) / max(1, done[0]) * 1e6
        await m.close()
        return rate, cpu

    ours, ours_cpu = asyncio.run(main())
    print(f"raw http.client, {tasks} threads        {raw:8.0f} pairs/s  client CPU {raw_cpu:6.0f} us/pair")
    print(f"allot.ResourceManager, {tasks} tasks    {ours:8.0f} pairs/s  client CPU {ours_cpu:6.0f} us/pair  "
          f"({ours / raw * 100:.0f} % of raw)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--allot", default=os.path.join(REPO, "build", "allot"))
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--calls", type=int, default=20000)
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    bench_guard(a.calls)
    s = DemoServer(a.allot)
    try:
        bench_sync(s.url, s.port, a.seconds)
        bench_async(s.url, s.port, a.seconds, a.tasks)
    finally:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
