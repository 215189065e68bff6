"""Host resource guard: may work start on this machine now, and how hard should it back off?

This is the ``resource_guard`` module of the resource-management seed (004), implemented over allot's
C++ guard library (the native extension ``allot._guard``), so that the limits, tiers, degradation levels
and decisions are exactly those of ``allot guard``:

* limits: cpu 80 % (warn 70), memory 80 % (70), gpu 80 % (70), disk 70 % (65) of capacity; a host tier
  replaces the cpu/memory/gpu maxima by its target (large 65 %, medium 60 %, small 55 %, cpu-only 50 %);
* a request fits when ``used + request <= max`` for every resource it touches (``<= capacity`` for
  CRITICAL work) and the highest level among them lets its priority start;
* degradation level of one resource, r = used / max: 0 below 70 %, 1 from 70 %, 2 from 85 %, 3 from 95 %,
  4 from 100 %; the host's level is the highest of cpu, memory, the watched disks and the GPUs;
* what a level lets start (seed 004's table): levels 0-2 everything (1 and up with a logged warning),
  3 NORMAL priority and above, 4 nothing; the scale factor running work should apply is 1, 1, 0.5, 0.25, 0
  (:func:`get_scale_factor`); the ``levels`` key of the guard config changes either;
* a probe that fails raises :class:`GuardError`; it is never a "go".

Amounts: a bare number is GB (2**30 bytes) for memory, disk and GPU memory and cores for cpu; a string is
a Kubernetes quantity (``"512Mi"``, ``"500m"``). Disk is checked on ``path`` (default the current
directory). The process-wide default guard reads ``ALLOT_GUARD_CONFIG`` (the YAML file of
``allot guard --config``) and ``ALLOT_GUARD_TIER`` at import; :func:`configure` replaces it.

Thread-safety: every function may be called from any thread; blocking waits release the GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import functools
import inspect
import json
import logging
import os
import random
import threading
from typing import Any, AsyncIterator, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, TypeVar, Union

from . import _guard

__all__ = [
    "AsyncResourceLimiter",
    "DegradationLevel",
    "GuardError",
    "HostTier",
    "LIMITS",
    "OperationPriority",
    "ResourceGuard",
    "ResourceLimits",
    "ResourceUnavailableError",
    "TIER_TARGETS",
    "can_proceed",
    "check_cpu",
    "check_disk_space",
    "check_gpu_memory",
    "check_memory",
    "configure",
    "get_degradation_level",
    "get_scale_factor",
    "get_host_tier",
    "get_recommended_actions",
    "get_resource_status",
    "print_resource_status",
    "require_resources",
    "respect_resource_limits",
    "should_proceed_with_priority",
    "wait_for_resources",
]

logger = logging.getLogger("allot.guard")

GuardError = _guard.GuardError
"""A probe or the guard's configuration failed (a RuntimeError); the work must not proceed."""

Amount = Union[int, float, str]
_GiB = 1 << 30


class ResourceUnavailableError(RuntimeError):
    """Resources did not become available (require_resources, a timed-out wait)."""

    def __init__(self, message: str, reasons: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.reasons: List[str] = list(reasons)


class OperationPriority(enum.IntEnum):
    """Priorities of seed 004: at degradation level 3 only NORMAL and above start, at level 4 nothing does."""

    BACKGROUND = 0  # optional cleanup, stats collection
    LOW = 1  # extra selfplay, backfill tasks
    NORMAL = 2  # regular selfplay, data generation
    HIGH = 3  # training, model evaluation
    CRITICAL = 4  # data sync, model promotion, health checks


class DegradationLevel(enum.IntEnum):
    """The host's degradation levels (get_degradation_level)."""

    NORMAL = 0
    LIGHT = 1
    MODERATE = 2
    HEAVY = 3
    CRITICAL = 4


class HostTier(str, enum.Enum):
    """Host tiers and their target utilisation (TIER_TARGETS); seed 004's names are aliases."""

    NONE = "none"
    AUTO = "auto"
    LARGE = "large"  # >= 96 GB RAM: 65 %
    MEDIUM = "medium"  # 32-96 GB: 60 %
    SMALL = "small"  # 16-32 GB: 55 %
    CPU_ONLY = "cpu-only"  # no GPU, or < 16 GB: 50 %
    HIGH_END = "large"
    MID_TIER = "medium"
    LOW_TIER = "small"


TIER_TARGETS: Dict[HostTier, float] = {
    t: _guard.tier_target_bp(t.value) / 100.0 for t in (HostTier.LARGE, HostTier.MEDIUM, HostTier.SMALL, HostTier.CPU_ONLY)
}
"""Target utilisation in percent of each concrete tier (the cpu/memory/gpu maxima it sets)."""


@dataclasses.dataclass
class ResourceLimits:
    """The limits in force, in percent of capacity (``LIMITS``; updated in place by configure())."""

    cpu_max_percent: float = 80.0
    cpu_warn_percent: float = 70.0
    memory_max_percent: float = 80.0
    memory_warn_percent: float = 70.0
    gpu_max_percent: float = 80.0
    gpu_warn_percent: float = 70.0
    disk_max_percent: float = 70.0
    disk_warn_percent: float = 65.0
    tier: str = "none"


LIMITS = ResourceLimits()

_lock = threading.Lock()
_default: Optional["_guard.Guard"] = None


def configure(
    config: Optional[str] = None,
    tier: Optional[Union[str, HostTier]] = None,
    limits: Optional[Dict[str, float]] = None,
    warn: Optional[Dict[str, float]] = None,
    paths: Sequence[str] = (),
    state_dir: Optional[str] = None,
    proc_root: Optional[str] = None,
    sys_root: Optional[str] = None,
    gpu_file: Optional[str] = None,
    initial_backoff: float = 0.5,
    max_backoff: float = 30.0,
    max_snapshot_age: float = 0.01,
) -> ResourceLimits:
    """Replaces the process-wide guard that every function of this module uses.

    Arguments mean what ``allot guard``'s options do: ``config`` (YAML: tier, limits, paths), ``tier``
    (none, auto, large, medium, small, cpu-only), ``limits`` / ``warn`` (``{"memory": 75}`` in percent),
    ``paths`` (disk paths always reported), ``state_dir`` (the CPU sample shared between processes; ""
    for none), ``proc_root`` / ``sys_root`` / ``gpu_file`` (recorded roots, for tests), the backoff
    of blocking waits (seconds), and ``max_snapshot_age``: how long (seconds, default 0.01) one probe of
    /proc, statvfs and NVML may answer later checks (0: every check probes afresh). Raises ValueError
    for a bad configuration (the previous guard stays then). Returns LIMITS, updated.
    """
    g = _guard.Guard(
        config=config or "",
        tier=HostTier(tier).value if tier is not None else "",
        limits=dict(limits or {}),
        warn=dict(warn or {}),
        paths=list(paths),
        state_dir=state_dir,
        proc_root=proc_root or "",
        sys_root=sys_root or "",
        gpu_file=gpu_file or "",
        initial_backoff=initial_backoff,
        max_backoff=max_backoff,
        max_snapshot_age=max_snapshot_age,
    )
    try:
        resolved: Optional[Dict[str, Any]] = g.limits()
    except GuardError:
        resolved = None  # the machine cannot be probed: every check will raise
    global _default
    with _lock:
        _default = g
        if resolved is None:
            return LIMITS
        for res, field in (("cpu", "cpu"), ("memory", "memory"), ("gpu", "gpu"), ("disk", "disk")):
            setattr(LIMITS, field + "_max_percent", resolved[res]["max_bp"] / 100.0)
            setattr(LIMITS, field + "_warn_percent", resolved[res]["warn_bp"] / 100.0)
        LIMITS.tier = resolved["tier"]
    return LIMITS


def _g() -> "_guard.Guard":
    if _default is None:
        configure(config=os.environ.get("ALLOT_GUARD_CONFIG") or None, tier=os.environ.get("ALLOT_GUARD_TIER") or None)
    assert _default is not None
    return _default


def _bytes(value: Optional[Amount], what: str) -> int:
    """GB (a number) or a quantity string to bytes; raises ValueError for anything else."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected GB (a number) or a quantity string, got {value!r}")
    if isinstance(value, (int, float)):
        if not value >= 0 or value == float("inf"):
            raise ValueError(f"{what}: must be a non-negative number of GB, got {value!r}")
        return int(round(value * _GiB))
    if isinstance(value, str):
        return _guard.parse_amount("memory", value)
    raise ValueError(f"{what}: expected GB (a number) or a quantity string, got {value!r}")


def _milli(value: Optional[Amount], what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected cores, got {value!r}")
    if isinstance(value, (int, float)):
        if not value >= 0 or value == float("inf"):
            raise ValueError(f"{what}: must be a non-negative number of cores, got {value!r}")
        return int(round(value * 1000))
    if isinstance(value, str):
        return _guard.parse_amount("cpu", value)
    raise ValueError(f"{what}: expected cores, got {value!r}")


def _priority(p: Union[int, str, OperationPriority]) -> int:
    if isinstance(p, bool):
        raise ValueError(f"priority: expected 0-4 or a name, got {p!r}")
    if isinstance(p, str):
        return _guard.parse_priority(p)
    if isinstance(p, int):
        if p < 0:
            raise ValueError(f"priority must not be negative, got {p}")
        return int(p)
    raise ValueError(f"priority: expected 0-4 or a name, got {p!r}")


class _Request(NamedTuple):
    """A request in the native guard's argument order and units (millicores, bytes)."""

    cpu_milli: int = 0
    memory: int = 0
    disk: int = 0
    gpu_memory: int = 0
    paths: Tuple[str, ...] = ()
    priority: int = int(OperationPriority.NORMAL)


def _request(
    disk_gb: Optional[Amount] = None,
    mem_gb: Optional[Amount] = None,
    gpu_gb: Optional[Amount] = None,
    cpu: Optional[Amount] = None,
    path: Optional[str] = ".",
    priority: Union[int, str, OperationPriority] = OperationPriority.NORMAL,
) -> _Request:
    try:
        return _request_cached(disk_gb, mem_gb, gpu_gb, cpu, path, priority)
    except TypeError:  # an unhashable argument: no cache
        return _make_request(disk_gb, mem_gb, gpu_gb, cpu, path, priority)


def _make_request(disk_gb: Optional[Amount], mem_gb: Optional[Amount], gpu_gb: Optional[Amount], cpu: Optional[Amount],
                  path: Optional[str], priority: Union[int, str, OperationPriority]) -> _Request:
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path: expected a directory, got {path!r}")
    return _Request(
        cpu_milli=_milli(cpu, "cpu"),
        memory=_bytes(mem_gb, "memory"),
        disk=_bytes(disk_gb, "disk"),
        gpu_memory=_bytes(gpu_gb, "gpu memory"),
        paths=(os.fspath(path),) if path is not None else (),
        priority=_priority(priority),
    )


# Requests repeat (the same check in a loop); converting them once keeps can_proceed() in microseconds.
_request_cached = functools.lru_cache(maxsize=512, typed=True)(_make_request)


def _category(resource_id: str) -> str:
    return resource_id.split(":", 1)[0]


def _decide(req: _Request, checked: Sequence[str], gpu_any: bool = False) -> Tuple[bool, List[str]]:
    """The guard's decision restricted to the resource kinds in `checked` (cpu, memory, disk, gpu).

    With ``gpu_any`` (a GPU check without an amount) the GPUs are checked at 1 byte, and a host without
    a GPU passes that check.
    """
    probe_any = gpu_any and req.gpu_memory == 0
    if probe_any:
        req = req._replace(gpu_memory=1)
    go, reasons, waiting, gpus, warnings = _g().decide(*req)
    if go:
        for w in warnings:  # seed 004, level 1: "log warning, continue"
            logger.warning("%s", w)
        return True, []
    kept = [r for r, w in zip(reasons, waiting)
            if _category(w) in checked and not (probe_any and gpus == 0 and _category(w) == "gpu")]
    return not kept, kept


def check_disk_space(required_gb: Amount = 2.0, path: str = ".") -> bool:
    """True when ``required_gb`` more on ``path``'s file system stays within the disk limit (70 %)."""
    return _decide(_request(disk_gb=required_gb, path=path), ("disk",))[0]


def check_memory(required_gb: Amount = 1.0) -> bool:
    """True when ``required_gb`` more memory stays within the memory limit (80 %; cgroup-aware)."""
    return _decide(_request(mem_gb=required_gb, path=None), ("memory",))[0]


def check_cpu(required_cores: Amount = 0.0) -> bool:
    """True when CPU utilisation (plus ``required_cores``) stays within the cpu limit (80 %)."""
    return _decide(_request(cpu=required_cores, path=None), ("cpu",))[0]


def check_gpu_memory(required_gb: Amount = 1.0) -> bool:
    """True when one GPU has ``required_gb`` of memory free within the gpu limit (80 %).

    A host without a GPU answers False for a positive amount (as ``allot guard check --gpu-memory``).
    """
    req = _request(gpu_gb=required_gb, path=None)
    return _decide(req, ("gpu",), gpu_any=req.gpu_memory == 0)[0]


def can_proceed(
    check_disk: bool = True,
    check_mem: bool = True,
    check_gpu: bool = False,
    check_cpu: bool = True,
    disk_required_gb: Amount = 0.0,
    mem_required_gb: Amount = 0.0,
    gpu_required_gb: Amount = 0.0,
    cpu_required: Amount = 0.0,
    path: str = ".",
    priority: Union[int, OperationPriority] = OperationPriority.NORMAL,
) -> bool:
    """All resource checks at once: True when the work may start now.

    Each enabled check needs its resource to fit the request within its limit and a degradation level
    that lets ``priority`` start (levels 0-2 all, 3 NORMAL and above, 4 none, unless configured). ``check_gpu`` without ``gpu_required_gb`` checks the GPUs there are
    (a host without one passes it).
    """
    req = _request(disk_gb=disk_required_gb, mem_gb=mem_required_gb, gpu_gb=gpu_required_gb if check_gpu else 0,
                   cpu=cpu_required, path=path if check_disk else None, priority=priority)
    checked = [k for k, on in (("cpu", check_cpu), ("memory", check_mem), ("disk", check_disk), ("gpu", check_gpu)) if on]
    return _decide(req, checked, gpu_any=check_gpu)[0]


def wait_for_resources(
    timeout: float = 300.0,
    disk_required_gb: Amount = 0.0,
    mem_required_gb: Amount = 0.0,
    gpu_required_gb: Amount = 0.0,
    cpu_required: Amount = 0.0,
    path: str = ".",
    priority: Union[int, OperationPriority] = OperationPriority.NORMAL,
) -> bool:
    """Blocks (exponential backoff with jitter, 0.5 s doubling to 30 s) until the request may proceed.

    True once it may, False when ``timeout`` seconds pass first (as ``allot guard wait``).
    """
    req = _request(disk_required_gb, mem_required_gb, gpu_required_gb, cpu_required, path, priority)
    d = _g().wait(*req, timeout=_timeout(timeout))
    if not d["go"]:
        logger.warning("resources not available after %.1f s: %s", timeout, "; ".join(d["reasons"]))
    return bool(d["go"])


def require_resources(
    disk_required_gb: Amount = 0.0,
    mem_required_gb: Amount = 0.0,
    gpu_required_gb: Amount = 0.0,
    cpu_required: Amount = 0.0,
    path: str = ".",
    priority: Union[int, OperationPriority] = OperationPriority.NORMAL,
    timeout: float = 0.0,
) -> bool:
    """Returns True when the request may proceed (waiting up to ``timeout``), else raises
    ResourceUnavailableError carrying the guard's reasons."""
    req = _request(disk_required_gb, mem_required_gb, gpu_required_gb, cpu_required, path, priority)
    d = _g().wait(*req, timeout=_timeout(timeout)) if timeout > 0 else _g().evaluate(*req)
    if not d["go"]:
        raise ResourceUnavailableError("resources not available: " + "; ".join(d["reasons"]), d["reasons"])
    return True


def _timeout(t: Optional[float]) -> float:
    if t is None:
        return 1e7
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not t >= 0:
        raise ValueError(f"timeout: expected seconds >= 0, got {t!r}")
    return float(min(t, 1e7))


def get_resource_status(path: Optional[str] = None) -> Dict[str, Any]:
    """The host's status as ``allot guard status --json`` prints it, plus ``degradation_level`` and the
    entries of ``resources`` by kind: ``cpu``, ``memory``, ``disk`` (the first disk) and ``gpu`` (a list).

    Per resource: capacity and usage (cpu in millicores, the rest in bytes), used and limit percentages,
    headroom, state (ok / warn / over) and level 0-4; disks for ``path`` (or the configured paths, or /).
    """
    doc = json.loads(_g().status_json([path] if path else []))
    if isinstance(doc, dict):
        doc.setdefault("degradation_level", get_degradation_level())
        res = doc.get("resources", [])
        for kind in ("cpu", "memory"):
            doc[kind] = next((r for r in res if r.get("resource") == kind), None)
        doc["disk"] = next((r for r in res if r.get("resource") == "disk"), None)
        doc["gpu"] = [r for r in res if r.get("resource") == "gpu"]
    return doc


def print_resource_status(path: Optional[str] = None) -> None:
    """Prints the status table of ``allot guard status``."""
    print(_g().status_table([path] if path else []), end="")


def get_degradation_level() -> int:
    """The host's degradation level 0-4 now (the highest of cpu, memory, the watched disks and the GPUs)."""
    return int(_g().level())


def get_scale_factor() -> float:
    """The share of its normal amount of work a job should do at the host's level now: 1, 1, 0.5, 0.25, 0
    for levels 0-4 (seed 004: reduce by 50 % at level 2, by 75 % at level 3), or as configured."""
    return float(_g().scale_factor())


def should_proceed_with_priority(priority: Union[int, OperationPriority]) -> bool:
    """True when work of ``priority`` may start at the host's current degradation level (levels 0-2: all,
    3: NORMAL and above, 4: none, unless configured otherwise)."""
    return bool(_g().should_proceed(_priority(priority)))


def get_recommended_actions(path: Optional[str] = None) -> List[str]:
    """Actionable lines (``allot guard recommend``): one per resource at or above its warn threshold."""
    return list(_g().recommendations([path] if path else []))


def get_host_tier() -> HostTier:
    """This machine's tier (by memory and GPU presence), whatever tier the guard is configured with."""
    st = _g().status([], True)
    mem = next((r["capacity"] for r in st["resources"] if r["resource"] == "memory"), 0)
    return HostTier(_guard.resolve_tier("auto", int(mem), st["gpus"] > 0))


class ResourceGuard:
    """Context manager for a resource-safe operation: ``with ResourceGuard(...) as guard: if guard.ok:``.

    On entry it checks (waiting up to ``timeout`` seconds, default 0: once) and, when the request fits,
    holds its amounts in the guard until exit, so that other checks of this process count them before the
    work has allocated them. ``ok`` says which; ``reasons`` says why not.
    """

    def __init__(
        self,
        disk_required_gb: Amount = 0.0,
        mem_required_gb: Amount = 0.0,
        gpu_required_gb: Amount = 0.0,
        cpu_required: Amount = 0.0,
        path: str = ".",
        priority: Union[int, OperationPriority] = OperationPriority.NORMAL,
        timeout: float = 0.0,
    ) -> None:
        self._req = _request(disk_required_gb, mem_required_gb, gpu_required_gb, cpu_required, path, priority)
        self._timeout = _timeout(timeout)
        self._hold: Any = None
        self.ok = False
        self.reasons: List[str] = []

    def __enter__(self) -> "ResourceGuard":
        got = _g().acquire(*self._req, timeout=self._timeout)
        if isinstance(got, str):
            self.ok, self.reasons = False, [got]
        else:
            self._hold, self.ok, self.reasons = got, True, []
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._hold is not None:
            self._hold.release()
            self._hold = None


class AsyncResourceLimiter:
    """Async limiter: ``async with limiter.acquire("name"):`` waits, with exponential backoff and jitter
    on the event loop (never blocking it), until the request fits, then holds it until the block ends.

    ``max_concurrent`` also caps how many blocks run at once; ``timeout`` (seconds, None: forever) raises
    ResourceUnavailableError when passed. Backoff delay k is min(max_backoff, initial_backoff * 2**k) *
    (0.5 + random / 2), as ``allot guard wait``.
    """

    def __init__(
        self,
        disk_required_gb: Amount = 0.0,
        mem_required_gb: Amount = 0.0,
        gpu_required_gb: Amount = 0.0,
        cpu_required: Amount = 0.0,
        path: str = ".",
        priority: Union[int, OperationPriority] = OperationPriority.NORMAL,
        max_concurrent: Optional[int] = None,
        timeout: Optional[float] = None,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self._req = _request(disk_required_gb, mem_required_gb, gpu_required_gb, cpu_required, path, priority)
        if max_concurrent is not None and (isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1):
            raise ValueError(f"max_concurrent: expected an integer >= 1, got {max_concurrent!r}")
        if not (0 < initial_backoff <= max_backoff):
            raise ValueError("backoff: need 0 < initial_backoff <= max_backoff")
        self._timeout = None if timeout is None else _timeout(timeout)
        self._max_concurrent = max_concurrent
        self._sem: Optional[asyncio.Semaphore] = None
        self._initial = float(initial_backoff)
        self._max = float(max_backoff)
        self.active: Dict[str, int] = {}
        self.waits = 0

    @contextlib.asynccontextmanager
    async def acquire(self, name: str = "") -> AsyncIterator["AsyncResourceLimiter"]:
        """Waits for the resources, holds them for the block, then gives them back."""
        if self._max_concurrent is not None and self._sem is None:
            self._sem = asyncio.Semaphore(self._max_concurrent)
        loop = asyncio.get_running_loop()
        deadline = None if self._timeout is None else loop.time() + self._timeout
        if self._sem is not None:
            await (self._sem.acquire() if deadline is None else asyncio.wait_for(self._sem.acquire(), self._timeout))
        try:
            hold = await _hold_with_backoff(self._req, deadline, self._initial, self._max, name, self)
            self.active[name] = self.active.get(name, 0) + 1
            try:
                yield self
            finally:
                hold.release()
                self.active[name] -= 1
                if not self.active[name]:
                    del self.active[name]
        finally:
            if self._sem is not None:
                self._sem.release()


async def _hold_with_backoff(req: _Request, deadline: Optional[float], initial: float, maximum: float, name: str,
                             counter: Optional[AsyncResourceLimiter] = None) -> Any:
    loop = asyncio.get_running_loop()
    k = 0
    while True:
        got = _g().acquire(*req, timeout=0.0)
        if not isinstance(got, str):
            return got
        delay = min(maximum, initial * (2 ** min(k, 30))) * (0.5 + random.random() / 2)
        k += 1
        now = loop.time()
        if deadline is not None:
            if now >= deadline:
                reasons = [got]
                raise ResourceUnavailableError(f"{name or 'operation'}: resources not available: " + "; ".join(reasons), reasons)
            delay = min(delay, deadline - now)
        if counter is not None:
            counter.waits += 1
        logger.info("%s: waiting %.1f s for resources: %s", name or "operation", delay, got)
        await asyncio.sleep(delay)


F = TypeVar("F", bound=Callable[..., Any])


def respect_resource_limits(
    disk_gb: Amount = 0.0,
    mem_gb: Amount = 0.0,
    gpu_gb: Amount = 0.0,
    cpu: Amount = 0.0,
    path: str = ".",
    priority: Union[int, OperationPriority] = OperationPriority.NORMAL,
    timeout: Optional[float] = 300.0,
) -> Callable[[F], F]:
    """Decorator: each call first waits (up to ``timeout`` seconds, None: forever) until the resources fit,
    then runs the function while holding them; past the timeout it raises ResourceUnavailableError.

    Works for plain functions (a blocking wait, GIL released) and ``async def`` ones (backoff on the loop).
    """
    req = _request(disk_gb, mem_gb, gpu_gb, cpu, path, priority)
    t = None if timeout is None else _timeout(timeout)

    def wrap(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                loop = asyncio.get_running_loop()
                hold = await _hold_with_backoff(req, None if t is None else loop.time() + t, 0.5, 30.0, fn.__name__)
                try:
                    return await fn(*args, **kwargs)
                finally:
                    hold.release()

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            got = _g().acquire(*req, timeout=1e7 if t is None else t)
            if isinstance(got, str):
                reasons = [got]
                raise ResourceUnavailableError(f"{fn.__name__}: resources not available: " + "; ".join(reasons), reasons)
            try:
                return fn(*args, **kwargs)
            finally:
                got.release()

        return run  # type: ignore[return-value]

    return wrap
