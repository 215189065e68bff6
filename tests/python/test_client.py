"""allot.client.Client (synchronous) against real `allot serve` processes: allocations and their units,
api_quota shares, queueing and watches, quotas, reservations, history, rate limits, bad input, errors,
auth, and a server that goes away."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from typing import List

import pytest

from allot import AllotConnectionError, AllotError, Client, ResourceManager, ResourceRequest

from conftest import ADMIN_TOKEN, READER_TOKEN, WRITER_TOKEN


def req(agent: str = "worker_01", **kw) -> ResourceRequest:
    kw.setdefault("resources", {"cpu": 1, "memory": 1})
    return ResourceRequest(agent_id=agent, **kw)


def test_units_on_the_wire(demo_server) -> None:
    with Client(demo_server.url) as c:
        r = c.allocate_resources(req(resources={"cpu": 0.5, "memory": "512Mi", "disk": 2.5}, priority="critical",
                                     duration="10m", workflow_id="wf-1"))
        assert r.success, r.reason
        assert r.allocated_resources == {"cpu": 0.5, "memory": 0.5, "disk": 2.5}
        status, raw = demo_server.raw("GET", f"/v1/allocations/{r.id}")
        assert raw["requests"] == {"cpu": 500, "memory": 512 << 20, "ephemeral-storage": int(2.5 * (1 << 30))}
        assert raw["priority"] == 4 and raw["workflow"] == "wf-1" and raw["tenant"] == "worker/worker_01"
        assert raw["expires"] is not None
        gone = c.release(r)
        assert gone.state == "released" and not gone.success
        assert demo_server.raw("GET", f"/v1/allocations/{r.id}")[1]["state"] == "released"
        # Releasing again answers the ended allocation unchanged.
        assert c.release(r.id).state == "released"


def test_gpu_allocation_and_renew(demo_server) -> None:
    with Client(demo_server.url) as c:
        r = c.allocate_resources(req(resources={"gpu": 2, "cpu": 4}, duration=60))
        assert r.success and r.node_id == "gpu-1"  # gpu-2 is tainted
        assert r.allocated_resources == {"gpu": 2, "cpu": 4}
        before = r.expires
        renewed = c.renew(r, duration="2h")
        assert renewed.success and renewed.expires > before
        assert c.get_allocation(r.id).expires == renewed.expires
        c.release(r)


def test_infeasible_is_a_result_not_an_exception(demo_server) -> None:
    with Client(demo_server.url) as c:
        # The demo queues what no node can ever fit (no wait given) and rejects it once its wait ran out.
        r = c.allocate_resources(req(resources={"cpu": 1000}))
        assert not r.success and r.state == "queued" and r.reason_code == "infeasible" and r.reason
        c.release(r)
        r = c.allocate_resources(req(resources={"cpu": 1000}, wait=0))
        assert not r.success and r.state == "rejected" and r.reason_code == "wait_expired"


def test_queue_and_wait(demo_server) -> None:
    with Client(demo_server.url) as c:
        # The demo's org/batch may hold at most 24 cores: a second 16-core request waits for the first.
        first = c.allocate_resources(req(tenant="org/batch", resources={"cpu": 16}))
        second = c.allocate_resources(req(tenant="org/batch", resources={"cpu": 16}))
        assert first.success and second.state == "queued" and not second.success
        assert second.reason_code.startswith("quota")
        # A watch that times out answers the allocation as it is (still queued).
        assert c.wait(second, timeout=0.2).state == "queued"
        done: List[object] = []
        t = threading.Thread(target=lambda: done.append(Client(demo_server.url).wait(second, timeout=60)))
        t.start()
        c.release(first)
        t.join()
        assert done[0].state == "placed" and done[0].success
        c.release(second)


def test_api_quota_is_held_and_given_back(demo_server) -> None:
    with Client(demo_server.url, api_quota_capacity=2500) as c:
        a = c.allocate_resources(req("a_1", resources={"cpu": 1, "api_quota": 1000}, duration=600))
        b = c.allocate_resources(req("b_1", resources={"cpu": 1, "api_quota": 1000}, duration=600))
        assert a.success and b.success and a.allocated_resources["api_quota"] == 1000
        pool = demo_server.raw("GET", "/v1/pools/api_quota")[1]
        assert (pool["capacity"], pool["in_use"]) == (2500, 2000)
        assert sorted(h["holder"] for h in pool["held"]) == sorted([a.id, b.id])
        # 1000 more do not fit the 500 left: refused, and the allocation it made is given back.
        refused = c.allocate_resources(req("c_1", resources={"cpu": 1, "api_quota": 1000}, duration=600))
        assert not refused.success and refused.reason_code == "api_quota" and "api_quota" in refused.reason
        assert demo_server.raw("GET", f"/v1/allocations/{refused.id}")[1]["state"] == "released"
        # More than the whole budget can never fit.
        never = c.allocate_resources(req("d_1", resources={"cpu": 1, "api_quota": 5000}))
        assert not never.success and "never" in never.reason
        c.release(a)
        assert demo_server.raw("GET", "/v1/pools/api_quota")[1]["in_use"] == 1000
        # Another client (no memory of the lease) releases by the allocation's id.
        with Client(demo_server.url) as other:
            other.release(b.id)
        assert demo_server.raw("GET", "/v1/pools/api_quota")[1]["in_use"] == 0


def test_api_quota_per_agent_type(demo_server) -> None:
    with Client(demo_server.url) as c:
        c.set_quota(agent_type="scraper", resources={"cpu": 8, "api_quota": 1500})
        a = c.allocate_resources(req("scraper_1", resources={"cpu": 1, "api_quota": 1000}))
        assert a.success
        assert c.get_quota_usage("scraper").api_quota.used == 1000
        b = c.allocate_resources(req("scraper_2", resources={"cpu": 1, "api_quota": 1000}))
        assert not b.success and "api_quota:scraper" in b.reason
        # Another agent type is not limited by scraper's share.
        assert c.allocate_resources(req("other_1", resources={"cpu": 1, "api_quota": 1000})).success
        c.release(a)
        assert c.get_quota_usage("scraper").api_quota.used == 0


def test_quota_usage_and_strict_limits(demo_server) -> None:
    with Client(demo_server.url) as c:
        q = c.set_quota(agent_type="analyst", resources={"cpu": 4, "memory": 8})
        assert (q.cpu.limit, q.memory.limit) == (4, 8)
        a = c.allocate_resources(req("analyst_7", resources={"cpu": 3, "memory": 2}))
        u = c.get_quota_usage("analyst")
        assert (u.cpu.used, u.cpu.limit, u.memory.used, u.memory.limit) == (3, 4, 2, 8)
        assert u.gpu.used == 0 and u.gpu.limit is None
        # Over the quota: the demo queues it (quota_mode: queue).
        b = c.allocate_resources(req("analyst_8", resources={"cpu": 2}))
        assert b.state == "queued"
        c.release(b)
        c.release(a)
        assert c.get_quota_usage("analyst").cpu.used == 0
        # A custom counted resource reads by attribute or by name.
        q = c.set_quota(agent_type="dbuser", resources={"db_connections": 10, "cpu": "1500m"})
        assert q.db_connections.limit == 10 and q["db_connections"].limit == 10 and q.cpu.limit == 1.5
        assert q.resources.keys() == {"cpu", "db_connections"}


def test_history(demo_server) -> None:
    with Client(demo_server.url) as c:
        a = c.allocate_resources(req("historian_1"))
        c.release(a)
        other = c.allocate_resources(req("someone_1"))
        h = c.get_allocation_history(time_range="1h", agent_id="historian_1")
        assert [e.type for e in h] == ["submitted", "placed", "released"]
        assert all(e.id == a.id and e.tenant == "historian/historian_1" for e in h)
        assert {e.id for e in c.get_allocation_history("24h")} >= {a.id, other.id}
        assert [e.id for e in c.get_allocation_history("24h", agent_type="someone")] == [other.id, other.id]


def test_reservations(demo_server) -> None:
    with Client(demo_server.url) as c:
        r = c.reserve_resources(workflow_id="nightly", start_time="+1h", duration="30m", resources={"cpu": 8, "memory": 16})
        assert r.id and r.tenant == "nightly" and r.resources == {"cpu": 8, "memory": 16} and not r.active
        status, raw = demo_server.raw("GET", f"/v1/reservations/{r.id}")
        assert status == 200 and raw["end"] == r.end_time
        c.cancel_reservation(r)
        assert demo_server.raw("GET", f"/v1/reservations/{r.id}")[0] == 404


def test_rate_limits(demo_server) -> None:
    with Client(demo_server.url) as c:
        c.define_rate_limit("openai", rate="2/h", burst=2)
        assert c.acquire("openai").allowed
        assert c.acquire("openai", 1).allowed
        d = c.acquire("openai")
        assert not d.allowed and d.retry_after > 0
        with pytest.raises(AllotError) as e:
            c.acquire("nosuchkey")
        assert e.value.status == 404 and e.value.code == "not_found"


def test_bad_input_raises_before_any_request() -> None:
    # Nothing listens on this port: a request would raise AllotConnectionError, bad input raises ValueError first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = Client(f"http://127.0.0.1:{port}")
    bad = [
        req(resources={"cpu": -1}),
        req(resources={"memory": "8 gigs"}),
        req(resources={"cpu": float("nan")}),
        req(resources={"cpu": True}),
        req(resources={}),
        req(resources={"bad name!": 1}),
        req(resources={"disk": 1, "ephemeral-storage": 1}),
        req(priority="urgent"),
        req(priority=-3),
        req(duration=0),
        req(duration="soon"),
        req(count=0),
        req(tenant="a//b"),
        req(selector={"zone": 1}),
        ResourceRequest(agent_id=""),
    ]
    for r in bad:
        with pytest.raises(ValueError):
            c.allocate_resources(r)
    with pytest.raises(ValueError):
        c.allocate_resources("not a request")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        c.set_quota(resources={"cpu": 1})
    with pytest.raises(ValueError):
        c.set_quota(agent_type="x", resources={"api_quota": -5})
    with pytest.raises(ValueError):
        c.reserve_resources(workflow_id="w", duration=10, end_time="2099-01-01T00:00:00Z", resources={"cpu": 1})
    with pytest.raises(ValueError):
        c.get_allocation_history(time_range="yesterday")
    with pytest.raises(ValueError):
        c.acquire("bad key!")
    with pytest.raises(ValueError):
        c.release("")
    with pytest.raises(ValueError):
        Client("ftp://example.com")
    with pytest.raises(AllotConnectionError):
        c.get_utilization_metrics()


def test_server_errors_carry_status_code_and_field(demo_server) -> None:
    with Client(demo_server.url) as c:
        with pytest.raises(AllotError) as e:
            c.get_allocation("a-0000000000000000")
        assert (e.value.status, e.value.code) == (404, "not_found")
        with pytest.raises(AllotError) as e:
            c.allocate_resources(req(resources={"cpu": 1}, limits={"cpu": 0.5}))
        assert (e.value.status, e.value.code, e.value.field) == (422, "invalid_value", "limits.cpu")
        with pytest.raises(AllotError) as e:
            c.allocate_resources(req(resources={"gpu": 1.5}))
        assert (e.value.status, e.value.code) == (422, "invalid_argument") and "gpu" in e.value.message
        with pytest.raises(AllotError) as e:
            c.reserve_resources(workflow_id="w", start_time="2020-01-01T00:00:00Z", duration=60, resources={"cpu": 1})
        assert (e.value.status, e.value.code, e.value.field) == (422, "invalid_value", "end")
        with pytest.raises(AllotError) as e:
            c.renew("a-0000000000000000")
        assert e.value.status == 404


def test_one_keep_alive_connection(demo_server) -> None:
    with Client(demo_server.url) as c:
        c.get_utilization_metrics()
        sock = c._t._conn.sock  # noqa: SLF001 - the connection itself is what this test is about
        for _ in range(20):
            c.release(c.allocate_resources(req()))
        assert c._t._conn.sock is sock


def test_server_goes_away_mid_call(demo_server) -> None:
    c = Client(demo_server.url)
    first = c.allocate_resources(req(tenant="org/batch", resources={"cpu": 16}))
    queued = c.allocate_resources(req(tenant="org/batch", resources={"cpu": 16}))
    assert first.success and queued.state == "queued"
    errors: List[BaseException] = []
    started = threading.Event()

    def watch() -> None:
        w = Client(demo_server.url)
        w.get_utilization_metrics()
        started.set()
        try:
            w.wait(queued, timeout=120)
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            errors.append(e)

    t = threading.Thread(target=watch)
    t.start()
    started.wait(10)
    time.sleep(0.2)  # let the long-poll reach the server; the outcome does not depend on it
    demo_server.stop(signal.SIGKILL)
    t.join(30)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], AllotConnectionError) and errors[0].status == 0
    # The kept-alive connection of `c` is dead too: the next call raises, it does not hang.
    with pytest.raises(AllotConnectionError):
        c.get_utilization_metrics()


def test_server_restart_reconnects(demo_server) -> None:
    c = Client(demo_server.url)
    a = c.allocate_resources(req("phoenix_1", duration=600))
    demo_server.restart()
    # The old keep-alive connection is gone; the GET is repeated on a fresh one, and the state survived.
    assert c.get_allocation(a.id).state == "placed"


def test_server_list_fails_over(demo_server, monkeypatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("ALLOT_SERVER", f"{dead},{demo_server.url}")
    with Client() as c:
        r = c.allocate_resources(req("list_1"))
        assert r.success
        c.release(r)

    async def main() -> None:
        async with ResourceManager() as m:
            assert (await m.get_utilization_metrics()).nodes["total"] == 5

    asyncio.run(main())


def test_auth_tokens_and_roles(auth_server, monkeypatch) -> None:
    with pytest.raises(AllotError) as e:
        Client(auth_server.url).get_utilization_metrics()
    assert (e.value.status, e.value.code) == (401, "unauthenticated")
    with pytest.raises(AllotError) as e:
        Client(auth_server.url, "not-a-token").initialize()
    assert e.value.status == 401
    # A reader reads, but may not allocate.
    reader = Client(auth_server.url, READER_TOKEN)
    assert reader.get_utilization_metrics().cpu.capacity == 32
    with pytest.raises(AllotError) as e:
        reader.allocate_resources(req())
    assert (e.value.status, e.value.code) == (403, "permission_denied")
    # A writer of org/agents allocates inside its subtree (tenant_root), not outside.
    writer = Client(auth_server.url, WRITER_TOKEN, tenant_root="org/agents")
    a = writer.allocate_resources(req("policy_analyzer_01", resources={"cpu": 2, "memory": 4}))
    assert a.success and a.tenant == "org/agents/policy_analyzer/policy_analyzer_01"
    with pytest.raises(AllotError) as e:
        Client(auth_server.url, WRITER_TOKEN).allocate_resources(req())
    assert e.value.status == 403 and "subtree" in e.value.message
    # Quotas need an admin; the token comes from ALLOT_TOKEN, the server from ALLOT_SERVER.
    with pytest.raises(AllotError) as e:
        writer.set_quota(agent_type="policy_analyzer", resources={"cpu": 4})
    assert e.value.status == 403
    monkeypatch.setenv("ALLOT_SERVER", auth_server.url)
    monkeypatch.setenv("ALLOT_TOKEN", ADMIN_TOKEN)
    admin = Client(tenant_root="org/agents")
    assert admin.set_quota(agent_type="policy_analyzer", resources={"cpu": 4}).cpu.limit == 4
    assert admin.get_quota_usage("policy_analyzer").cpu.used == 2
    # A writer cannot define the api_quota pool: the allocation is refused with that reason (and given back).
    r = writer.allocate_resources(req("policy_analyzer_02", resources={"cpu": 1, "api_quota": 10}))
    assert not r.success and "may not define" in r.reason
    admin._run(admin._core.op_define_rate_limit("unused", "1/s", 1, None, None))  # noqa: SLF001
    status, pool = auth_server.raw("PUT", "/v1/pools/api_quota", {"capacity": 100}, token=ADMIN_TOKEN)
    assert status == 201
    ok = writer.allocate_resources(req("policy_analyzer_02", resources={"cpu": 1, "api_quota": 10}))
    assert ok.success and auth_server.raw("GET", "/v1/pools/api_quota", token=ADMIN_TOKEN)[1]["in_use"] == 10
    writer.release(ok)
    assert auth_server.raw("GET", "/v1/pools/api_quota", token=ADMIN_TOKEN)[1]["in_use"] == 0
