"""allot.client.ResourceManager (asyncio) against real `allot serve` processes: concurrent allocations
over the connection pool, api_quota under concurrency, watches, bad input, auth, a server that goes away."""

from __future__ import annotations

import asyncio
import signal
import socket

import pytest

from allot import AllotConnectionError, AllotError, Priority, ResourceManager, ResourceRequest

from conftest import READER_TOKEN, WRITER_TOKEN


def req(agent: str = "worker_01", **kw) -> ResourceRequest:
    kw.setdefault("resources", {"cpu": 1, "memory": 1})
    return ResourceRequest(agent_id=agent, **kw)


def test_fifty_tasks_allocate_and_release(demo_server) -> None:
    async def main() -> None:
        async with ResourceManager(demo_server.url, max_connections=16) as m:
            async def one(i: int) -> str:
                r = await m.allocate_resources(req(f"agent_{i}", resources={"cpu": 0.25, "memory": 0.5}, duration=600))
                assert r.success, r.reason
                return r.id

            ids = await asyncio.gather(*(one(i) for i in range(50)))
            assert len(set(ids)) == 50
            metrics = await m.get_utilization_metrics()
            assert metrics.active_allocations == 50 and metrics.cpu.allocated == 12.5
            assert m._t.connections <= 16  # noqa: SLF001 - the pool bound
            released = await asyncio.gather(*(m.release(i) for i in ids))
            assert {r.state for r in released} == {"released"}
            assert (await m.get_utilization_metrics()).active_allocations == 0

    asyncio.run(main())


def test_api_quota_under_concurrency(demo_server) -> None:
    async def main() -> None:
        async with ResourceManager(demo_server.url, api_quota_capacity=2500) as m:
            # Define the pool first (one allocation), then 50 tasks race for 100 each: 24 more fit in 2400.
            first = await m.allocate_resources(req("first_1", resources={"cpu": 0.1, "api_quota": 100}))
            assert first.success
            rs = await asyncio.gather(*(m.allocate_resources(req(f"racer_{i}", resources={"cpu": 0.1, "api_quota": 100}))
                                        for i in range(50)))
            won = [r for r in rs if r.success]
            assert len(won) == 24
            assert all(r.reason_code == "api_quota" for r in rs if not r.success)
            assert demo_server.raw("GET", "/v1/pools/api_quota")[1]["in_use"] == 2500
            await asyncio.gather(*(m.release(r) for r in won + [first]))
            assert demo_server.raw("GET", "/v1/pools/api_quota")[1]["in_use"] == 0
            assert (await m.get_utilization_metrics()).active_allocations == 0

    asyncio.run(main())


def test_seed_names_quota_reserve_history(demo_server) -> None:
    async def main() -> None:
        m = ResourceManager(demo_server.url)
        await m.initialize()
        await m.start_resource_tracking(interval=0.05)
        a = await m.allocate_resources(req("gap_assessment_agent", priority=Priority.LOW, resources={"cpu": 2, "memory": 4}))
        assert a.success and a.priority == 1
        await m.set_quota(agent_type="gap_assessment_agent", resources={"cpu": 8})
        u = await m.get_quota_usage("gap_assessment_agent")
        assert (u.cpu.used, u.cpu.limit) == (2, 8)
        r = await m.reserve_resources(workflow_id="wf", start_time="+2h", duration=60, resources={"cpu": 1})
        assert r.end_time > r.start_time
        h = await m.get_allocation_history(time_range="24h", agent_id="gap_assessment_agent")
        assert [e.type for e in h] == ["submitted", "placed"]
        for _ in range(200):  # the tracker refreshes in the background
            if m.metrics is not None and m.metrics.active_allocations == 1:
                break
            await asyncio.sleep(0.01)
        assert m.metrics is not None and m.metrics.active_allocations == 1
        await m.release(a)
        await m.close()

    asyncio.run(main())


def test_queue_and_wait(demo_server) -> None:
    async def main() -> None:
        async with ResourceManager(demo_server.url) as m:
            first = await m.allocate_resources(req(tenant="org/batch", resources={"cpu": 16}))
            second = await m.allocate_resources(req(tenant="org/batch", resources={"cpu": 16}))
            assert second.state == "queued"
            watch = asyncio.ensure_future(m.wait(second, timeout=60))
            await asyncio.sleep(0)
            await m.release(first)
            placed = await watch
            assert placed.success and placed.state == "placed"
            await m.release(second)

    asyncio.run(main())


def test_rate_limit_acquire_waits(demo_server) -> None:
    async def main() -> None:
        async with ResourceManager(demo_server.url) as m:
            await m.define_rate_limit("api.fast", rate="20/s", burst=1)
            assert (await m.acquire("api.fast")).allowed
            # The bucket is empty now; with a timeout the client waits retry_after and gets the next unit.
            d = await m.acquire("api.fast", timeout=5)
            assert d.allowed

    asyncio.run(main())


def test_bad_input_raises_before_any_request() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        m = ResourceManager(f"http://127.0.0.1:{port}")
        for bad in (req(resources={"cpu": -1}), req(resources={"memory": "lots"}), req(priority="urgent"),
                    req(duration=-5)):
            with pytest.raises(ValueError):
                await m.allocate_resources(bad)
        with pytest.raises(ValueError):
            await m.get_quota_usage("")
        with pytest.raises(AllotConnectionError):
            await m.get_utilization_metrics()

    asyncio.run(main())
    with pytest.raises(ValueError):
        ResourceManager(max_connections=0)


def test_auth(auth_server) -> None:
    async def main() -> None:
        async with ResourceManager(auth_server.url) as anon:
            with pytest.raises(AllotError) as e:
                await anon.get_utilization_metrics()
            assert (e.value.status, e.value.code) == (401, "unauthenticated")
        async with ResourceManager(auth_server.url, READER_TOKEN) as reader:
            with pytest.raises(AllotError) as e:
                await reader.allocate_resources(req())
            assert e.value.status == 403
        async with ResourceManager(auth_server.url, WRITER_TOKEN, tenant_root="org/agents") as writer:
            a = await writer.allocate_resources(req())
            assert a.success and a.tenant.startswith("org/agents/")
            await writer.release(a)

    asyncio.run(main())


def test_server_goes_away_mid_call(demo_server) -> None:
    async def main() -> None:
        m = ResourceManager(demo_server.url)
        first = await m.allocate_resources(req(tenant="org/batch", resources={"cpu": 16}))
        queued = await m.allocate_resources(req(tenant="org/batch", resources={"cpu": 16}))
        assert first.success and queued.state == "queued"
        watch = asyncio.ensure_future(m.wait(queued, timeout=120))
        await asyncio.sleep(0.2)
        demo_server.stop(signal.SIGKILL)
        with pytest.raises(AllotConnectionError):
            await watch
        with pytest.raises(AllotConnectionError):
            await m.get_utilization_metrics()
        await m.close()

    asyncio.run(main())
