"""Small helpers shared by store implementations. Pure functions."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np

from ..errors import InvalidInput

_FILTER_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")


def encode_vector(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype=np.float16).tobytes()


def decode_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


def from_epoch(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def check_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a filter mapping: keys are ``type``, ``speaker`` or metadata keys; values
    are str/int/float/bool or a non-empty list of them (meaning "any of")."""
    if not isinstance(filters, Mapping):
        raise InvalidInput(f"filters must be a dict, got {type(filters).__name__}")
    out: dict[str, Any] = {}
    for key, value in filters.items():
        if not isinstance(key, str) or not _FILTER_KEY.match(key):
            raise InvalidInput(f"filter key {key!r} is not a valid name (letters, digits, _ . -)")
        values = value if isinstance(value, list) else [value]
        if not values:
            raise InvalidInput(f"filter {key!r} has an empty list")
        for v in values:
            if not isinstance(v, (str, int, float, bool)):
                raise InvalidInput(f"filter {key!r} value must be a scalar or list of scalars")
            if isinstance(v, int) and not -(2**63) <= v < 2**63:
                raise InvalidInput(f"filter {key!r} value is outside the 64-bit integer range")
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidInput(f"filter {key!r} value must be a finite number")
            if isinstance(v, str):
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    raise InvalidInput(f"filter {key!r} value is not valid Unicode text") from None
        out[key] = [int(v) if isinstance(v, bool) else v for v in values] if isinstance(value, list) \
            else (int(value) if isinstance(value, bool) else value)
    return out
