"""The PostgreSQL store's dense search: each worker holds a user's vectors in memory (a
:class:`..dense.VectorCache` per embedding model, ranked by :func:`..dense.rank` exactly
as in the SQLite store), kept current by the user's scope version (see ``caches``).
Vectors are stored on the int8 grid SQLite stores (``dense.on_grid``), so both stores
rank the same numbers. A large scope's vectors are saved for fresh workers
(``snapshots``). Lexical search is in ``lexical``."""

from __future__ import annotations

import struct
from typing import Any, Sequence

import numpy as np

from ...errors import StoreError
from ...types import Scope
from ..dense import (Grid, VectorCache, grid_columns, on_grid, rank, to_grid, vector_columns,
                     vectors_from_bytes, vectors_to_bytes)
from ..sql import UNRANKED_SQL
from .snapshots import Codec

_ROWS = ("SELECT rid, id, agent_id, session_id, vector_send(embedding) FROM memories "
         "WHERE user_id=%s AND status='active' AND embed_model=%s AND type NOT IN "
         + UNRANKED_SQL + " AND rid > %s ORDER BY rid")


class Vector:
    """A vector parameter on the int8 grid, sent in pgvector's binary form (registered
    on each connection: ``vector_dumper``). As text, 384 floats cost ~0.2 ms of Python
    per memory written, most of what an add spent in the store."""

    __slots__ = ("values",)

    def __init__(self, v: np.ndarray) -> None:
        self.values = on_grid(v)[0]


def vector_dumper(oid: int) -> type:
    """The psycopg dumper of :class:`Vector` for the database's ``vector`` type."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class VectorDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: Vector) -> bytes:  # int16 dimension, int16 unused, float4s
            v = obj.values
            return struct.pack(">HH", len(v), 0) + v.astype(">f4").tobytes()

    VectorDumper.oid = oid
    return VectorDumper


def _vec(v: np.ndarray) -> Vector:
    return Vector(v)


def _grid(blobs: Sequence[bytes]) -> Grid:
    """pgvector's binary form (int16 dimension, int16 unused, big-endian float4s) of
    rows of one dimension, on the int8 grid."""
    width = len(blobs[0])
    if any(len(b) != width for b in blobs):
        raise StoreError("stored vectors of one embedding model differ in dimension")
    raw = np.frombuffer(b"".join(blobs), dtype=">f4").reshape(len(blobs), width // 4)
    return to_grid(raw[:, 1:].astype(np.float32))


def vector_codec(model: str) -> Codec:
    """Saved vectors (``dense.vectors_to_bytes``) of one model, with their row id mark."""
    def decode(blob: bytes, mark: int) -> tuple[VectorCache, int]:
        cache = vectors_from_bytes(blob)
        if cache.model != model:
            raise ValueError(f"saved vectors are of {cache.model!r}, not {model!r}")
        return cache, mark

    return Codec(lambda value: (vectors_to_bytes(value[0]), value[1]), decode)


class SearchMixin:
    """``dense``, ``vectors`` and ``vectors_of`` for ``PostgresStore``."""

    _cache_lock: Any
    _current: Any

    def _vectors(self, user_id: str, model: str) -> VectorCache:
        """Vectors of the user's active memories embedded by ``model``."""
        def update(conn: Any, old: tuple[VectorCache, int] | None,
                   mutated: bool) -> tuple[VectorCache, int]:
            if old is not None and mutated:
                old = None  # changes and removals: read again (as the SQLite store does)
            mark = old[1] if old is not None else 0
            rows = conn.execute(_ROWS, (user_id, model, mark)).fetchall()
            columns = old[0].columns if old is not None else vector_columns()
            if rows:
                columns.extend(grid_columns([r[1] for r in rows], [r[2] for r in rows],
                                            [r[3] for r in rows],
                                            _grid([bytes(r[4]) for r in rows])))
                mark = max(mark, int(rows[-1][0]))
            return VectorCache(model, columns, old[0].signs if old is not None else None), mark

        return self._current("vectors:" + model, user_id, update,
                             lambda v: len(v[0].ids), vector_codec(model))[0]

    def dense(self, scope: Scope, vector: np.ndarray, embed_model: str, limit: int,
              allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Cosine similarity (vectors are unit length), best first."""
        with self._cache_lock:
            return rank(self._vectors(scope.user_id, embed_model), scope, vector, limit,
                        allowed)

    def vectors(self, scope: Scope, embed_model: str) -> tuple[list[str], np.ndarray]:
        """Ids and unit vectors of the scope's active memories embedded by the model."""
        with self._cache_lock:
            cache = self._vectors(scope.user_id, embed_model)
        return cache.in_scope(scope)

    def vectors_of(self, user_id: str, ids: Sequence[str],
                   embed_model: str) -> dict[str, np.ndarray]:
        """Unit vectors of these of the user's active memories that the model embedded."""
        with self._cache_lock:
            return self._vectors(user_id, embed_model).of(ids)
