"""The SQLite store's dense search: each user's vectors held in memory as one float32
matrix (decoded from the int8 rows once, then appended to on adds), scanned with
:mod:`remem._dense` -- exactly in small scopes, through sign bits in large ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import math

import numpy as np

from .dense import EXACT_MAX, SignCodes, top_k
from ...types import Scope
from ...errors import StoreError
from ..sql import UNRANKED_SQL
from ..columns import Columns, scope_mask


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


@dataclass
class _VectorCache:
    """A snapshot of a user's vectors: views of the first rows of ``columns``, which
    later adds extend without touching them."""

    model: str
    columns: Columns  # id, agent, session, vector
    signs: SignCodes | None = None  # sign bits of the rows, once the scope is large

    def __post_init__(self) -> None:
        c = self.columns
        self.ids, self.agents, self.sessions = c["id"], c["agent"], c["session"]
        self.matrix: np.ndarray = c["vector"]  # float32 (n, dim)
        self._positions: dict[str, int] | None = None

    def mask(self, scope: Scope, allowed: set[str] | None) -> np.ndarray | None:
        return scope_mask(scope, lambda: self.agents, lambda: self.sessions, self.ids, allowed)

    def positions(self) -> dict[str, int]:
        """Row of each id (built once per snapshot)."""
        if self._positions is None:
            self._positions = {d: i for i, d in enumerate(self.ids)}
        return self._positions


class VectorMixin:
    _lock: Any
    _q: Any
    _incremental: Any
    _cache: dict[str, Any]
    _used: Any

    def dense(self, scope: Scope, vector: np.ndarray, embed_model: str, limit: int,
              allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Cosine similarity (vectors are unit length), best first."""
        with self._lock:
            cache = self._vectors(scope.user_id, embed_model)
            self._used(scope.user_id, len(cache.ids))
            if not len(cache.ids):
                return []
            signs = None
            if len(cache.ids) > EXACT_MAX:
                if cache.signs is None or cache.signs.stale(len(cache.ids)):
                    cache.signs = SignCodes(cache.matrix)
                cache.signs.extend(cache.matrix)
                signs = cache.signs
            hits = top_k(cache.matrix, vector.astype(np.float32), limit,
                         cache.mask(scope, allowed), signs)
            return [(cache.ids[i], s) for i, s in hits]

    def vectors(self, scope: Scope, embed_model: str) -> tuple[list[str], np.ndarray]:
        """Ids and unit vectors of the scope's active memories embedded by the model (from
        the search cache)."""
        cache = self._vectors(scope.user_id, embed_model)
        keep = cache.mask(scope, None)
        rows = np.arange(len(cache.ids)) if keep is None else np.nonzero(keep)[0]
        if not len(rows):
            return [], np.zeros((0, 1), np.float32)
        return [cache.ids[i] for i in rows], cache.matrix[rows]

    def vectors_of(self, user_id: str, ids: Sequence[str],
                   embed_model: str) -> dict[str, np.ndarray]:
        """Unit vectors of these of the user's active memories that the model embedded
        (from the search cache)."""
        with self._lock:
            cache = self._vectors(user_id, embed_model)
            pos = cache.positions()
            return {i: cache.matrix[pos[i]] for i in ids if i in pos}

    def _vectors(self, user_id: str, model: str) -> _VectorCache:
        """Vectors of a user's active memories, cached; refreshed incrementally on adds."""
        def load(mark: int, old: _VectorCache | None) -> _VectorCache:
            rows = self._q(
                "SELECT m.id, m.agent_id, m.session_id, v.data FROM memories m "
                # "+m.user_id": walk the rowid range, not the user's whole index range
                "JOIN vectors v ON v.memory_rowid = m.rowid WHERE +m.user_id=? "
                "AND m.status='active' AND m.embed_model=? AND m.rowid > ? "
                f"AND m.type NOT IN {UNRANKED_SQL} ORDER BY m.rowid",
                (user_id, model, mark))
            columns = old.columns if old is not None else Columns(
                {"id": object, "agent": object, "session": object, "vector": np.float32})
            if rows:
                columns.extend({"id": [r[0] for r in rows], "agent": [r[1] for r in rows],
                                "session": [r[2] for r in rows],
                                "vector": decode_int8_rows([r[3] for r in rows])})
            return _VectorCache(model, columns, old.signs if old is not None else None)

        return self._incremental(self._cache, user_id, lambda: load(0, None), lambda old, mark: load(mark, old),
                                 fits=lambda cache: cache.model == model)
