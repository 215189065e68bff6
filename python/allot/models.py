"""Typed requests and results of the allot client, in seed 001's names and units (see allot._units)."""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any, Dict, List, Mapping, Optional, Union

from . import _units
from ._units import Amount, Number


class Priority(enum.IntEnum):
    """Allocation priorities (allot: critical 4, high 3, normal 2 = medium, low 1, background 0)."""

    BACKGROUND = 0
    LOW = 1
    NORMAL = 2
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


_PRIORITY_NAMES = {"background": 0, "low": 1, "normal": 2, "medium": 2, "high": 3, "critical": 4}


def wire_priority(p: Union[int, str, Priority], what: str = "priority") -> int:
    """A priority as the integer the server reads; ValueError for anything else."""
    if isinstance(p, bool):
        raise ValueError(f"{what}: expected Priority, a name or an integer 0-1000000, got {p!r}")
    if isinstance(p, str):
        v = _PRIORITY_NAMES.get(p.strip().lower())
        if v is None:
            raise ValueError(f"{what}: {p!r} is not critical, high, normal, medium, low or background")
        return v
    if isinstance(p, int) and 0 <= p <= 1_000_000:
        return int(p)
    raise ValueError(f"{what}: expected Priority, a name or an integer 0-1000000, got {p!r}")


_AGENT_SUFFIX = re.compile(r"[-_.]?[0-9]+$")


def agent_type_of(agent_id: str) -> str:
    """The agent type of an agent id: the id without a trailing number ("policy_analyzer_01" -> "policy_analyzer")."""
    t = _AGENT_SUFFIX.sub("", agent_id)
    return t or agent_id


@dataclasses.dataclass
class ResourceRequest:
    """What an agent asks for (seed 001's ResourceRequest).

    ``resources``: ``{"cpu": 4, "memory": 8, "disk": 50, "gpu": 1, "api_quota": 1000}`` in seed units
    (cores, GB, GB, devices, requests/hour) or quantity strings. The allocation's tenant is ``tenant`` when
    given, else ``[tenant_root/]<agent_type>/<agent_id>`` where agent_type defaults to the id without a
    trailing number. ``duration`` (seconds or "1h") is the lease; none holds until release.
    """

    agent_id: str
    workflow_id: str = ""
    priority: Union[Priority, int, str] = Priority.NORMAL
    resources: Mapping[str, Amount] = dataclasses.field(default_factory=dict)
    duration: Optional[Union[float, str]] = None
    agent_type: Optional[str] = None
    tenant: Optional[str] = None
    limits: Optional[Mapping[str, Amount]] = None
    wait: Optional[Union[float, str]] = None
    selector: Optional[Mapping[str, str]] = None
    preemptible: bool = False
    count: int = 1
    reservation: Optional[str] = None
    idempotency_key: Optional[str] = None


@dataclasses.dataclass
class AllocationResult:
    """The outcome of allocate_resources (and of release, renew, wait, get_allocation).

    ``success`` is True while the allocation holds its resources (state ``placed``);
    ``allocated_resources`` are its requests in seed units (with ``api_quota`` when it holds a share);
    ``node_id`` is the first node; ``reason`` says why it waits or ended.
    """

    success: bool
    id: Optional[str]
    state: str
    node_id: Optional[str]
    reason: str
    reason_code: str = "none"
    allocated_resources: Dict[str, Number] = dataclasses.field(default_factory=dict)
    nodes: List[str] = dataclasses.field(default_factory=list)
    tenant: str = ""
    workflow_id: str = ""
    priority: int = 2
    expires: Optional[str] = None
    submitted: Optional[str] = None
    started: Optional[str] = None
    ended: Optional[str] = None
    position: Optional[int] = None
    api_quota: int = 0
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)


@dataclasses.dataclass
class ResourceUsage:
    """One resource of a quota: ``used`` and ``limit`` (None: no limit) in seed units."""

    used: Number = 0
    limit: Optional[Number] = None
    guaranteed: Optional[Number] = None


@dataclasses.dataclass
class QuotaUsage:
    """get_quota_usage's answer: ``usage.cpu.used`` / ``usage.cpu.limit`` and the same for ``memory``,
    ``disk``, ``gpu``, ``network``, ``api_quota`` and, by attribute or ``usage["name"]``, any custom
    resource; a resource without quota or usage reads 0 / None. ``resources`` holds those present."""

    tenant: str
    cpu: ResourceUsage = dataclasses.field(default_factory=ResourceUsage)
    memory: ResourceUsage = dataclasses.field(default_factory=ResourceUsage)
    disk: ResourceUsage = dataclasses.field(default_factory=ResourceUsage)
    gpu: ResourceUsage = dataclasses.field(default_factory=ResourceUsage)
    network: ResourceUsage = dataclasses.field(default_factory=ResourceUsage)
    api_quota: ResourceUsage = dataclasses.field(default_factory=ResourceUsage)
    resources: Dict[str, ResourceUsage] = dataclasses.field(default_factory=dict)
    running: int = 0
    queued: int = 0
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def set(self, name: str, usage: ResourceUsage) -> None:
        self.resources[name] = usage
        if name in _WELL_KNOWN:
            setattr(self, name, usage)

    def __getattr__(self, name: str) -> ResourceUsage:
        if name.startswith("_") or name in ("resources", "raw"):
            raise AttributeError(name)
        return self.__dict__.get("resources", {}).get(name, ResourceUsage())

    def __getitem__(self, name: str) -> ResourceUsage:
        return self.resources.get(name, ResourceUsage())


_WELL_KNOWN = ("cpu", "memory", "disk", "gpu", "network", "api_quota")


@dataclasses.dataclass
class Reservation:
    """A reservation of capacity for a time window (``end_time`` is when it ends, RFC 3339 UTC)."""

    id: str
    tenant: str
    start_time: str
    end_time: str
    resources: Dict[str, Number]
    node_id: Optional[str] = None
    active: bool = False
    priority: int = 2
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)


@dataclasses.dataclass
class ResourceMetrics:
    """Cluster totals of one resource, in seed units; ``utilization`` in percent of capacity."""

    capacity: Number = 0
    allocated: Number = 0
    available: Number = 0
    utilization: float = 0.0


@dataclasses.dataclass
class UtilizationMetrics:
    """get_utilization_metrics' answer: ``metrics.cpu.utilization`` (percent of capacity allocated),
    ``metrics.memory.available`` (GB), the same for ``disk``, ``gpu``, ``network`` and (by attribute or
    ``metrics["name"]``) custom resources; ``active_allocations`` (placed), ``queued_allocations``,
    ``degradation_level`` and ``nodes`` (total, up, down, draining)."""

    cpu: ResourceMetrics = dataclasses.field(default_factory=ResourceMetrics)
    memory: ResourceMetrics = dataclasses.field(default_factory=ResourceMetrics)
    disk: ResourceMetrics = dataclasses.field(default_factory=ResourceMetrics)
    gpu: ResourceMetrics = dataclasses.field(default_factory=ResourceMetrics)
    network: ResourceMetrics = dataclasses.field(default_factory=ResourceMetrics)
    active_allocations: int = 0
    queued_allocations: int = 0
    degradation_level: int = 0
    nodes: Dict[str, int] = dataclasses.field(default_factory=dict)
    resources: Dict[str, ResourceMetrics] = dataclasses.field(default_factory=dict)
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def __getattr__(self, name: str) -> ResourceMetrics:
        if name.startswith("_") or name in ("resources", "raw", "nodes"):
            raise AttributeError(name)
        return self.__dict__.get("resources", {}).get(name, ResourceMetrics())

    def __getitem__(self, name: str) -> ResourceMetrics:
        return self.resources.get(name, ResourceMetrics())


@dataclasses.dataclass
class HistoryEvent:
    """One entry of get_allocation_history (an audit event of an allocation)."""

    seq: int
    at: str
    type: str
    id: str
    tenant: str
    node: str
    reason: str
    actor: str


@dataclasses.dataclass
class RateLimitDecision:
    """The answer of a rate-limit acquire: ``allowed``, and when not, ``retry_after`` seconds."""

    key: str
    allowed: bool
    retry_after: float
    remaining: Optional[float] = None
    reset_after: Optional[float] = None
    limited_by: Optional[str] = None
    reason: Optional[str] = None
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)


def allocation_from(body: Dict[str, Any], api_quota: int = 0) -> AllocationResult:
    res = _units.resources_from_wire(body.get("requests"))
    count = int(body.get("count") or 1)
    if count > 1:
        res = {k: (v * count if isinstance(v, (int, float)) else v) for k, v in res.items()}
    if api_quota:
        res[_units.API_QUOTA] = api_quota
    err = body.get("error") if isinstance(body.get("error"), dict) else None
    reason = body.get("reason") or (err or {}).get("message", "")
    return AllocationResult(
        success=body.get("state") == "placed",
        id=body.get("id"),
        state=str(body.get("state", "")),
        node_id=body.get("node"),
        reason=str(reason),
        reason_code=str(body.get("reason_code", "none")),
        allocated_resources=res,
        nodes=list(body.get("nodes") or []),
        tenant=str(body.get("tenant", "")),
        workflow_id=str(body.get("workflow", "")),
        priority=int(body.get("priority", 2)),
        expires=body.get("expires"),
        submitted=body.get("submitted"),
        started=body.get("started"),
        ended=body.get("ended"),
        position=body.get("position"),
        api_quota=api_quota,
        raw=body,
    )


def quota_from(body: Dict[str, Any]) -> QuotaUsage:
    used = _units.resources_from_wire(body.get("used"))
    mx = _units.resources_from_wire(body.get("max"))
    gu = _units.resources_from_wire(body.get("guaranteed"))
    q = QuotaUsage(tenant=str(body.get("tenant", "")), running=int(body.get("running") or 0),
                   queued=int(body.get("queued") or 0), raw=body)
    for k in sorted(set(used) | set(mx) | set(gu)):
        q.set(k, ResourceUsage(used=used.get(k, 0), limit=mx.get(k), guaranteed=gu.get(k)))
    return q


def reservation_from(body: Dict[str, Any], priority: int = 2) -> Reservation:
    return Reservation(id=str(body.get("id")), tenant=str(body.get("tenant", "")), start_time=str(body.get("start")),
                       end_time=str(body.get("end")), resources=_units.resources_from_wire(body.get("requests")),
                       node_id=body.get("node") or None, active=bool(body.get("active")), priority=priority, raw=body)


def utilization_from(body: Dict[str, Any]) -> UtilizationMetrics:
    cap = body.get("capacity") or {}
    alloc = body.get("allocated") or {}
    free = body.get("free") or {}
    pct = body.get("utilization_percent") or {}
    allocs = body.get("allocations") or {}
    deg = body.get("degradation") or {}
    m = UtilizationMetrics(active_allocations=int(allocs.get("placed", 0)), queued_allocations=int(allocs.get("queued", 0)),
                           degradation_level=int(deg.get("level", 0)), nodes=dict(body.get("nodes") or {}), raw=body)
    for k in cap:
        if k == "gpu_milli":
            continue
        name = _units.seed_name(k)
        r = ResourceMetrics(capacity=_units.from_wire(k, cap.get(k, 0)), allocated=_units.from_wire(k, alloc.get(k, 0)),
                            available=_units.from_wire(k, free.get(k, 0)), utilization=round(float(pct.get(k, 0.0)), 3))
        m.resources[name] = r
        if name in _WELL_KNOWN:
            setattr(m, name, r)
    return m
