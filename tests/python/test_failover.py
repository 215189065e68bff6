"""The client given several replicas: redirects, fail-over and its limits (allot._http), against HTTP
servers on loopback that play replicas (one redirects, one is not ready, one never answers, one is not
there), then against real `allot serve --store etcd` replicas with a leader killed by SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Tuple

import pytest

from allot import AllotConnectionError, AllotError, Client, ResourceManager, ResourceRequest
from allot._http import AsyncTransport, SyncTransport

from conftest import free_port

Answer = Tuple[int, dict, dict]


class Replica:
    """A loopback HTTP server answering every request with `answer(method, path, body)`."""

    def __init__(self, answer: Callable[[str, str, bytes], Answer]) -> None:
        self.seen: List[Tuple[str, str, bytes]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # noqa: D401 - quiet
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.seen.append((self.command, self.path, body))
                status, obj, headers = answer(self.command, self.path, body)
                raw = json.dumps(obj).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def echo(method: str, path: str, body: bytes) -> Answer:
    return 200, {"method": method, "path": path, "body": body.decode()}, {}


def not_ready(method: str, path: str, body: bytes) -> Answer:
    return 503, {"error": {"code": "unavailable", "message": "this replica is a standby and no replica leads now"}}, {}


def nobody() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def replicas():
    made: List[Replica] = []

    def make(answer):
        r = Replica(answer)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def test_a_request_nothing_accepted_goes_to_the_next_replica_whatever_it_is(replicas):
    b = replicas(echo)
    t = SyncTransport(nobody() + "," + b.url, None, 2.0, failover_timeout=3)
    status, body, _ = t.request("POST", "/v1/allocations", {"requests": {"cpu": 1}}, retry=False)
    assert status == 200 and body["method"] == "POST" and json.loads(body["body"]) == {"requests": {"cpu": 1}}
    assert t.answered_by == b.url


def test_a_307_is_followed_with_the_same_method_and_body(replicas):
    leader = replicas(lambda m, p, b: (201, {"method": m, "path": p, "body": b.decode()}, {}))
    standby = replicas(lambda m, p, b: (307, {"redirect": {}}, {"Location": leader.url + p}))
    for t in (SyncTransport(standby.url, "tok", 2.0), AsyncTransport(standby.url, "tok", 2.0)):
        ans = t.request("POST", "/v1/allocations?x=1", {"k": 1}) if isinstance(t, SyncTransport) else \
            asyncio.run(t.request("POST", "/v1/allocations?x=1", {"k": 1}))
        status, body, _ = ans
        assert status == 201
        assert body == {"method": "POST", "path": "/v1/allocations?x=1", "body": '{"k":1}'}
        assert t.answered_by == leader.url
        assert t.trail == [f"{standby.url}: HTTP 307 to {leader.url}/v1/allocations?x=1"]


def test_redirects_are_bounded(replicas):
    loop = replicas(lambda m, p, b: (308, {}, {"Location": p}))
    t = SyncTransport(loop.url, None, 2.0)
    with pytest.raises(AllotConnectionError, match="more than 5 redirects"):
        t.request("GET", "/a")
    assert len(loop.seen) == 6


def test_a_503_unavailable_moves_only_a_request_safe_to_repeat(replicas):
    a, b = replicas(not_ready), replicas(echo)
    t = SyncTransport(a.url + "," + b.url, None, 2.0, failover_timeout=3)
    status, _, _ = t.request("POST", "/v1/allocations", {}, retry=False)
    assert status == 503 and b.seen == []
    status, _, _ = t.request("POST", "/v1/allocations", {"idempotency_key": "k"}, retry=True)
    assert status == 200 and t.answered_by == b.url
    assert t.trail == [f"{a.url}: HTTP 503 (not ready)"]


def test_a_deliberate_503_is_the_answer(replicas):
    a = replicas(lambda m, p, b: (503, {"error": {"code": "degraded", "message": "x"}}, {}))
    b = replicas(echo)
    t = SyncTransport(a.url + "," + b.url, None, 2.0)
    assert t.request("GET", "/v1/nodes", retry=True)[0] == 503
    assert b.seen == []


def test_a_timeout_after_sending_moves_only_a_request_safe_to_repeat(replicas):
    frozen = replicas(lambda m, p, b: (time.sleep(1.5), (200, {}, {}))[1])
    b = replicas(echo)
    t = SyncTransport(frozen.url + "," + b.url, None, 0.3, failover_timeout=5)
    with pytest.raises(AllotConnectionError) as e:
        t.request("POST", "/v1/allocations", {}, retry=False)
    assert e.value.sent  # it may have happened
    assert b.seen == []
    status, _, _ = t.request("GET", "/v1/nodes", retry=True)
    assert status == 200 and t.answered_by == b.url


def test_async_transport_fails_over_too(replicas):
    a, b = replicas(not_ready), replicas(echo)

    async def go():
        t = AsyncTransport(nobody() + "," + a.url + "," + b.url, None, 2.0, failover_timeout=3)
        ans = await t.request("GET", "/v1/nodes", retry=True)
        await t.close()
        return ans, t.answered_by

    (status, _, _), who = asyncio.run(go())
    assert status == 200 and who == b.url


def test_retries_end_when_their_time_is_up(replicas):
    a, b = replicas(not_ready), replicas(not_ready)
    t = SyncTransport(a.url + "," + b.url, None, 2.0, failover_timeout=0.3)
    assert t.request("GET", "/v1/nodes", retry=True)[0] == 503
    assert len(a.seen) >= 2 and len(b.seen) >= 2  # round after round, then the last answer


def test_when_nothing_listens_anywhere_it_gives_up_after_a_few_rounds():
    t = SyncTransport(nobody() + "," + nobody(), None, 2.0, failover_timeout=60)
    with pytest.raises(AllotConnectionError) as e:
        t.request("GET", "/v1/nodes", retry=True)
    assert not e.value.sent
    assert len(t.trail) == 3


# --- real replicas ---------------------------------------------------------------------------------------

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fault"))


@pytest.fixture
def two_replicas():
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    from cluster import EtcdCluster, Replica as AllotReplica, wait_leader  # noqa: E402
    d = tempfile.mkdtemp(prefix="allot-py-fo-")
    etcd = EtcdCluster(d, 1)
    reps = []
    try:
        etcd.start()
        a = AllotReplica(d, "a", etcd.endpoints)
        a.start()
        a.wait_role(("leader",))
        b = AllotReplica(d, "b", etcd.endpoints)
        b.start()
        b.wait_role(("standby",))
        reps = [a, b]
        yield a, b, wait_leader
    finally:
        for r in reps:
            r.process.stop()
        etcd.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_a_client_given_both_replicas_keeps_working_through_a_leader_kill(two_replicas):
    a, b, wait_leader = two_replicas
    c = Client(b.url + "," + a.url, timeout=2.0, failover_timeout=20)
    c._t.request("POST", "/v1/nodes", {"name": "n1", "capacity": {"cpu": "8"}}, retry=True)
    first = c.allocate_resources(ResourceRequest(agent_id="w1", resources={"cpu": 1}, duration=60))
    assert first.state == "placed" and c.answered_by == a.url  # through the standby's redirect
    assert c.revision and c.revision > 0
    # A read goes to the replica the client talks to now (the leader); the standby has it too.
    assert c.get_allocation(first.id).state == "placed"
    a.process.kill9()
    second = c.allocate_resources(ResourceRequest(agent_id="w1", resources={"cpu": 1}, duration=60))
    assert second.state == "placed" and c.answered_by == b.url
    assert c.renew(first.id, 60).state == "placed"  # the new leader holds what the old one acknowledged
    assert c.release(first.id).state == "released"
    c.close()
