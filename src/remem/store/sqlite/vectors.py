"""The SQLite store's dense search: each user's vectors held in memory on the int8 grid
they are stored on (read once, then appended to on adds), scanned with
:mod:`..dense` -- exactly in small scopes, through sign bits in large ones."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...types import Scope
from ..dense import (VectorCache, decode_int8_rows, grid_columns, rank, vector_columns,
                     vectors_from_bytes, vectors_to_bytes)
from ..sql import UNRANKED_SQL


class VectorMixin:
    _lock: Any
    _q: Any
    _incremental: Any
    _cache: dict[str, Any]
    _used: Any
    _snapshot: Any
    _keep: Any

    def dense(self, scope: Scope, vector: np.ndarray, embed_model: str, limit: int,
              allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Cosine similarity (vectors are unit length), best first."""
        with self._lock:
            cache = self._vectors(scope.user_id, embed_model)
            self._used(scope.user_id, len(cache.ids))
            return rank(cache, scope, vector, limit, allowed)

    def vectors(self, scope: Scope, embed_model: str) -> tuple[list[str], np.ndarray]:
        """Ids and unit vectors of the scope's active memories embedded by the model (from
        the search cache)."""
        with self._lock:
            cache = self._vectors(scope.user_id, embed_model)
        return cache.in_scope(scope)

    def vectors_of(self, user_id: str, ids: Sequence[str],
                   embed_model: str) -> dict[str, np.ndarray]:
        """Unit vectors of these of the user's active memories that the model embedded
        (from the search cache)."""
        with self._lock:
            return self._vectors(user_id, embed_model).of(ids)

    def _vectors(self, user_id: str, model: str) -> VectorCache:
        """Vectors of a user's active memories, cached; refreshed incrementally on adds."""
        def load(mark: int, old: VectorCache | None) -> VectorCache:
            rows = self._q(
                "SELECT m.id, m.agent_id, m.session_id, v.data FROM memories m "
                # index memories_user: the user's rows above the mark, in rowid order
                "JOIN vectors v ON v.memory_rowid = m.rowid WHERE m.user_id=? "
                "AND m.status='active' AND m.embed_model=? AND m.rowid > ? "
                f"AND m.type NOT IN {UNRANKED_SQL} ORDER BY m.rowid",
                (user_id, model, mark))
            columns = old.columns if old is not None else vector_columns()
            if rows:
                columns.extend(grid_columns([r[0] for r in rows], [r[1] for r in rows],
                                            [r[2] for r in rows],
                                            decode_int8_rows([r[3] for r in rows])))
            return VectorCache(model, columns, old.signs if old is not None else None)

        kind = "vectors:" + model
        self._snapshot(kind, self._cache, user_id, vectors_from_bytes)
        cache = self._incremental(self._cache, user_id, lambda: load(0, None),
                                  lambda old, mark: load(mark, old),
                                  fits=lambda cache: cache.model == model)
        self._keep(kind, self._cache, user_id, vectors_to_bytes, len(cache.ids))
        return cache
