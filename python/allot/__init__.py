"""allot from Python.

* :mod:`allot.client` — the server: ``Client`` (synchronous) and ``ResourceManager`` (asyncio) with seed
  001's names: ``ResourceRequest``, ``Priority``, ``allocate_resources``, ``set_quota``, ...
* :mod:`allot.guard` — the host resource guard (seed 004's ``resource_guard``), native over allot's C++
  guard library.

``from allot import ResourceManager, ResourceRequest, Priority`` needs only the standard library;
``allot.guard`` loads the native extension on import. See docs/python.md.
"""

from .client import (AllocationResult, Client, HistoryEvent, QuotaUsage, RateLimitDecision, Reservation,
                     ResourceManager, ResourceUsage, UtilizationMetrics)
from .errors import AllotConnectionError, AllotError
from .models import Priority, ResourceRequest

__version__ = "0.1.0"

__all__ = [
    "AllocationResult", "AllotConnectionError", "AllotError", "Client", "HistoryEvent", "Priority", "QuotaUsage",
    "RateLimitDecision", "Reservation", "ResourceManager", "ResourceRequest", "ResourceUsage", "UtilizationMetrics",
]
