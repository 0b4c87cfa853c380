"""The limits every door checks, in one place: what a stored value may look like so that
every later read can render it. ``Memory.add`` / ``update``, the JSONL import (CLI, REST,
Python), MCP and the chat proxy all call these; the store calls ``degrade`` on every row
it reads back, so a row written before a limit existed is shown degraded, not fatal.

Pure functions over plain values; the base layer (any module may import it)."""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import replace
from datetime import date
from typing import Any, Mapping

import numpy as np

from .errors import InvalidInput

# what the engine can turn back into a date: 0001-01-01 .. 9999-12-31 UTC
MIN_TIME, MAX_TIME = -62_135_596_800.0, 253_402_300_799.0
MAX_METADATA_BYTES = 64_000
MAX_METADATA_DEPTH = 32  # nesting of dicts and lists (a flat dict is depth 1)
MAX_JSON_DEPTH = 64  # a whole import line

log = logging.getLogger("remem")


def json_depth(value: Any, limit: int) -> int:
    """The nesting depth of dicts and lists in ``value``, counted without recursion and
    without looking deeper than ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, Mapping):
            items: Any = v.values()
        elif isinstance(v, (list, tuple)):
            items = v
        else:
            continue
        deepest = max(deepest, d)
        if d > limit:
            return d
        stack.extend((x, d + 1) for x in items)
    return deepest


def has_nul(value: Any) -> bool:
    """Whether a NUL character is in any key or string of ``value`` (no recursion)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return True
        elif isinstance(v, Mapping):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return False


def check_epoch(value: Any, what: str, *, optional: bool = False) -> float | None:
    """Epoch seconds a date can be made of: finite, years 1..9999 UTC."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{what} must be epoch seconds, got {type(value).__name__}")
    if not (math.isfinite(value) and MIN_TIME <= value <= MAX_TIME):
        raise InvalidInput(f"{what} is out of range (years 1-9999 UTC): {value!r}")
    return float(value)


def check_metadata(metadata: Any, what: str = "metadata") -> dict[str, Any]:
    """A JSON object of at most ``MAX_METADATA_BYTES`` and ``MAX_METADATA_DEPTH`` levels,
    valid Unicode, no NaN or infinity. Returns a plain copy (``{}`` for ``None``)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput(f"{what} must be a dict, got {type(metadata).__name__}")
    if json_depth(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:
        raise InvalidInput(f"{what} is nested deeper than {MAX_METADATA_DEPTH} levels")
    if has_nul(metadata):  # every store must keep it (PostgreSQL's jsonb cannot)
        raise InvalidInput(f"{what} must not contain NUL characters")
    try:
        text = json.dumps(dict(metadata), allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} contains text that is not valid Unicode (lone surrogate)") from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{what} must be JSON-serialisable: {exc}") from None
    if len(text) > MAX_METADATA_BYTES:
        raise InvalidInput(f"{what} is larger than {MAX_METADATA_BYTES // 1000} KB")
    return json.loads(text)  # type: ignore[no-any-return]


def check_dates(value: Any, what: str = "dates") -> tuple[tuple[str, str, str], ...]:
    """Resolved dates: ``[first ISO day, last ISO day, the words]`` triples."""
    if not isinstance(value, (list, tuple)):
        raise InvalidInput(f"{what} must be a list")
    out = []
    for i, d in enumerate(value):
        if not (isinstance(d, (list, tuple)) and len(d) == 3 and all(isinstance(x, str) for x in d)):
            raise InvalidInput(f"{what}[{i}] must be [first day, last day, words]")
        try:
            date.fromisoformat(d[0]), date.fromisoformat(d[1])
        except ValueError:
            raise InvalidInput(f"{what}[{i}] must start with two ISO dates (YYYY-MM-DD)") from None
        out.append((d[0], d[1], d[2]))
    return tuple(out)


def check_vector(vec: Any, what: str = "embedding") -> np.ndarray:
    """A 1-d vector of finite numbers (an infinity cannot be quantised or ranked)."""
    arr = np.asarray(vec, dtype=np.float32)
    if arr.ndim != 1 or not arr.size:
        raise InvalidInput(f"{what} must be a non-empty vector")
    if not np.isfinite(arr).all():
        raise InvalidInput(f"{what} holds NaN or infinite values")
    return arr


# -- defence in depth: rows that slipped in before a limit existed ---------------------
_lock = threading.Lock()
_seen: set[str] = set()
DEGRADED = {"rows": 0}  # rows read back degraded since start (``degraded_count()``)


def degraded_count() -> int:
    return DEGRADED["rows"]


def degrade(m: Any) -> Any:
    """A ``MemoryRecord`` as it can be rendered: out-of-range times clamped (required) or
    dropped (optional), unreadable metadata replaced by ``{"remem_degraded": ...}``,
    malformed resolved dates dropped. A record that needs none of it is returned as is;
    one that does is logged once (per id) and counted."""
    problems: list[str] = []
    fix: dict[str, Any] = {}
    for name in ("created_at", "updated_at"):
        v = getattr(m, name)
        if not _in_range(v):
            problems.append(name)
            fix[name] = min(max(v, MIN_TIME), MAX_TIME) if isinstance(v, (int, float)) \
                and not math.isnan(v) else 0.0
    for name in ("event_time", "valid_from", "valid_to", "last_access"):
        v = getattr(m, name)
        if v is not None and not _in_range(v):
            problems.append(name)
            fix[name] = None
    meta = m.metadata
    if not isinstance(meta, Mapping) or json_depth(meta, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:
        problems.append("metadata")
        fix["metadata"] = {"remem_degraded": "metadata could not be shown"}
    good = []
    for d in m.dates:
        try:
            check_dates([d])
            good.append(tuple(d))
        except InvalidInput:
            pass
    if len(good) != len(m.dates):
        problems.append("dates")
        fix["dates"] = tuple(good)
    if not problems:
        return m
    with _lock:
        DEGRADED["rows"] += 1
        first = m.id not in _seen
        if first and len(_seen) < 100_000:
            _seen.add(m.id)
    if first:
        log.warning("memory %s is stored with unreadable %s; shown degraded",
                    m.id, ", ".join(problems))
    return replace(m, **fix)


def _in_range(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
        and MIN_TIME <= v <= MAX_TIME
