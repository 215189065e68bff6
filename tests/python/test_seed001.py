"""Seed 001's "Usage Examples" and "Getting Started" against the `make run` demo server, as written: only
the import line changed (`from resource_manager import` -> `from allot import`). The seed's top-level
`await`s run inside one coroutine, all blocks in one namespace, in the seed's order."""

from __future__ import annotations

import asyncio
import os
import textwrap

import pytest

from allot import AllotError

BASIC_ALLOCATION = '''
from allot import ResourceManager, ResourceRequest, Priority

# Initialize resource manager
manager = ResourceManager()

# Create resource request
request = ResourceRequest(
    agent_id="policy_analyzer_01",
    workflow_id="compliance_audit_2024",
    priority=Priority.HIGH,
    resources={
        "cpu": 4,
        "memory": 8,  # GB
        "disk": 50,   # GB
        "api_quota": 1000  # requests/hour
    },
    duration=3600  # 1 hour
)

# Request allocation
allocation = await manager.allocate_resources(request)
if allocation.success:
    print(f"Resources allocated: {allocation.allocated_resources}")
    print(f"Node assignment: {allocation.node_id}")
else:
    print(f"Allocation failed: {allocation.reason}")
'''

QUOTA_MANAGEMENT = '''
# Set agent quotas
await manager.set_quota(
    agent_type="policy_analyzer",
    resources={
        "cpu": 16,      # max cores
        "memory": 32,   # max GB
        "api_quota": 10000  # requests/day
    }
)

# Check quota usage
usage = await manager.get_quota_usage("policy_analyzer")
print(f"CPU usage: {usage.cpu.used}/{usage.cpu.limit}")
print(f"Memory usage: {usage.memory.used}/{usage.memory.limit}")
'''

RESOURCE_RESERVATION = '''
# Reserve resources for critical workflow
reservation = await manager.reserve_resources(
    workflow_id="critical_compliance_check",
    start_time="2024-01-15T09:00:00Z",
    duration=7200,  # 2 hours
    resources={
        "cpu": 8,
        "memory": 16,
        "gpu": 1
    },
    priority=Priority.CRITICAL
)

print(f"Reservation ID: {reservation.id}")
print(f"Reserved until: {reservation.end_time}")
'''

REAL_TIME_MONITORING = '''
# Monitor resource utilization
metrics = await manager.get_utilization_metrics()
print(f"Cluster CPU utilization: {metrics.cpu.utilization}%")
print(f"Available memory: {metrics.memory.available} GB")
print(f"Active allocations: {metrics.active_allocations}")

# Get allocation history
history = await manager.get_allocation_history(
    time_range="24h",
    agent_id="gap_assessment_agent"
)
'''

GETTING_STARTED = '''
from allot import ResourceManager

manager = ResourceManager(config_path="config/resource_manager.yaml")
await manager.initialize()
await manager.start_resource_tracking()
# Your agents can now request resources
allocation = await manager.allocate_resources(request)
'''


def run_blocks(namespace: dict, *blocks: str) -> dict:
    """Runs seed blocks in one coroutine sharing `namespace`; returns the namespace."""
    body = "\n".join(blocks)
    src = "async def __example(ns):\n    globals().update(ns)\n" + textwrap.indent(body, "    ") + \
          "\n    ns.update({k: v for k, v in locals().items() if k != 'ns'})\n"
    code = compile(src, "<seed 001>", "exec")
    exec(code, namespace)
    asyncio.run(namespace["__example"](namespace))
    return namespace


def test_usage_examples(demo_server, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ALLOT_SERVER", demo_server.url)
    ns: dict = {}
    run_blocks(ns, BASIC_ALLOCATION, QUOTA_MANAGEMENT)
    out = capsys.readouterr().out
    allocation = ns["allocation"]
    assert allocation.success, allocation.reason
    assert f"Node assignment: {allocation.node_id}" in out
    assert allocation.allocated_resources == {"cpu": 4, "memory": 8, "disk": 50, "api_quota": 1000}
    # The demo cluster: only cpu-1, cpu-2 and cpu-3 have ephemeral-storage.
    assert allocation.node_id in ("cpu-1", "cpu-2", "cpu-3")
    # What the server holds, read without the client: 4 cores, 8 GiB, 50 GiB, and the api_quota lease.
    status, raw = demo_server.raw("GET", f"/v1/allocations/{allocation.id}")
    assert status == 200 and raw["state"] == "placed" and raw["priority"] == 3
    assert raw["requests"] == {"cpu": 4000, "memory": 8 << 30, "ephemeral-storage": 50 << 30}
    assert raw["tenant"] == "policy_analyzer/policy_analyzer_01" and raw["workflow"] == "compliance_audit_2024"
    status, pool = demo_server.raw("GET", "/v1/pools/api_quota")
    assert status == 200 and pool["in_use"] == 1000
    assert [h["holder"] for h in pool["held"]] == [allocation.id]
    # Quota: the allocation counts against policy_analyzer's subtree.
    usage = ns["usage"]
    assert (usage.cpu.used, usage.cpu.limit) == (4, 16)
    assert (usage.memory.used, usage.memory.limit) == (8, 32)
    assert (usage.api_quota.used, usage.api_quota.limit) == (0, 10000)
    assert "CPU usage: 4/16" in out and "Memory usage: 8/32" in out

    # The reservation as written starts on 2024-01-15: that window has passed, and the server says so.
    with pytest.raises(AllotError) as e:
        run_blocks(ns, RESOURCE_RESERVATION)
    assert (e.value.status, e.value.code, e.value.field) == (422, "invalid_value", "end")
    # The same call for a window ahead succeeds.
    run_blocks(ns, RESOURCE_RESERVATION.replace("2024-01-15T09:00:00Z", "2099-01-15T09:00:00Z"))
    reservation = ns["reservation"]
    assert reservation.id and reservation.end_time == "2099-01-15T11:00:00.000Z"
    assert f"Reservation ID: {reservation.id}" in capsys.readouterr().out

    run_blocks(ns, REAL_TIME_MONITORING)
    out = capsys.readouterr().out
    metrics = ns["metrics"]
    # Demo capacity: 128 cores; the allocation holds 4 -> 3.125 %.
    assert metrics.cpu.utilization == 3.125
    assert "Cluster CPU utilization: 3.125%" in out
    assert metrics.memory.available == 768 - 8
    assert metrics.active_allocations == 1 and "Active allocations: 1" in out
    assert ns["history"] == []  # gap_assessment_agent did nothing

    # Released: the resources and the api_quota share come back.
    asyncio.run(_release(ns["manager"], allocation.id))
    assert demo_server.raw("GET", "/v1/pools/api_quota")[1]["in_use"] == 0
    assert demo_server.raw("GET", f"/v1/allocations/{allocation.id}")[1]["state"] == "released"


async def _release(manager, alloc_id: str) -> None:
    r = await manager.release(alloc_id)
    assert r.state == "released" and not r.success
    await manager.close()


def test_getting_started(demo_server, tmp_path, monkeypatch) -> None:
    os.makedirs(tmp_path / "config")
    (tmp_path / "config" / "resource_manager.yaml").write_text(f"server: {demo_server.url}\n")
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(BASIC_ALLOCATION.split("# Request allocation")[0].replace("manager = ResourceManager()", ""), ns)
    run_blocks(ns, GETTING_STARTED)
    manager, allocation = ns["manager"], ns["allocation"]
    assert manager.server == demo_server.url
    assert allocation.success and allocation.state == "placed"
    assert manager.metrics is not None and manager.metrics.nodes["total"] == 5
    asyncio.run(manager.close())
