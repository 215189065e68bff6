"""A history of operations against replicated `allot serve` and a checker of it, in the manner of Jepsen.

The history is a list of events (one JSON object per line in a file). Each client operation is an
``invoke`` event and, later, one completion by the same ``process``: ``ok`` (acknowledged), ``fail``
(the server refused it: it did not happen) or ``info`` (unknown: a timeout or a broken connection, it may
or may not have happened). Fields: ``process``, ``type``, ``f`` (alloc | renew | release | read | final),
``time`` (Unix seconds, the same clock the servers use for leases) and ``value``:

- fault: what the nemesis did (notes for the reader; the checker skips them)

- alloc: invoke {key, cpu, duration}; ok {key, id, node, state, revision}; fail/info {key, error}
- renew: invoke {id, duration}; ok {id, node, revision}; fail {id, status, error}; info {id, error}
- release: invoke {id}; ok {id, revision}; fail/info {id, error}
- read (a sample of one replica, an ``ok`` event alone): {replica, revision, nodes: {name: [allocated cpu,
  capacity cpu]}, allocations: {id: node} (placed ones)}
- final (after recovery, an ``ok`` event alone): like read, plus active: {id: state} (placed and queued
  ones), keys: {id: idempotency key} and cpu: {id: millicores}; one per replica, once every replica has
  caught up with the leader.

The model is per-node capacity plus each allocation's life: an idempotency key makes at most one
allocation, which sits on one node for its whole life, from its acknowledgement until it is released
(an acknowledged or unknown release) or its lease runs out (as late as the last renewal that may have
happened allows). check() returns the violations found (empty: the history is consistent):

- capacity: in any sample of any replica (and the final states), a node holds more than its capacity.
- double placement: one key acknowledged with two ids, or two allocations with one key in a final state;
  one id seen on two nodes.
- lost: an acknowledged allocation is missing from the final state although no release of it was invoked
  and its lease cannot have run out; or a renewal found it gone (404/409) under the same conditions.
- resurrected: after an acknowledged release, a sample whose revision is at least the release's shows it
  placed, the final state holds it, or a renewal of it succeeds.
- diverged: the final states of the replicas differ, or a final state's node totals differ from the sum of
  its allocations.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Tuple

# Lease ends are decided by the leader's timer (every 250 ms) and, after a failover, by the new leader's
# first pass: a lease may outlive its end by this much (seconds).
EXPIRY_SLACK = 3.0


def load(path: str) -> List[Dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Op:
    """An operation: its invoke event and its completion (None while unanswered)."""

    def __init__(self, invoke: Dict[str, Any]) -> None:
        self.invoke = invoke
        self.done: Optional[Dict[str, Any]] = None

    @property
    def f(self) -> str:
        return self.invoke["f"]

    @property
    def type(self) -> str:
        return self.done["type"] if self.done else "info"

    @property
    def start(self) -> float:
        return float(self.invoke["time"])

    @property
    def end(self) -> float:
        return float(self.done["time"]) if self.done else float("inf")

    def value(self, key: str, default: Any = None) -> Any:
        if self.done and key in self.done.get("value", {}):
            return self.done["value"][key]
        return self.invoke.get("value", {}).get(key, default)


def pair(events: Iterable[Dict[str, Any]]) -> Tuple[List[Op], List[Dict[str, Any]], List[Dict[str, Any]]]:
    """(operations, samples, finals): completions paired with their process's open invoke."""
    ops: List[Op] = []
    open_ops: Dict[Any, Op] = {}
    samples, finals = [], []
    for e in events:
        if e["f"] == "fault":
            continue  # the nemesis' own notes
        if e["f"] == "read":
            samples.append(e)
        elif e["f"] == "final":
            finals.append(e)
        elif e["type"] == "invoke":
            op = Op(e)
            ops.append(op)
            open_ops[e["process"]] = op
        else:
            op = open_ops.pop(e["process"], None)
            if op is None:
                raise ValueError(f"completion without an invoke: {e}")
            op.done = e
    return ops, samples, finals


def check(events: List[Dict[str, Any]]) -> List[str]:
    ops, samples, finals = pair(events)
    bad: List[str] = []
    _capacity(samples + finals, bad)
    _placement(ops, samples, finals, bad)
    _lifetimes(ops, samples, finals, bad)
    _agreement(finals, bad)
    return bad


def _capacity(states: List[Dict[str, Any]], bad: List[str]) -> None:
    for s in states:
        v = s["value"]
        for node, (allocated, capacity) in v.get("nodes", {}).items():
            if allocated > capacity:
                bad.append(f"capacity: {v.get('replica')} at revision {v.get('revision')} has {node} at "
                           f"{allocated}m of {capacity}m cpu")


def _placement(ops: List[Op], samples: List[Dict[str, Any]], finals: List[Dict[str, Any]], bad: List[str]) -> None:
    ids_of_key: Dict[str, set] = {}
    node_of: Dict[str, str] = {}
    where_seen: Dict[str, str] = {}

    def seen(alloc_id: str, node: Optional[str], where: str) -> None:
        if not node:
            return
        if alloc_id in node_of and node_of[alloc_id] != node:
            bad.append(f"double placement: {alloc_id} on {node_of[alloc_id]} ({where_seen[alloc_id]}) and on {node} ({where})")
            return
        node_of.setdefault(alloc_id, node)
        where_seen.setdefault(alloc_id, where)

    for op in ops:
        if op.type != "ok":
            continue
        if op.f == "alloc":
            ids_of_key.setdefault(op.value("key"), set()).add(op.value("id"))
            if op.value("state") == "placed":
                seen(op.value("id"), op.value("node"), f"alloc ack at {op.end:.3f}")
        elif op.f == "renew":
            seen(op.value("id"), op.value("node"), f"renew ack at {op.end:.3f}")
    for key, ids in ids_of_key.items():
        if len(ids) > 1:
            bad.append(f"double placement: key {key} acknowledged as {sorted(ids)}")
    for s in samples + finals:
        v = s["value"]
        for alloc_id, node in v.get("allocations", {}).items():
            seen(alloc_id, node, f"{s['f']} of {v.get('replica')} at revision {v.get('revision')}")
    for f in finals:
        by_key: Dict[str, List[str]] = {}
        for alloc_id, key in f["value"].get("keys", {}).items():
            by_key.setdefault(key, []).append(alloc_id)
        for key, ids in by_key.items():
            if len(ids) > 1:
                bad.append(f"double placement: key {key} holds {sorted(ids)} in the final state of {f['value'].get('replica')}")


def _lifetimes(ops: List[Op], samples: List[Dict[str, Any]], finals: List[Dict[str, Any]], bad: List[str]) -> None:
    by_id: Dict[str, List[Op]] = {}
    acked: Dict[str, Op] = {}
    for op in ops:
        alloc_id = op.value("id")
        if alloc_id is None:
            continue
        by_id.setdefault(alloc_id, []).append(op)
        if op.f == "alloc" and op.type == "ok":
            acked.setdefault(alloc_id, op)
    for alloc_id, alloc in acked.items():
        life = [o for o in by_id.get(alloc_id, []) if o.f in ("renew", "release")]
        releases = [o for o in life if o.f == "release" and o.type in ("ok", "info")]
        first_release = min((o.start for o in releases), default=float("inf"))
        duration = float(alloc.invoke["value"].get("duration") or 0)

        def must_hold(t: float, slack: float = 0.0) -> bool:
            """Whether the allocation must still exist at time t: no release began before, and its lease
            cannot have run out (its end passed by more than `slack`)."""
            if t >= first_release:
                return False
            if duration <= 0:
                return True
            # The lease surely lasts until the last acknowledged renewal (or the allocation) began + duration.
            starts = [alloc.start] + [o.start for o in life if o.f == "renew" and o.type == "ok" and o.end <= t]
            return t - slack < max(starts) + duration

        # Renewals that found it gone.
        for o in life:
            if o.f == "renew" and o.type == "fail" and o.value("status") in (404, 409) and must_hold(o.start):
                bad.append(f"lost: renewing acknowledged {alloc_id} at {o.start:.3f} found it gone ({o.value('error')})")
        for f in finals:
            v = f["value"]
            t = float(f["time"])
            if alloc_id not in v.get("active", v.get("allocations", {})) and must_hold(t, EXPIRY_SLACK):
                bad.append(f"lost: acknowledged {alloc_id} (key {alloc.value('key')}) is missing from the final "
                           f"state of {v.get('replica')}")
    # Released ones stay released.
    for alloc_id, life in by_id.items():
        for rel in life:
            if rel.f != "release" or rel.type != "ok":
                continue
            rev = rel.value("revision")
            for s in samples:
                v = s["value"]
                if rev is not None and v.get("revision") is not None and v["revision"] >= rev and alloc_id in v.get("allocations", {}):
                    bad.append(f"resurrected: {alloc_id} released at revision {rev} is placed in a sample of "
                               f"{v.get('replica')} at revision {v['revision']}")
            for f in finals:
                if alloc_id in f["value"].get("active", f["value"].get("allocations", {})):
                    bad.append(f"resurrected: {alloc_id} released at {rel.end:.3f} is in the final state of {f['value'].get('replica')}")
            for o in life:
                if o.f == "renew" and o.type == "ok" and o.start > rel.end:
                    bad.append(f"resurrected: {alloc_id} released at {rel.end:.3f} was renewed at {o.start:.3f}")


def _agreement(finals: List[Dict[str, Any]], bad: List[str]) -> None:
    for f in finals:
        v = f["value"]
        sums: Dict[str, int] = {}
        for alloc_id, node in v.get("allocations", {}).items():
            sums[node] = sums.get(node, 0) + int(v.get("cpu", {}).get(alloc_id, 0))
        if "cpu" in v:
            for node, (allocated, _) in v.get("nodes", {}).items():
                if allocated != sums.get(node, 0):
                    bad.append(f"diverged: {v.get('replica')}'s {node} has {allocated}m allocated, its allocations sum "
                               f"to {sums.get(node, 0)}m")
    for a, b in zip(finals, finals[1:]):
        va, vb = a["value"], b["value"]
        for what in ("active", "nodes"):
            if va.get(what) != vb.get(what):
                only_a = sorted(set(va.get(what, {})) ^ set(vb.get(what, {})))[:5]
                bad.append(f"diverged: the final {what} of {va.get('replica')} and {vb.get('replica')} differ "
                           f"(e.g. {only_a or 'in their values'})")
