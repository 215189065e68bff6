"""Units between seed 001's Python API and allot's HTTP API.

A bare number follows seed 001's units: cpu in cores, memory and disk in GB (2**30 bytes, as a Kubernetes
``Gi``), gpu in devices (fractions are shares: 0.5 is ``500m``), ``api_quota`` in requests per hour,
network in Mbit/s, any other resource in counts. A string is a Kubernetes quantity (``"8Gi"``, ``"500m"``)
in allot's base units and is checked here, before any request is sent. Answers come back in the same
seed units (cpu cores, GB, devices).
"""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Dict, Mapping, Optional, Tuple, Union

Number = Union[int, float]
Amount = Union[int, float, str]

GIB = 1 << 30
API_QUOTA = "api_quota"

# Seed names (and allot's aliases) to allot's canonical resource names.
_ALIASES = {
    "disk": "ephemeral-storage",
    "storage": "ephemeral-storage",
    "mem": "memory",
    "gpus": "gpu",
    "nvidia.com/gpu": "gpu",
}
# Seed name of a canonical resource, for answers.
_SEED_NAMES = {"ephemeral-storage": "disk"}

_QUANTITY = re.compile(r"^\+?(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10**3), "M": Decimal(10**6),
            "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18)}
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$")
_TENANT_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")
_DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+$")


def canonical(name: str) -> str:
    """allot's name of a resource ("disk" -> "ephemeral-storage")."""
    return _ALIASES.get(name, name)


def seed_name(name: str) -> str:
    """Seed 001's name of a canonical resource ("ephemeral-storage" -> "disk")."""
    return _SEED_NAMES.get(name, name)


def parse_quantity(text: str, what: str) -> Decimal:
    """The exact value of a Kubernetes quantity; ValueError naming `what` when it is not one."""
    m = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{what}: {text!r} is not a quantity (e.g. \"8Gi\", \"500m\", \"2\")")
    try:
        v = Decimal(m.group("num"))
    except InvalidOperation:
        raise ValueError(f"{what}: {text!r} is not a quantity") from None
    s = m.group("suffix") or ""
    if s in _BINARY:
        v *= _BINARY[s]
    elif s in _DECIMAL:
        v *= _DECIMAL[s]
    elif s:
        v = v.scaleb(int(s[1:]))
    return v


def _check_number(value: object, what: str) -> Number:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what}: expected a number or a quantity string, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what}: must be finite, got {value!r}")
    if value < 0:
        raise ValueError(f"{what}: must not be negative, got {value!r}")
    return value


def wire_amount(name: str, value: Amount, what: str) -> str:
    """One amount as the server reads it (a quantity string), from seed units or a quantity string."""
    res = canonical(name)
    if isinstance(value, str):
        parse_quantity(value, what)
        return value.strip()
    v = Decimal(repr(_check_number(value, what))) if isinstance(value, float) else Decimal(_check_number(value, what))
    if res in ("memory", "ephemeral-storage"):
        return str(int((v * GIB).to_integral_value(rounding="ROUND_CEILING")))
    if res in ("cpu", "gpu"):
        return str(int((v * 1000).to_integral_value(rounding="ROUND_CEILING"))) + "m"
    if res == "network":
        return str(int((v * 10**6).to_integral_value(rounding="ROUND_CEILING")))
    return str(int(v.to_integral_value(rounding="ROUND_CEILING")))


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{what}: {name!r} is not a resource name (letters, digits, '-', '_', '.', '/')")
    return name


def split_resources(resources: Mapping[str, Amount], what: str = "resources") -> Tuple[Dict[str, str], Optional[int]]:
    """(body resources for the server, api_quota in requests/hour or None); ValueError on bad input."""
    if not isinstance(resources, dict) and not isinstance(resources, Mapping):
        raise ValueError(f"{what}: expected a mapping of resource to amount, got {type(resources).__name__}")
    try:
        key = tuple((k, type(v), v) for k, v in resources.items())
        out, api = _split_cached(key, what)
    except TypeError:  # unhashable values: convert without the cache
        return _split(resources, what)
    return dict(out), api


def _split(resources: Mapping[str, Amount], what: str) -> Tuple[Dict[str, str], Optional[int]]:
    out: Dict[str, str] = {}
    api: Optional[int] = None
    for name, value in resources.items():
        check_name(name, what)
        if name == API_QUOTA:
            api = api_quota_units(value, f"{what}.{name}")
            continue
        res = canonical(name)
        if res in out:
            raise ValueError(f"{what}: {name!r} repeats another name of {res!r}")
        out[res] = wire_amount(res, value, f"{what}.{name}")
    return out, api


@functools.lru_cache(maxsize=1024)
def _split_cached(key: Tuple[Tuple[str, type, Amount], ...], what: str) -> Tuple[Dict[str, str], Optional[int]]:
    # Requests repeat (one agent asks for the same amounts again and again): convert each shape once.
    return _split({k: v for k, _, v in key}, what)


@functools.lru_cache(maxsize=1024)
def any_positive(amounts: Tuple[str, ...]) -> bool:
    """True when some wire amount is above zero."""
    return any(parse_quantity(v, "resources") > 0 for v in amounts)


def api_quota_units(value: Amount, what: str) -> int:
    """api_quota in whole requests per hour (a number, or a quantity string such as "10k")."""
    v = parse_quantity(value, what) if isinstance(value, str) else Decimal(repr(_check_number(value, what)))
    n = int(v.to_integral_value(rounding="ROUND_CEILING"))
    if n < 0:
        raise ValueError(f"{what}: must not be negative")
    return n


def from_wire(name: str, amount: Union[int, float]) -> Number:
    """A server amount (cpu millicores, bytes, devices, counts) in seed units."""
    if name == "cpu":
        v = amount / 1000.0
    elif name in ("memory", "ephemeral-storage"):
        v = amount / GIB
    elif name == "network":
        v = amount / 1e6
    else:
        return amount
    return int(v) if float(v).is_integer() else round(v, 6)


def resources_from_wire(body: Optional[Mapping[str, Union[int, float]]]) -> Dict[str, Number]:
    """A server resource map in seed names and units; gpu shares (gpu_milli) become fractional gpus."""
    if not body:
        return {}
    try:
        return dict(_from_wire_cached(tuple(body.items())))
    except TypeError:
        return _from_wire_map(body)


@functools.lru_cache(maxsize=1024)
def _from_wire_cached(items: Tuple[Tuple[str, Union[int, float]], ...]) -> Dict[str, Number]:
    return _from_wire_map(dict(items))


def _from_wire_map(body: Mapping[str, Union[int, float]]) -> Dict[str, Number]:
    out: Dict[str, Number] = {}
    for k, v in body.items():
        if k == "gpu_milli":
            continue
        out[seed_name(k)] = from_wire(k, v)
    if "gpu_milli" in body:
        g = body["gpu_milli"] / 1000.0
        out["gpu"] = int(g) if g.is_integer() else g
    return out


def check_tenant(path: object, what: str = "tenant") -> str:
    if not isinstance(path, str) or not path or len(path) > 253:
        raise ValueError(f"{what}: {path!r} is not a tenant path (segments of letters, digits, '-', '_', '.')")
    for seg in path.split("/"):
        if seg in ("", ".", "..") or not _TENANT_SEGMENT.match(seg):
            raise ValueError(f"{what}: {path!r} is not a tenant path (segments of letters, digits, '-', '_', '.')")
    return path


def wire_duration(value: object, what: str, allow_zero: bool = False) -> Union[float, str]:
    """Seconds (a number) or a duration string ("90s", "1h30m") as the server reads it."""
    if isinstance(value, str):
        if not _DURATION.match(value.strip()):
            raise ValueError(f"{what}: {value!r} is not a duration (seconds, or \"90s\", \"1h30m\", \"500ms\", \"2d\")")
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what}: expected seconds or a duration string, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{what}: must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")
    return value


def duration_seconds(value: Union[float, str]) -> float:
    """Seconds of a duration as wire_duration accepts it."""
    if not isinstance(value, str):
        return float(value)
    total = 0.0
    for num, unit in re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)", value):
        total += float(num) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    return total
