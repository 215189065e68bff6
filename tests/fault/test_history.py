"""The history checker on hand-made histories: a consistent one passes, and each kind of violation is
found (these are histories a broken server could produce)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from history import check  # noqa: E402


class H:
    """Builds a history: each call appends events; times are seconds from 1000."""

    def __init__(self) -> None:
        self.events = []

    def op(self, process, f, t0, t1, kind, invoke, done=None):
        self.events.append({"process": process, "type": "invoke", "f": f, "time": 1000 + t0, "value": invoke})
        if kind is not None:
            self.events.append({"process": process, "type": kind, "f": f, "time": 1000 + t1, "value": done or invoke})
        return self

    def alloc(self, p, t0, t1, key, alloc_id, node="n1", kind="ok", duration=0, revision=10):
        return self.op(p, "alloc", t0, t1, kind, {"key": key, "cpu": 500, "duration": duration},
                       {"key": key, "id": alloc_id, "node": node, "state": "placed", "revision": revision})

    def renew(self, p, t0, t1, alloc_id, kind="ok", status=None, node="n1"):
        done = {"id": alloc_id, "node": node} if kind == "ok" else {"id": alloc_id, "status": status, "error": "gone"}
        return self.op(p, "renew", t0, t1, kind, {"id": alloc_id}, done)

    def release(self, p, t0, t1, alloc_id, kind="ok", revision=20):
        return self.op(p, "release", t0, t1, kind, {"id": alloc_id}, {"id": alloc_id, "revision": revision})

    def read(self, t, replica, revision, allocations, nodes=None):
        self.events.append({"process": "sampler", "type": "ok", "f": "read", "time": 1000 + t,
                            "value": {"replica": replica, "revision": revision, "allocations": allocations,
                                      "nodes": nodes or {}}})
        return self

    def final(self, t, replica, active, nodes=None, keys=None, cpu=None):
        self.events.append({"process": "checker", "type": "ok", "f": "final", "time": 1000 + t,
                            "value": {"replica": replica, "revision": 99, "allocations": dict(active),
                                      "active": {k: "placed" for k in active}, "keys": keys or {},
                                      "nodes": nodes or {}, "cpu": cpu or {k: 500 for k in active}}})
        return self


def consistent() -> H:
    h = H()
    h.alloc(1, 0, 1, "k1", "a1", "n1")
    h.alloc(2, 0, 1, "k2", "a2", "n2")
    h.release(1, 2, 3, "a1", revision=20)
    h.read(4, "r2", 21, {"a2": "n2"}, {"n1": [0, 1000], "n2": [500, 1000]})
    h.read(2.5, "r3", 15, {"a1": "n1", "a2": "n2"}, {"n1": [500, 1000], "n2": [500, 1000]})  # stale, allowed
    nodes = {"n1": [0, 1000], "n2": [500, 1000]}
    h.final(10, "r1", {"a2": "n2"}, nodes, {"a2": "k2"})
    h.final(10, "r2", {"a2": "n2"}, nodes, {"a2": "k2"})
    return h


def test_a_consistent_history_passes():
    assert check(consistent().events) == []


def test_a_lost_acknowledged_allocation_is_found():
    h = H().alloc(1, 0, 1, "k1", "a1").final(10, "r1", {})
    bad = check(h.events)
    assert len(bad) == 1 and bad[0].startswith("lost:") and "a1" in bad[0]


def test_an_unanswered_release_allows_it_to_be_gone():
    h = H().alloc(1, 0, 1, "k1", "a1").release(1, 2, 3, "a1", kind="info").final(10, "r1", {})
    assert check(h.events) == []


def test_a_release_begun_just_before_the_end_allows_it_to_be_gone():
    h = H().alloc(1, 0, 1, "k1", "a1", duration=30).release(1, 9, 9.5, "a1").final(10, "r1", {})
    assert check(h.events) == []


def test_an_unanswered_allocation_may_or_may_not_exist():
    h = H().alloc(1, 0, 1, "k1", "a1", kind="info").final(10, "r1", {})
    assert check(h.events) == []
    h = H().alloc(1, 0, 1, "k1", "a1", kind="info").final(10, "r1", {"a1": "n1"}, keys={"a1": "k1"})
    assert check(h.events) == []


def test_a_lease_may_run_out_but_not_before_its_end():
    # A 5 s lease acknowledged at 1: gone at 20 is allowed; gone at 4 (with slack: 7) is a loss.
    assert check(H().alloc(1, 0, 1, "k1", "a1", duration=5).final(20, "r1", {}).events) == []
    bad = check(H().alloc(1, 0, 1, "k1", "a1", duration=30).final(20, "r1", {}).events)
    assert len(bad) == 1 and bad[0].startswith("lost:")
    # A renewal acknowledged at 12 (begun at 11) carries it to 11 + 30.
    bad = check(H().alloc(1, 0, 1, "k1", "a1", duration=30).renew(1, 11, 12, "a1").final(35, "r1", {}).events)
    assert len(bad) == 1 and bad[0].startswith("lost:")
    assert check(H().alloc(1, 0, 1, "k1", "a1", duration=30).renew(1, 11, 12, "a1").final(45, "r1", {}).events) == []


def test_a_renewal_that_finds_a_live_allocation_gone_is_a_loss():
    h = H().alloc(1, 0, 1, "k1", "a1", duration=30).renew(1, 5, 6, "a1", kind="fail", status=404)
    bad = check(h.events)
    assert len(bad) == 1 and bad[0].startswith("lost:") and "renewing" in bad[0]


def test_over_capacity_in_any_sample_is_found():
    h = consistent().read(5, "r3", 30, {"a2": "n2"}, {"n2": [1500, 1000]})
    bad = check(h.events)
    assert len(bad) == 1 and bad[0].startswith("capacity:") and "r3" in bad[0]


def test_one_key_acknowledged_with_two_ids_is_double_placement():
    h = H().alloc(1, 0, 1, "k1", "a1").alloc(2, 0, 1, "k1", "a9").final(10, "r1", {"a1": "n1", "a9": "n1"})
    bad = check(h.events)
    assert any(b.startswith("double placement: key k1 acknowledged") for b in bad)


def test_one_id_on_two_nodes_is_double_placement():
    h = H().alloc(1, 0, 1, "k1", "a1", "n1").read(3, "r2", 50, {"a1": "n2"}).final(10, "r1", {"a1": "n1"})
    bad = check(h.events)
    assert len(bad) == 1 and bad[0].startswith("double placement: a1 on n1")


def test_two_allocations_of_one_key_in_a_final_state_is_double_placement():
    h = H().alloc(1, 0, 1, "k1", "a1").final(10, "r1", {"a1": "n1", "a7": "n2"}, keys={"a1": "k1", "a7": "k1"})
    bad = check(h.events)
    assert len(bad) == 1 and "holds ['a1', 'a7']" in bad[0]


def test_a_released_allocation_seen_again_at_a_later_revision_is_resurrected():
    h = H().alloc(1, 0, 1, "k1", "a1").release(1, 2, 3, "a1", revision=20)
    assert check(h.read(4, "r2", 19, {"a1": "n1"}).final(10, "r1", {}).events) == []  # stale standby: fine
    h = H().alloc(1, 0, 1, "k1", "a1").release(1, 2, 3, "a1", revision=20).read(4, "r2", 20, {"a1": "n1"}).final(10, "r1", {})
    bad = check(h.events)
    assert len(bad) == 1 and bad[0].startswith("resurrected:") and "r2" in bad[0]


def test_a_released_allocation_in_the_final_state_or_renewed_later_is_resurrected():
    h = H().alloc(1, 0, 1, "k1", "a1").release(1, 2, 3, "a1").final(10, "r1", {"a1": "n1"}, keys={"a1": "k1"})
    assert any(b.startswith("resurrected:") and "final state" in b for b in check(h.events))
    h = H().alloc(1, 0, 1, "k1", "a1").release(1, 2, 3, "a1").renew(2, 4, 5, "a1").final(10, "r1", {})
    assert any(b.startswith("resurrected:") and "renewed" in b for b in check(h.events))


def test_replicas_that_end_in_different_states_diverge():
    nodes = {"n1": [500, 1000]}
    h = H().alloc(1, 0, 1, "k1", "a1").final(10, "r1", {"a1": "n1"}, nodes).final(10, "r2", {"a1": "n1", "a5": "n1"}, {"n1": [1000, 1000]})
    bad = check(h.events)
    assert any(b.startswith("diverged: the final active") for b in bad)


def test_node_totals_that_do_not_match_the_allocations_diverge():
    h = H().alloc(1, 0, 1, "k1", "a1").final(10, "r1", {"a1": "n1"}, {"n1": [1000, 2000]})
    bad = check(h.events)
    assert len(bad) == 1 and bad[0].startswith("diverged: r1's n1 has 1000m")
