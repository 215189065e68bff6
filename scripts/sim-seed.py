#!/usr/bin/env python3
"""The `allot sim` load benchmark's two helpers (scripts/bench-sim-load.sh):

  gen NODES REQUESTS OUT.json   a seeded synthetic JSON scenario: NODES nodes (32-64 cpu, 128-256Gi, a
                                zone label), REQUESTS submits with durations, arriving so that the cluster
                                runs about 80 % full; one node or event a line
  seed SCENARIO.json            the same scenario through seed 001's own placement algorithm, in Python:
                                `bin_packing_allocation` (First Fit Decreasing, best-fit node) run at each
                                arrival time over the pending requests, leases ending after their duration.
                                Prints one JSON line: {"placed": N, "pending": M, "seconds": S}.

Seed 001 (../shared/seeds/001_*.txt, "Bin Packing Optimization") gives bin_packing_allocation and names
find_best_fit_node / update_node_capacity / resource_demand without defining them; they are defined here
the plain way: a request's demand is its per-resource amounts, the sort key its sum of shares of the
cluster's total, the best fit the feasible node left with the least free capacity (same shares).
"""

from __future__ import annotations

import heapq
import json
import random
import sys
import time

_SUFFIX = {"m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2.0**10, "Mi": 2.0**20,
           "Gi": 2.0**30, "Ti": 2.0**40}


def quantity(v) -> float:
    """A Kubernetes quantity ("500m", "2", "1Gi") as a float."""
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v)
    for suf in ("Ki", "Mi", "Gi", "Ti", "m", "k", "K", "M", "G", "T"):
        if s.endswith(suf):
            return float(s[: -len(suf)]) * _SUFFIX[suf]
    return float(s)


def gen(nodes: int, requests: int, out: str) -> None:
    rnd = random.Random(15)
    sc = {"name": f"bench {nodes} nodes {requests} requests", "policy": {"scoring": "most-allocated"},
          "nodes": [], "events": []}
    total_cpu = 0
    for i in range(nodes):
        cpu = rnd.choice([32, 48, 64])
        total_cpu += cpu
        sc["nodes"].append({"name": f"node-{i:04d}",
                            "capacity": {"cpu": str(cpu), "memory": f"{cpu * 4}Gi"},
                            "labels": {"zone": f"zone-{i % 3}"}})
    # Mean request 2.75 cpu for a mean 60 s: arrivals at 80 % of the cluster's cpu.
    rate = 0.8 * total_cpu / (2.75 * 60.0)
    t = 0.0
    for i in range(requests):
        t += rnd.expovariate(rate)
        cpu = rnd.choice(["500m", "1", "2", "4", "6"])
        mem = rnd.choice(["512Mi", "1Gi", "2Gi", "4Gi", "8Gi"])
        sub = {"id": f"req-{i:07d}", "tenant": f"org/team-{i % 7}", "priority": rnd.choice(["low", "normal", "high"]),
               "requests": {"cpu": cpu, "memory": mem}, "duration": rnd.randint(20, 100)}
        sc["events"].append({"at": round(t, 3), "submit": sub})
    with open(out, "w") as f:
        f.write("{\n")
        for k in ("name", "policy"):
            f.write(f'  "{k}": {json.dumps(sc[k])},\n')
        for k in ("nodes", "events"):
            f.write(f'  "{k}": [\n')
            f.write(",\n".join("    " + json.dumps(x) for x in sc[k]))
            f.write("\n  ]" + (",\n" if k == "nodes" else "\n"))
        f.write("}\n")


# --- seed 001's algorithm, as written there, with the helpers it names ---------------------------------

class Request:
    def __init__(self, rid: str, demand: dict, key: float, duration: float, priority: int):
        self.id = rid
        self.resource_demand = demand
        self.key = key
        self.duration = duration
        self.priority = priority


class Node:
    def __init__(self, name: str, capacity: dict, scale: dict):
        self.name = name
        self.free = dict(capacity)
        self.scale = scale


def fits(request: Request, node: Node) -> bool:
    free = node.free
    for r, v in request.resource_demand.items():
        if free.get(r, 0.0) < v:
            return False
    return True


def find_best_fit_node(request: Request, nodes: list):
    best, best_left = None, None
    for node in nodes:
        if not fits(request, node):
            continue
        left = 0.0
        for r, v in node.free.items():
            left += (v - request.resource_demand.get(r, 0.0)) * node.scale[r]
        if best is None or left < best_left:
            best, best_left = node, left
    return best


def update_node_capacity(node: Node, demand: dict, sign: float = -1.0) -> None:
    for r, v in demand.items():
        node.free[r] = node.free.get(r, 0.0) + sign * v


def bin_packing_allocation(requests, nodes):
    """
    Optimize resource placement to minimize waste
    """
    # First Fit Decreasing algorithm
    sorted_requests = sorted(requests, key=lambda x: x.key, reverse=True)
    placement = {}

    for request in sorted_requests:
        best_node = find_best_fit_node(request, nodes)
        if best_node:
            placement[request.id] = best_node
            update_node_capacity(best_node, request.resource_demand)

    return placement


def seed(path: str) -> None:
    t0 = time.perf_counter()
    with open(path) as f:
        sc = json.load(f)
    totals: dict = {}
    caps = []
    for n in sc.get("nodes", []):
        cap = {r: quantity(v) for r, v in n["capacity"].items()}
        caps.append((n["name"], cap))
        for r, v in cap.items():
            totals[r] = totals.get(r, 0.0) + v
    scale = {r: (1.0 / v if v else 0.0) for r, v in totals.items()}
    nodes = [Node(name, cap, scale) for name, cap in caps]
    prio = {"background": 0, "low": 1, "normal": 2, "medium": 2, "high": 3, "critical": 4}
    arrivals = []
    for e in sc.get("events", []):
        s = e.get("submit")
        if s is None:
            continue
        demand = {r: quantity(v) for r, v in s["requests"].items()}
        key = sum(v * scale.get(r, 0.0) for r, v in demand.items())
        p = s.get("priority", "normal")
        arrivals.append((float(e["at"]), Request(s["id"], demand, key, float(s.get("duration", 0)) or float("inf"),
                                                 prio.get(p, 2) if isinstance(p, str) else int(p))))
    pending: list = []
    running: list = []  # heap of (end, seq, node, demand)
    placed = 0
    seq = 0
    i = 0
    while i < len(arrivals) or (pending and running):
        t = arrivals[i][0] if i < len(arrivals) else running[0][0]
        while running and running[0][0] <= t:
            _, _, node, demand = heapq.heappop(running)
            update_node_capacity(node, demand, +1.0)
        while i < len(arrivals) and arrivals[i][0] == t:
            pending.append(arrivals[i][1])
            i += 1
        placement = bin_packing_allocation(pending, nodes)
        if placement:
            still = []
            for r in pending:
                node = placement.get(r.id)
                if node is None:
                    still.append(r)
                    continue
                placed += 1
                seq += 1
                heapq.heappush(running, (t + r.duration, seq, node, r.resource_demand))
            pending = still
    print(json.dumps({"placed": placed, "pending": len(pending), "seconds": round(time.perf_counter() - t0, 4)}))


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "seed":
        seed(sys.argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
