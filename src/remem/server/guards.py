"""Input checks the server adds in front of the engine (shared by REST and MCP)."""

from __future__ import annotations

import math
from typing import Any

from .._ingest import parse_time
from ..errors import InvalidInput

# what the engine can turn back into a date: 0001-01-01 .. 9999-12-31 UTC
MIN_TIME, MAX_TIME = -62_135_596_800, 253_402_300_799


def check_time(value: Any, what: str) -> Any:
    """Reject times the engine accepts but cannot represent later: an ISO string whose UTC
    offset moves it before year 1 or past year 9999 (``Memory.add`` would fail with a
    ``ValueError``). Returns ``value`` unchanged."""
    t = parse_time(value, what)
    if t is not None and not (math.isfinite(t) and MIN_TIME <= t <= MAX_TIME):
        raise InvalidInput(f"{what} is out of range (years 1-9999 UTC): {value!r}")
    return value
