"""Small helpers shared by store implementations. Pure functions."""

from __future__ import annotations

import base64
import math
import re
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import InvalidInput, StoreError
from ..types import MemoryRecord, Scope

_FILTER_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")


def encode_vector(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype=np.float16).tobytes()


def decode_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


def encode_int8(v: np.ndarray) -> bytes:
    """A unit vector as a float32 scale and one signed byte per component (the SQLite
    store's on-disk form: half the size of float16, cosine to the original > 0.9998).
    The scale is a power of two, so the values it decodes to are exact in float16: a
    vector exported (as float16) and imported again decodes to the very same numbers."""
    v = np.asarray(v, dtype=np.float32)
    peak = float(np.abs(v).max()) if v.size else 0.0
    scale = 2.0 ** math.ceil(math.log2(peak / 127.0)) if peak > 0 else 1.0
    q = np.clip(np.rint(v / scale), -127, 127).astype(np.int8)
    return np.float32(scale).tobytes() + q.tobytes()


def decode_int8(blob: bytes) -> np.ndarray:
    """The inverse of ``encode_int8``."""
    v = np.frombuffer(blob, dtype=np.int8, offset=4).astype(np.float32)
    return v * np.frombuffer(blob, dtype=np.float32, count=1)[0]


def decode_int8_rows(blobs: Sequence[bytes]) -> np.ndarray:
    """``decode_int8`` of many blobs at once, as a float32 matrix (rows of one length)."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    width = len(blobs[0])
    if any(len(b) != width for b in blobs):
        raise StoreError("stored vectors of one embedding model differ in dimension")
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), width)
    scales = np.ascontiguousarray(raw[:, :4]).view(np.float32)
    return raw[:, 4:].view(np.int8).astype(np.float32) * scales


# written by maintenance (``remem.maintain``): not ranked by lexical, vector or graph
# search in any store, so they never shift the statistics turns are ranked by
UNRANKED_TYPES = ("summary", "profile")
UNRANKED_SQL = "(" + ", ".join(f"'{t}'" for t in UNRANKED_TYPES) + ")"  # for NOT IN


def scope_sql(scope: Scope, alias: str = "", mark: str = "?") -> tuple[str, list[Any]]:
    """The WHERE condition (with ``mark`` placeholders) and arguments that confine a
    query to ``scope``; ``alias`` qualifies the columns."""
    p = f"{alias}." if alias else ""
    sql, args = f"{p}user_id = {mark}", [scope.user_id]
    if scope.agent_id is not None:
        sql += f" AND {p}agent_id = {mark}"
        args.append(scope.agent_id)
    if scope.session_id is not None:
        sql += f" AND {p}session_id = {mark}"
        args.append(scope.session_id)
    return sql, args


def memory_export(m: MemoryRecord, *, embedding: bytes | None,
                  embed_model: str | None) -> dict[str, Any]:
    """One memory as an export record (the JSONL ``memory`` row), for every store."""
    return {"kind": "memory", "id": m.id, "user_id": m.scope.user_id,
            "agent_id": m.scope.agent_id, "session_id": m.scope.session_id,
            "text": m.text, "keys": m.keys, "type": m.type, "speaker": m.speaker,
            "source_ids": list(m.source_ids), "episode_ids": list(m.episode_ids),
            "created_at": m.created_at, "updated_at": m.updated_at,
            "event_time": m.event_time, "importance": m.importance,
            "metadata": dict(m.metadata), "status": m.status,
            "dates": [list(d) for d in m.dates], "entities": list(m.entities),
            "valid_from": m.valid_from, "valid_to": m.valid_to,
            "superseded_by": m.superseded_by, "access_count": m.access_count,
            "last_access": m.last_access,
            "embedding": base64.b64encode(embedding).decode() if embedding is not None else None,
            "embed_model": embed_model}


def memory_from_export(r: Mapping[str, Any]) -> MemoryRecord:
    """The inverse of ``memory_export`` (the vector is stored apart)."""
    return MemoryRecord(
        id=r["id"], scope=Scope(r["user_id"], r["agent_id"], r["session_id"]), text=r["text"],
        type=r["type"], source_ids=tuple(r["source_ids"]), episode_ids=tuple(r["episode_ids"]),
        created_at=r["created_at"], updated_at=r["updated_at"], event_time=r["event_time"],
        speaker=r["speaker"], keys=r["keys"], importance=r["importance"], metadata=r["metadata"],
        status=r["status"], dates=tuple(tuple(d) for d in r["dates"]), entities=tuple(r["entities"]),
        valid_from=r["valid_from"], valid_to=r["valid_to"], superseded_by=r["superseded_by"],
        access_count=r["access_count"], last_access=r["last_access"])


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


def scope_mask(scope: Scope, agents: Callable[[], np.ndarray],
               sessions: Callable[[], np.ndarray], ids: Sequence[str],
               allowed: set[str] | None) -> np.ndarray | None:
    """Which rows of a user's in-memory index lie in ``scope`` (agent, session) and in
    ``allowed``; ``None`` when all do. ``agents``/``sessions`` give the per-row values
    (called only when the scope names them)."""
    mask = None
    if scope.agent_id is not None:
        mask = agents() == scope.agent_id
    if scope.session_id is not None:
        m2 = sessions() == scope.session_id
        mask = m2 if mask is None else mask & m2
    if allowed is not None:
        m3 = np.fromiter((i in allowed for i in ids), bool, len(ids))
        mask = m3 if mask is None else mask & m3
    return mask


class Columns:
    """Append-only columns in numpy arrays with spare capacity: unlike lists and dicts
    of 100k entries, arrays are not walked by Python's garbage collector. A column may
    hold rows of several values (a vector per row): its width is taken from the first
    rows added. Views handed out earlier keep their rows: appends go to spare capacity
    or to a new, larger array."""

    def __init__(self, dtypes: dict[str, Any]) -> None:
        self.n = 0
        self._data = {k: np.empty(0, dtype=dt) for k, dt in dtypes.items()}

    def extend(self, columns: dict[str, Any]) -> None:
        m = len(next(iter(columns.values())))
        need = self.n + m
        for name, values in columns.items():
            data = self._data[name]
            values = np.asarray(values, dtype=data.dtype)
            if need > len(data) or (not self.n and data.shape[1:] != values.shape[1:]):
                # an eighth spare at least (a first bulk load), half as much again later
                size = max(need + need // 8 + 64, len(data) * 3 // 2)
                grown = np.empty((size, *values.shape[1:]), dtype=data.dtype)
                if self.n:
                    grown[:self.n] = data[:self.n]
                data = self._data[name] = grown
            data[self.n:need] = values
        self.n = need

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name][:self.n]
