"""allot's server from Python: a synchronous :class:`Client` and an asyncio :class:`ResourceManager` with
seed 001's names (``allocate_resources``, ``set_quota``, ``get_quota_usage``, ``reserve_resources``,
``get_utilization_metrics``, ``get_allocation_history``) over allot's HTTP API (docs/http-api.md).

Both share one implementation: every operation is a generator that yields HTTP requests and receives the
answers, driven by the blocking transport (Client) or awaited on the asyncio one (ResourceManager), so the
two behave the same. Arguments are checked before any request is sent (ValueError); an error answer
of the server raises AllotError with its HTTP status, error code and field.

``api_quota`` (requests per hour of a shared external API) is held in allot's concurrency pools: the
cluster pool ``api_quota`` (its capacity is the whole budget) and, for each tenant with an api_quota set by
set_quota, the pool ``api_quota:<tenant>``. An allocation asking for ``api_quota: N`` takes a lease of N
units from each of these pools that exists, held by the allocation's id and as long as its lease; release
(and the lease's end) gives them back. When no pool exists the client defines the cluster pool with
``api_quota_capacity`` units (admin tokens and ``--dev`` only).

Thread-safety: a Client may be shared between threads (one lock around its connection); a
ResourceManager belongs to one event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import threading
import time
import urllib.parse
import uuid
from typing import Any, Dict, Generator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _units
from ._http import AsyncTransport, SyncTransport, split_urls
from ._units import Amount
from .errors import AllotConnectionError, AllotError, error_from
from .models import (AllocationResult, HistoryEvent, Priority, QuotaUsage, RateLimitDecision, Reservation,
                     ResourceRequest, ResourceUsage, UtilizationMetrics, agent_type_of, allocation_from, quota_from,
                     reservation_from, utilization_from, wire_priority)

__all__ = [
    "AllocationResult", "AllotConnectionError", "AllotError", "Client", "HistoryEvent", "Priority", "QuotaUsage",
    "RateLimitDecision", "Reservation", "ResourceManager", "ResourceRequest", "ResourceUsage", "UtilizationMetrics",
]

DEFAULT_SERVER = "http://127.0.0.1:7070"
DEFAULT_API_QUOTA_CAPACITY = 100_000
_ALLOCATION_EVENTS = ("submitted", "placed", "completed", "released", "expired", "preempted", "rejected", "renewed")
_MAX_POOL_TTL = 366 * 86400


@dataclasses.dataclass
class _Req:
    method: str
    path: str
    body: Any = None
    retry: bool = False
    timeout: Optional[float] = None


@dataclasses.dataclass
class _Sleep:
    seconds: float


Op = Generator[Union[_Req, _Sleep], Any, Any]


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _q(s: str) -> str:
    """A path segment: ids and keys of plain characters as they are, anything else percent-encoded."""
    return s if _PLAIN.issuperset(s) else urllib.parse.quote(s, safe="")


def _failover_timeout(t: Any) -> float:
    """Seconds a request that is safe to repeat keeps trying the replicas (see allot._http)."""
    if isinstance(t, bool) or not isinstance(t, (int, float)) or t < 0:
        raise ValueError(f"failover_timeout: expected seconds >= 0, got {t!r}")
    return float(t)


def _load_config(path: str) -> Dict[str, Any]:
    """A client config file: JSON, or flat YAML-style ``key: value`` lines (server, token, tenant_root,
    api_quota_pool, api_quota_capacity, timeout)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return data
    out: Dict[str, Any] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or line[0].isspace():
            raise ValueError(f"{path}:{n}: expected 'key: value'")
        out[key.strip()] = value.strip().strip("'\"")
    return out


class _Core:
    """Configuration and the transport-independent operations of Client and ResourceManager."""

    _KEYS = ("server", "token", "tenant_root", "api_quota_pool", "api_quota_capacity", "timeout")

    def __init__(self, server: Optional[str], token: Optional[str], tenant_root: Optional[str],
                 api_quota_pool: Optional[str], api_quota_capacity: Optional[int], timeout: Optional[float],
                 config_path: Optional[str]) -> None:
        cfg: Dict[str, Any] = _load_config(config_path) if config_path else {}
        for k in cfg:
            if k not in self._KEYS:
                raise ValueError(f"{config_path}: unknown key {k!r} (known: {', '.join(self._KEYS)})")
        url = server or cfg.get("server") or os.environ.get("ALLOT_SERVER") or DEFAULT_SERVER
        # A comma-separated list: new connections fail over along it (see allot._http).
        self.server = ",".join(u.strip() for u in str(url).split(",") if u.strip())
        split_urls(self.server)
        self.token = token or cfg.get("token") or os.environ.get("ALLOT_TOKEN") or None
        root = tenant_root if tenant_root is not None else cfg.get("tenant_root", os.environ.get("ALLOT_TENANT_ROOT", ""))
        self.tenant_root = str(root or "").strip("/")
        if self.tenant_root:
            _units.check_tenant(self.tenant_root, "tenant_root")
        self.api_quota_pool = str(api_quota_pool or cfg.get("api_quota_pool") or _units.API_QUOTA)
        cap = api_quota_capacity if api_quota_capacity is not None else cfg.get(
            "api_quota_capacity", os.environ.get("ALLOT_API_QUOTA_CAPACITY", DEFAULT_API_QUOTA_CAPACITY))
        try:
            self.api_quota_capacity = int(cap)
        except (TypeError, ValueError):
            raise ValueError(f"api_quota_capacity: expected a positive integer, got {cap!r}") from None
        if self.api_quota_capacity < 1:
            raise ValueError(f"api_quota_capacity: expected a positive integer, got {cap!r}")
        t = timeout if timeout is not None else float(cfg.get("timeout", 30.0))
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
            raise ValueError(f"timeout: expected seconds > 0, got {t!r}")
        self.timeout = float(t)
        # Allocation id -> [(pool key, lease id, units)] of the api_quota shares of the allocations this
        # client made and has not released ([] for none); release looks up others' shares on the server.
        self._leases: Dict[str, List[Tuple[str, int, int]]] = {}
        self._key_prefix = uuid.uuid4().hex[:16]
        self._seq = 0
        self._tenants: Dict[Tuple[Optional[str], Optional[str]], str] = {}

    # --- names -------------------------------------------------------------------------------------------

    def tenant_of(self, agent_id: Optional[str] = None, agent_type: Optional[str] = None,
                  tenant: Optional[str] = None, what: str = "tenant") -> str:
        """The tenant path of an agent (see ResourceRequest); ValueError when it is not a valid path."""
        if tenant is not None:
            return _units.check_tenant(tenant, what)
        cacheable = isinstance(agent_id, (str, type(None))) and isinstance(agent_type, (str, type(None)))
        cached = self._tenants.get((agent_id, agent_type)) if cacheable else None
        if cached is not None:
            return cached
        parts = [self.tenant_root] if self.tenant_root else []
        if agent_type is not None:
            parts.append(agent_type)
        if agent_id is not None:
            if not isinstance(agent_id, str) or not agent_id:
                raise ValueError(f"agent_id: expected a non-empty string, got {agent_id!r}")
            if agent_type is None:
                parts.append(agent_type_of(agent_id))
            parts.append(agent_id)
        if not parts:
            raise ValueError("give agent_id, agent_type or tenant")
        path = _units.check_tenant("/".join(parts), what)
        if cacheable and len(self._tenants) < 4096:
            self._tenants[(agent_id, agent_type)] = path
        return path

    @staticmethod
    def _check(answer: Tuple[int, Any, Dict[str, str]], ok: Sequence[int] = (200, 201)) -> Any:
        status, body, headers = answer
        if status not in ok:
            raise error_from(status, body, headers.get("retry-after"))
        return body

    # --- allocations -------------------------------------------------------------------------------------

    def allocation_body(self, request: ResourceRequest) -> Tuple[Dict[str, Any], int]:
        if not isinstance(request, ResourceRequest):
            raise ValueError(f"request: expected a ResourceRequest, got {type(request).__name__}")
        requests, api = _units.split_resources(request.resources, "resources")
        if not requests and not api:
            raise ValueError("resources: ask for a positive amount of some resource")
        if requests and not api and not _units.any_positive(tuple(requests.values())):
            raise ValueError("resources: ask for a positive amount of some resource")
        if not isinstance(request.workflow_id, str):
            raise ValueError(f"workflow_id: expected a string, got {request.workflow_id!r}")
        body: Dict[str, Any] = {
            "tenant": self.tenant_of(request.agent_id, request.agent_type, request.tenant),
            "workflow": request.workflow_id,
            "priority": wire_priority(request.priority),
        }
        if requests:
            body["requests"] = requests
        if request.limits is not None:
            lim, lapi = _units.split_resources(request.limits, "limits")
            if lapi is not None:
                raise ValueError("limits.api_quota: api_quota has no limit apart from its request")
            body["limits"] = lim
        if request.duration is not None:
            body["duration"] = _units.wire_duration(request.duration, "duration")
        if request.wait is not None:
            body["wait"] = _units.wire_duration(request.wait, "wait", allow_zero=True)
        if request.selector is not None:
            if not isinstance(request.selector, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in request.selector.items()):
                raise ValueError("selector: expected a mapping of label to string value")
            body["selector"] = dict(request.selector)
        if not isinstance(request.preemptible, bool):
            raise ValueError(f"preemptible: expected a bool, got {request.preemptible!r}")
        if request.preemptible:
            body["preemptible"] = True
        if isinstance(request.count, bool) or not isinstance(request.count, int) or not 1 <= request.count <= 10000:
            raise ValueError(f"count: expected an integer 1-10000, got {request.count!r}")
        if request.count != 1:
            body["count"] = request.count
        if request.reservation is not None:
            body["reservation"] = str(request.reservation)
        key = request.idempotency_key
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 256):
            raise ValueError(f"idempotency_key: expected a string of 1-256 characters, got {key!r}")
        # A key makes a resend after a broken keep-alive connection safe.
        if key is None:
            self._seq += 1
            key = f"py-{self._key_prefix}-{self._seq}"
        body["idempotency_key"] = key
        if not requests:
            # api_quota alone: the allocation itself needs some amount; it asks for the least cpu.
            body["requests"] = {"cpu": "1m"}
        return body, api or 0

    def op_allocate(self, request: ResourceRequest) -> Op:
        body, api = self.allocation_body(request)
        status, ans, headers = yield _Req("POST", "/v1/allocations", body, retry=True)
        if status == 409 and isinstance(ans, dict) and "state" in ans:
            return allocation_from(ans)  # rejected at once (quota, infeasible, ...)
        ans = self._check((status, ans, headers), (201, 202))
        result = allocation_from(ans)
        if api:
            reason = yield from self._take_api_quota(result, api, body)
            if reason is not None:
                yield from self._end(result.id or "", "DELETE")
                result.success = False
                result.state = "rejected"
                result.reason = reason
                result.reason_code = "api_quota"
                return result
            result.api_quota = api
            result.allocated_resources[_units.API_QUOTA] = api
        elif result.id:
            self._leases[result.id] = []  # none to give back on release
        return result

    def _api_pools(self, tenant: str) -> Op:
        """The api_quota pools that apply to `tenant`: {key: max_ttl seconds}, cluster pool first."""
        ans = self._check((yield _Req("GET", "/v1/pools", retry=True)))
        have = {p.get("key"): float(p.get("max_ttl") or _MAX_POOL_TTL) for p in ans.get("pools", [])}
        keys = [self.api_quota_pool]
        segs = tenant.split("/")
        keys += [f"{self.api_quota_pool}:{'/'.join(segs[:i])}" for i in range(1, len(segs) + 1)]
        return {k: have[k] for k in keys if k in have}

    def _take_api_quota(self, result: AllocationResult, n: int, body: Dict[str, Any]) -> Op:
        """Takes n units from every applicable api_quota pool for the allocation; a refusal's text or None."""
        pools = yield from self._api_pools(result.tenant)
        if not pools:
            define = {"capacity": self.api_quota_capacity, "ttl": "1h", "max_ttl": f"{_MAX_POOL_TTL}s"}
            status, ans, headers = yield _Req("PUT", f"/v1/pools/{_q(self.api_quota_pool)}", define, retry=True)
            if status == 403:
                return (f"api_quota: the server has no pool {self.api_quota_pool!r} and this token may not define "
                        f"it; an admin can: PUT /v1/pools/{self.api_quota_pool} {{\"capacity\": N}}")
            self._check((status, ans, headers), (200, 201, 409))
            pools = {self.api_quota_pool: float(_MAX_POOL_TTL)}
        lease_s = _units.duration_seconds(body["duration"]) if "duration" in body else None
        taken: List[Tuple[str, int, int]] = []
        for key, max_ttl in pools.items():
            ttl = min(lease_s if lease_s else max_ttl, max_ttl)
            req = {"n": n, "tenant": result.tenant, "holder": result.id, "ttl": ttl}
            status, ans, headers = yield _Req("POST", f"/v1/pools/{_q(key)}/acquire", req)
            if status == 200 and ans.get("allowed"):
                taken.append((key, int(ans["lease"]), n))
                continue
            for k, lease, _ in taken:
                yield _Req("POST", f"/v1/pools/{_q(k)}/release", {"lease": lease}, retry=True)
            if status == 200:
                return (f"api_quota: {n} requests/hour do not fit pool {key!r} now ({ans.get('reason', 'capacity')}; "
                        f"{ans.get('available')} available)")
            if status == 422:
                return f"api_quota: {n} requests/hour can never fit pool {key!r}: " + str(
                    (ans.get("error") or {}).get("message", ""))
            self._check((status, ans, headers))
        self._leases[result.id or ""] = taken
        return None

    def _give_back(self, alloc_id: str) -> Op:
        """Releases the api_quota leases held by an allocation."""
        taken = self._leases.pop(alloc_id, None)
        if taken is not None:
            for key, lease, _ in taken:
                yield _Req("POST", f"/v1/pools/{_q(key)}/release", {"lease": lease}, retry=True)
            return
        # Not taken by this client: release by holder in every api_quota pool.
        status, ans, _ = yield _Req("GET", "/v1/pools", retry=True)
        if status != 200:
            return
        for p in ans.get("pools", []):
            key = str(p.get("key", ""))
            if key == self.api_quota_pool or key.startswith(self.api_quota_pool + ":"):
                yield _Req("POST", f"/v1/pools/{_q(key)}/release", {"holder": alloc_id}, retry=True)

    def _end(self, alloc_id: str, method: str) -> Op:
        ans = self._check((yield _Req(method, f"/v1/allocations/{_q(alloc_id)}", retry=True)))
        yield from self._give_back(alloc_id)
        return ans

    @staticmethod
    def _id_of(allocation: Union[str, AllocationResult]) -> str:
        a = allocation.id if isinstance(allocation, AllocationResult) else allocation
        if not isinstance(a, str) or not a:
            raise ValueError(f"allocation: expected an allocation id or AllocationResult, got {allocation!r}")
        return a

    def op_release(self, allocation: Union[str, AllocationResult]) -> Op:
        a = self._id_of(allocation)
        ans = yield from self._end(a, "DELETE")
        return allocation_from(ans)

    def op_renew(self, allocation: Union[str, AllocationResult], duration: Optional[Union[float, str]]) -> Op:
        a = self._id_of(allocation)
        body = {} if duration is None else {"duration": _units.wire_duration(duration, "duration")}
        ans = self._check((yield _Req("POST", f"/v1/allocations/{_q(a)}/renew", body, retry=True)))
        for key, lease, _ in self._leases.get(a, []):
            ttl = _units.duration_seconds(body["duration"]) if body else None
            yield _Req("POST", f"/v1/pools/{_q(key)}/renew", {"lease": lease, **({"ttl": ttl} if ttl else {})}, retry=True)
        api = sum(n for _, _, n in self._leases.get(a, [])[:1])
        return allocation_from(ans, api)

    def op_get(self, allocation: Union[str, AllocationResult]) -> Op:
        a = self._id_of(allocation)
        ans = self._check((yield _Req("GET", f"/v1/allocations/{_q(a)}", retry=True)))
        return allocation_from(ans, sum(n for _, _, n in self._leases.get(a, [])[:1]))

    def op_wait(self, allocation: Union[str, AllocationResult], timeout: Optional[float], state: str) -> Op:
        a = self._id_of(allocation)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
            raise ValueError(f"timeout: expected seconds >= 0 or None, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 300.0 if deadline is None else max(0.0, deadline - time.monotonic())
            chunk = min(left, 300.0)
            path = f"/v1/allocations/{_q(a)}?wait={chunk:.3f}s&state={_q(state)}"
            ans = self._check((yield _Req("GET", path, retry=True, timeout=self.timeout + chunk)))
            if ans.get("state") != state or (deadline is not None and time.monotonic() >= deadline):
                return allocation_from(ans, sum(n for _, _, n in self._leases.get(a, [])[:1]))

    def op_list(self, tenant: Optional[str], state: Optional[str], limit: int) -> Op:
        q = {"limit": str(limit)}
        if tenant:
            q["tenant"] = _units.check_tenant(tenant)
        if state:
            q["state"] = state
        ans = self._check((yield _Req("GET", "/v1/allocations?" + urllib.parse.urlencode(q), retry=True)))
        return [allocation_from(a) for a in ans.get("allocations", [])]

    # --- quotas ------------------------------------------------------------------------------------------

    def op_set_quota(self, agent_type: Optional[str], tenant: Optional[str], resources: Mapping[str, Amount],
                     guaranteed: Optional[Mapping[str, Amount]], weight: Optional[float], burst: Optional[float],
                     grace: Optional[Union[float, str]]) -> Op:
        if (agent_type is None) == (tenant is None):
            raise ValueError("set_quota: give exactly one of agent_type= and tenant=")
        path = self.tenant_of(agent_type=agent_type) if tenant is None else self.tenant_of(tenant=tenant)
        mx, api = _units.split_resources(resources, "resources")
        body: Dict[str, Any] = {"max": mx}
        if guaranteed is not None:
            g, gapi = _units.split_resources(guaranteed, "guaranteed")
            if gapi is not None:
                raise ValueError("guaranteed.api_quota: api_quota is a limit only")
            body["guaranteed"] = g
        if weight is not None:
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1e6:
                raise ValueError(f"weight: expected a number in (0, 1e6], got {weight!r}")
            body["weight"] = weight
        if burst is not None:
            if isinstance(burst, bool) or not isinstance(burst, (int, float)) or not 1 <= burst <= 100:
                raise ValueError(f"burst: expected a number 1-100, got {burst!r}")
            body["burst"] = burst
        if grace is not None:
            body["grace"] = _units.wire_duration(grace, "grace", allow_zero=True)
        if api is not None and api < 1:
            raise ValueError("resources.api_quota: must be at least 1 request/hour")
        ans = self._check((yield _Req("PUT", f"/v1/quotas/{path}", body, retry=True)))
        if api is not None:
            pool = {"capacity": api, "ttl": "1h", "max_ttl": f"{_MAX_POOL_TTL}s"}
            self._check((yield _Req("PUT", f"/v1/pools/{_q(self.api_quota_pool + ':' + path)}", pool, retry=True)))
        usage = quota_from(ans)
        if api is not None:
            usage.set(_units.API_QUOTA, ResourceUsage(used=0, limit=api))
        return usage

    def op_quota_usage(self, name: str) -> Op:
        if not isinstance(name, str) or not name:
            raise ValueError(f"get_quota_usage: expected an agent type or tenant path, got {name!r}")
        path = _units.check_tenant(f"{self.tenant_root}/{name}" if self.tenant_root else name)
        ans = self._check((yield _Req("GET", f"/v1/quotas/{path}", retry=True)))
        usage = quota_from(ans)
        status, pool, _ = yield _Req("GET", f"/v1/pools/{_q(self.api_quota_pool + ':' + path)}", retry=True)
        if status == 200:
            usage.set(_units.API_QUOTA, ResourceUsage(used=int(pool.get("in_use", 0)), limit=int(pool.get("capacity", 0))))
        return usage

    # --- reservations, observation -----------------------------------------------------------------------

    def op_reserve(self, workflow_id: str, start_time: Optional[Union[str, float]], duration: Optional[Union[float, str]],
                   resources: Mapping[str, Amount], priority: Union[Priority, int, str], end_time: Optional[str],
                   agent_id: Optional[str], agent_type: Optional[str], tenant: Optional[str], nodes: Optional[Sequence[str]],
                   reservation_id: Optional[str]) -> Op:
        req, api = _units.split_resources(resources, "resources")
        if api is not None:
            raise ValueError("resources.api_quota: reservations hold node capacity only; allocate api_quota instead")
        if not req:
            raise ValueError("resources: ask for some resource")
        prio = wire_priority(priority)
        if tenant is None and agent_id is None and agent_type is None:
            if not isinstance(workflow_id, str) or not workflow_id:
                raise ValueError("reserve_resources: give workflow_id (or agent_id, agent_type, tenant)")
            path = self.tenant_of(agent_type=workflow_id)
        else:
            path = self.tenant_of(agent_id, agent_type, tenant)
        body: Dict[str, Any] = {"tenant": path, "requests": req}
        if reservation_id is not None:
            body["id"] = reservation_id
        if start_time is not None:
            if isinstance(start_time, bool) or not isinstance(start_time, (str, int, float)):
                raise ValueError(f"start_time: expected an RFC 3339 time, Unix seconds or a duration, got {start_time!r}")
            body["start"] = start_time
        if (duration is None) == (end_time is None):
            raise ValueError("reserve_resources: give exactly one of duration= and end_time=")
        if duration is not None:
            body["duration"] = _units.wire_duration(duration, "duration")
        else:
            body["end"] = end_time
        if nodes is not None:
            body["nodes"] = [str(n) for n in nodes]
        ans = self._check((yield _Req("POST", "/v1/reservations", body)), (201,))
        return reservation_from(ans, prio)

    def op_cancel_reservation(self, reservation: Union[str, Reservation]) -> Op:
        rid = reservation.id if isinstance(reservation, Reservation) else reservation
        if not isinstance(rid, str) or not rid:
            raise ValueError(f"reservation: expected an id, got {reservation!r}")
        self._check((yield _Req("DELETE", f"/v1/reservations/{_q(rid)}", retry=True)))
        return None

    def op_utilization(self) -> Op:
        return utilization_from(self._check((yield _Req("GET", "/v1/utilization", retry=True))))

    def op_history(self, time_range: str, agent_id: Optional[str], agent_type: Optional[str], tenant: Optional[str],
                   limit: int) -> Op:
        since = time_range
        if isinstance(since, (int, float)) and not isinstance(since, bool):
            since = f"{int(since)}s"
        if not isinstance(since, str) or not since:
            raise ValueError(f"time_range: expected a duration such as \"24h\", got {time_range!r}")
        _units.wire_duration(since, "time_range")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100000:
            raise ValueError(f"limit: expected 1-100000, got {limit!r}")
        q = {"since": since, "limit": str(min(limit, 1000))}
        if agent_id is not None or agent_type is not None or tenant is not None:
            q["tenant"] = self.tenant_of(agent_id, agent_type, tenant)
        out: List[HistoryEvent] = []
        while len(out) < limit:
            ans = self._check((yield _Req("GET", "/v1/events?" + urllib.parse.urlencode(q), retry=True)))
            events = ans.get("events", [])
            for e in events:
                if e.get("type") in _ALLOCATION_EVENTS and len(out) < limit:
                    out.append(HistoryEvent(int(e.get("seq", 0)), str(e.get("at", "")), str(e.get("type", "")),
                                            str(e.get("id", "")), str(e.get("tenant", "")), str(e.get("node", "")),
                                            str(e.get("reason", "")), str(e.get("actor", ""))))
            if len(events) < int(q["limit"]):
                break
            q.pop("since", None)
            q["after"] = str(ans.get("next", 0))
        return out

    # --- rate limits -------------------------------------------------------------------------------------

    def op_define_rate_limit(self, key: str, rate: Optional[str], burst: Optional[int], quota: Optional[int],
                             per: Optional[str]) -> Op:
        key = self._key(key)
        body: Dict[str, Any] = {}
        if rate is not None:
            body["rate"] = rate
        if burst is not None:
            body["burst"] = burst
        if quota is not None:
            body["quota"] = quota
        if per is not None:
            body["per"] = per
        if not body:
            raise ValueError("define_rate_limit: give rate= (and burst=) or quota= and per=")
        return self._check((yield _Req("PUT", f"/v1/ratelimits/{key}", body, retry=True)))

    @staticmethod
    def _key(key: object) -> str:
        if not isinstance(key, str) or not 1 <= len(key) <= 253 or not all(c.isalnum() or c in "._-:/" for c in key):
            raise ValueError(f"key: {key!r} is not a rate-limit key (letters, digits, '. _ - : /', 1-253 characters)")
        return key

    def op_acquire(self, key: str, n: int, tenant: Optional[str], agent: Optional[str], timeout: float) -> Op:
        key = self._key(key)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected an integer >= 1, got {n!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"timeout: expected seconds >= 0, got {timeout!r}")
        body: Dict[str, Any] = {"n": n}
        if tenant is not None:
            body["tenant"] = _units.check_tenant(tenant)
        if agent is not None:
            body["agent"] = str(agent)
        deadline = time.monotonic() + timeout
        while True:
            ans = self._check((yield _Req("POST", f"/v1/ratelimits/{key}/acquire", body)))
            d = RateLimitDecision(key=key, allowed=bool(ans.get("allowed")), retry_after=float(ans.get("retry_after") or 0),
                                  remaining=ans.get("remaining"), reset_after=ans.get("reset_after"),
                                  limited_by=ans.get("limited_by"), reason=ans.get("reason"), raw=ans)
            left = deadline - time.monotonic()
            if d.allowed or left <= 0 or d.retry_after <= 0 or d.retry_after > left:
                return d
            yield _Sleep(d.retry_after)

    def op_ping(self) -> Op:
        self._check((yield _Req("GET", "/readyz", retry=True)))
        return self._check((yield _Req("GET", "/v1/utilization", retry=True)))


class Client:
    """Synchronous client of ``allot serve`` over one keep-alive connection.

    ``server``: URL (default ``ALLOT_SERVER``, else http://127.0.0.1:7070); ``token``: bearer token
    (default ``ALLOT_TOKEN``); ``tenant_root``: prefix of agents' tenant paths (default
    ``ALLOT_TENANT_ROOT``); ``api_quota_pool`` / ``api_quota_capacity``: the concurrency pool that holds
    api_quota shares and the capacity it gets when the client must define it; ``config_path``: a file
    with these keys (JSON or ``key: value`` lines). Usable as a context manager.

    ``server`` may list the replicas of a replicated server, comma-separated: the client follows their
    redirects and moves a request that is safe to repeat to the next replica when one fails, for at most
    ``failover_timeout`` seconds (allot._http says exactly when); ``answered_by`` names the replica that
    gave the last answer.
    """

    def __init__(self, server: Optional[str] = None, token: Optional[str] = None, *, tenant_root: Optional[str] = None,
                 api_quota_pool: Optional[str] = None, api_quota_capacity: Optional[int] = None,
                 timeout: Optional[float] = None, config_path: Optional[str] = None, ca_cert: Optional[str] = None,
                 failover_timeout: float = 30.0, client_cert: Optional[str] = None,
                 client_key: Optional[str] = None) -> None:
        self._core = _Core(server, token, tenant_root, api_quota_pool, api_quota_capacity, timeout, config_path)
        self._t = SyncTransport(self._core.server, self._core.token, self._core.timeout, ca_cert,
                                _failover_timeout(failover_timeout), client_cert, client_key)
        self._lock = threading.Lock()
        self._tracker: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self.metrics: Optional[UtilizationMetrics] = None

    @property
    def server(self) -> str:
        return self._core.server

    @property
    def answered_by(self) -> Optional[str]:
        """The replica (``http://host:port``) that gave the last answer."""
        return self._t.answered_by

    @property
    def revision(self) -> Optional[int]:
        """The last answer's X-Allot-Revision (replicated servers): the store revision its state was as of."""
        return self._t.revision

    def _run(self, op: Op) -> Any:
        with self._lock:
            try:
                step = next(op)
                while True:
                    if isinstance(step, _Sleep):
                        time.sleep(step.seconds)
                        step = op.send(None)
                    else:
                        step = op.send(self._t.request(step.method, step.path, step.body, step.retry, step.timeout))
            except StopIteration as done:
                return done.value

    def close(self) -> None:
        """Stops tracking and closes the connection."""
        self.stop_resource_tracking()
        with self._lock:
            self._t.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def tenant_of(self, agent_id: Optional[str] = None, agent_type: Optional[str] = None) -> str:
        """The tenant path this client uses for an agent id or agent type."""
        return self._core.tenant_of(agent_id, agent_type)

    def initialize(self) -> None:
        """Checks that the server is ready and the token is accepted (raises AllotError otherwise)."""
        self.metrics = utilization_from(self._run(self._core.op_ping()))

    def start_resource_tracking(self, interval: float = 15.0) -> None:
        """Refreshes ``self.metrics`` (get_utilization_metrics) every ``interval`` seconds in a daemon thread
        with its own connection, until stop_resource_tracking() or close()."""
        if not interval > 0:
            raise ValueError(f"interval: expected seconds > 0, got {interval!r}")
        if self._tracker is not None:
            return
        self._stop.clear()
        other = Client(self._core.server, self._core.token, timeout=self._core.timeout)

        def loop() -> None:
            try:
                while not self._stop.is_set():
                    try:
                        self.metrics = other.get_utilization_metrics()
                    except AllotError:
                        pass
                    self._stop.wait(interval)
            finally:
                other.close()

        self._tracker = threading.Thread(target=loop, name="allot-tracking", daemon=True)
        self._tracker.start()

    def stop_resource_tracking(self) -> None:
        if self._tracker is not None:
            self._stop.set()
            self._tracker.join()
            self._tracker = None

    def allocate_resources(self, request: ResourceRequest) -> AllocationResult:
        """Submits the request. ``success`` when placed; queued (``state == "queued"``, see wait()) or
        rejected (quota, infeasible, api_quota) answers are results too; other refusals raise AllotError."""
        return self._run(self._core.op_allocate(request))

    def release(self, allocation: Union[str, AllocationResult]) -> AllocationResult:
        """Releases an allocation (and its api_quota share); one that already ended is answered as it is."""
        return self._run(self._core.op_release(allocation))

    def renew(self, allocation: Union[str, AllocationResult], duration: Optional[Union[float, str]] = None) -> AllocationResult:
        """Extends the lease to now + duration (default: the last lease length)."""
        return self._run(self._core.op_renew(allocation, duration))

    def get_allocation(self, allocation: Union[str, AllocationResult]) -> AllocationResult:
        return self._run(self._core.op_get(allocation))

    def wait(self, allocation: Union[str, AllocationResult], timeout: Optional[float] = None,
             state: str = "queued") -> AllocationResult:
        """Watches an allocation until it leaves ``state`` (default queued) or ``timeout`` seconds pass."""
        return self._run(self._core.op_wait(allocation, timeout, state))

    def list_allocations(self, tenant: Optional[str] = None, state: Optional[str] = None,
                         limit: int = 1000) -> List[AllocationResult]:
        return self._run(self._core.op_list(tenant, state, limit))

    def set_quota(self, agent_type: Optional[str] = None, resources: Optional[Mapping[str, Amount]] = None, *,
                  tenant: Optional[str] = None, guaranteed: Optional[Mapping[str, Amount]] = None,
                  weight: Optional[float] = None, burst: Optional[float] = None,
                  grace: Optional[Union[float, str]] = None) -> QuotaUsage:
        """Sets the quota's maximum (``resources``) of an agent type's tenant (or a tenant path); replaces
        the tenant's earlier quota. ``api_quota`` defines the pool ``api_quota:<tenant>`` (admin)."""
        return self._run(self._core.op_set_quota(agent_type, tenant, resources or {}, guaranteed, weight, burst, grace))

    def get_quota_usage(self, name: str) -> QuotaUsage:
        """Usage and limits of an agent type's tenant (or a tenant path): ``usage.cpu.used`` / ``.limit``."""
        return self._run(self._core.op_quota_usage(name))

    def reserve_resources(self, workflow_id: str = "", start_time: Optional[Union[str, float]] = None,
                          duration: Optional[Union[float, str]] = None, resources: Optional[Mapping[str, Amount]] = None,
                          priority: Union[Priority, int, str] = Priority.NORMAL, *, end_time: Optional[str] = None,
                          agent_id: Optional[str] = None, agent_type: Optional[str] = None, tenant: Optional[str] = None,
                          nodes: Optional[Sequence[str]] = None, reservation_id: Optional[str] = None) -> Reservation:
        """Reserves capacity for [start_time, start_time + duration) for the workflow's tenant (or the
        agent's); ``.id`` and ``.end_time``. The server keeps no priority for reservations."""
        return self._run(self._core.op_reserve(workflow_id, start_time, duration, resources or {}, priority, end_time,
                                               agent_id, agent_type, tenant, nodes, reservation_id))

    def cancel_reservation(self, reservation: Union[str, Reservation]) -> None:
        return self._run(self._core.op_cancel_reservation(reservation))

    def get_utilization_metrics(self) -> UtilizationMetrics:
        """Cluster totals: ``.cpu.utilization`` (percent), ``.memory.available`` (GB), ``.active_allocations``."""
        return self._run(self._core.op_utilization())

    def get_allocation_history(self, time_range: str = "24h", agent_id: Optional[str] = None, *,
                               agent_type: Optional[str] = None, tenant: Optional[str] = None,
                               limit: int = 10000) -> List[HistoryEvent]:
        """Allocation events (submitted, placed, released, ...) of the last ``time_range``, of one agent's
        tenant (or an agent type's / a tenant's subtree) when given, oldest first."""
        return self._run(self._core.op_history(time_range, agent_id, agent_type, tenant, limit))

    def define_rate_limit(self, key: str, rate: Optional[str] = None, burst: Optional[int] = None, *,
                          quota: Optional[int] = None, per: Optional[str] = None) -> Dict[str, Any]:
        """Defines a rate limit (``rate="5/m", burst=5``) or calendar quota (``quota=1000, per="day"``); admin."""
        return self._run(self._core.op_define_rate_limit(key, rate, burst, quota, per))

    def acquire(self, key: str, n: int = 1, *, tenant: Optional[str] = None, agent: Optional[str] = None,
                timeout: float = 0.0) -> RateLimitDecision:
        """Takes n units of rate limit ``key``; with ``timeout`` retries after retry_after until allowed."""
        return self._run(self._core.op_acquire(key, n, tenant, agent, timeout))


class ResourceManager:
    """asyncio client of ``allot serve`` (seed 001's ResourceManager): the same methods as Client, as
    coroutines, over a pool of at most ``max_connections`` keep-alive connections (default 64), each
    carrying up to ``pipeline`` requests at a time (default 1; more is HTTP/1.1 pipelining: concurrent
    tasks share a few connections, and the requests of one event-loop turn leave in one write)."""

    def __init__(self, server: Optional[str] = None, token: Optional[str] = None, *, tenant_root: Optional[str] = None,
                 api_quota_pool: Optional[str] = None, api_quota_capacity: Optional[int] = None,
                 timeout: Optional[float] = None, config_path: Optional[str] = None, max_connections: int = 64,
                 ca_cert: Optional[str] = None, failover_timeout: float = 30.0,
                 client_cert: Optional[str] = None, client_key: Optional[str] = None, pipeline: int = 1) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections: expected an integer >= 1, got {max_connections!r}")
        if isinstance(pipeline, bool) or not isinstance(pipeline, int) or not 1 <= pipeline <= 1024:
            raise ValueError(f"pipeline: expected an integer 1-1024, got {pipeline!r}")
        self._core = _Core(server, token, tenant_root, api_quota_pool, api_quota_capacity, timeout, config_path)
        self._t = AsyncTransport(self._core.server, self._core.token, self._core.timeout, max_connections, ca_cert,
                                 _failover_timeout(failover_timeout), client_cert, client_key, pipeline)
        self._tracker: Optional["asyncio.Task[None]"] = None
        self.metrics: Optional[UtilizationMetrics] = None

    @property
    def server(self) -> str:
        return self._core.server

    @property
    def answered_by(self) -> Optional[str]:
        """The replica (``http://host:port``) that gave the last answer."""
        return self._t.answered_by

    @property
    def revision(self) -> Optional[int]:
        """The last answer's X-Allot-Revision (replicated servers): the store revision its state was as of."""
        return self._t.revision

    async def _run(self, op: Op) -> Any:
        try:
            step = next(op)
            while True:
                if isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                    step = op.send(None)
                else:
                    step = op.send(await self._t.request(step.method, step.path, step.body, step.retry, step.timeout))
        except StopIteration as done:
            return done.value

    async def close(self) -> None:
        await self.stop_resource_tracking()
        await self._t.close()

    async def __aenter__(self) -> "ResourceManager":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def tenant_of(self, agent_id: Optional[str] = None, agent_type: Optional[str] = None) -> str:
        return self._core.tenant_of(agent_id, agent_type)

    async def initialize(self) -> None:
        """Checks that the server is ready and the token is accepted (raises AllotError otherwise)."""
        self.metrics = utilization_from(await self._run(self._core.op_ping()))

    async def start_resource_tracking(self, interval: float = 15.0) -> None:
        """Refreshes ``self.metrics`` every ``interval`` seconds in a background task."""
        if not interval > 0:
            raise ValueError(f"interval: expected seconds > 0, got {interval!r}")
        if self._tracker is not None:
            return
        self.metrics = await self.get_utilization_metrics()

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    self.metrics = await self.get_utilization_metrics()
                except AllotError:
                    pass

        self._tracker = asyncio.get_running_loop().create_task(loop())

    async def stop_resource_tracking(self) -> None:
        if self._tracker is not None:
            self._tracker.cancel()
            try:
                await self._tracker
            except asyncio.CancelledError:
                pass
            self._tracker = None

    async def allocate_resources(self, request: ResourceRequest) -> AllocationResult:
        return await self._run(self._core.op_allocate(request))

    async def release(self, allocation: Union[str, AllocationResult]) -> AllocationResult:
        return await self._run(self._core.op_release(allocation))

    async def renew(self, allocation: Union[str, AllocationResult],
                    duration: Optional[Union[float, str]] = None) -> AllocationResult:
        return await self._run(self._core.op_renew(allocation, duration))

    async def get_allocation(self, allocation: Union[str, AllocationResult]) -> AllocationResult:
        return await self._run(self._core.op_get(allocation))

    async def wait(self, allocation: Union[str, AllocationResult], timeout: Optional[float] = None,
                   state: str = "queued") -> AllocationResult:
        return await self._run(self._core.op_wait(allocation, timeout, state))

    async def list_allocations(self, tenant: Optional[str] = None, state: Optional[str] = None,
                               limit: int = 1000) -> List[AllocationResult]:
        return await self._run(self._core.op_list(tenant, state, limit))

    async def set_quota(self, agent_type: Optional[str] = None, resources: Optional[Mapping[str, Amount]] = None, *,
                        tenant: Optional[str] = None, guaranteed: Optional[Mapping[str, Amount]] = None,
                        weight: Optional[float] = None, burst: Optional[float] = None,
                        grace: Optional[Union[float, str]] = None) -> QuotaUsage:
        return await self._run(self._core.op_set_quota(agent_type, tenant, resources or {}, guaranteed, weight, burst,
                                                       grace))

    async def get_quota_usage(self, name: str) -> QuotaUsage:
        return await self._run(self._core.op_quota_usage(name))

    async def reserve_resources(self, workflow_id: str = "", start_time: Optional[Union[str, float]] = None,
                                duration: Optional[Union[float, str]] = None,
                                resources: Optional[Mapping[str, Amount]] = None,
                                priority: Union[Priority, int, str] = Priority.NORMAL, *, end_time: Optional[str] = None,
                                agent_id: Optional[str] = None, agent_type: Optional[str] = None,
                                tenant: Optional[str] = None, nodes: Optional[Sequence[str]] = None,
                                reservation_id: Optional[str] = None) -> Reservation:
        return await self._run(self._core.op_reserve(workflow_id, start_time, duration, resources or {}, priority,
                                                     end_time, agent_id, agent_type, tenant, nodes, reservation_id))

    async def cancel_reservation(self, reservation: Union[str, Reservation]) -> None:
        return await self._run(self._core.op_cancel_reservation(reservation))

    async def get_utilization_metrics(self) -> UtilizationMetrics:
        return await self._run(self._core.op_utilization())

    async def get_allocation_history(self, time_range: str = "24h", agent_id: Optional[str] = None, *,
                                     agent_type: Optional[str] = None, tenant: Optional[str] = None,
                                     limit: int = 10000) -> List[HistoryEvent]:
        return await self._run(self._core.op_history(time_range, agent_id, agent_type, tenant, limit))

    async def define_rate_limit(self, key: str, rate: Optional[str] = None, burst: Optional[int] = None, *,
                                quota: Optional[int] = None, per: Optional[str] = None) -> Dict[str, Any]:
        return await self._run(self._core.op_define_rate_limit(key, rate, burst, quota, per))

    async def acquire(self, key: str, n: int = 1, *, tenant: Optional[str] = None, agent: Optional[str] = None,
                      timeout: float = 0.0) -> RateLimitDecision:
        return await self._run(self._core.op_acquire(key, n, tenant, agent, timeout))
