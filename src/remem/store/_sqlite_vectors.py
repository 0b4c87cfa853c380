"""The SQLite store's dense search: each user's vectors held in memory as one float32
matrix (decoded from the int8 rows once, then appended to on adds), scanned with
:mod:`remem._dense` -- exactly in small scopes, through sign bits in large ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._dense import EXACT_MAX, SignCodes, top_k
from ..types import Scope
from ._common import UNRANKED_SQL, Columns, decode_int8_rows, scope_mask


@dataclass
class _VectorCache:
    version: int
    mutations: int
    max_rowid: int
    model: str
    ids: np.ndarray  # object arrays: views of ``columns`` (appends never touch them)
    agents: np.ndarray
    sessions: np.ndarray
    matrix: np.ndarray  # float32, (n, dim): the first n rows of ``buffer``
    buffer: np.ndarray  # spare rows at the end take later adds without copying
    signs: SignCodes | None = None  # sign bits of the rows, once the scope is large
    columns: Columns | None = None

    def mask(self, scope: Scope, allowed: set[str] | None) -> np.ndarray | None:
        return scope_mask(scope, lambda: self.agents, lambda: self.sessions, self.ids, allowed)


class VectorMixin:
    _lock: Any
    _q: Any
    _state: Any
    _cache: dict[str, _VectorCache]
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

    def _vectors(self, user_id: str, model: str) -> _VectorCache:
        """Vectors of a user's active memories, cached; refreshed incrementally on adds."""
        with self._lock:
            version, mutations = self._state(user_id)
            cache = self._cache.get(user_id)
            if cache and cache.version == version and cache.model == model:
                return cache
            since = 0
            if cache and cache.mutations == mutations and cache.model == model:
                since = cache.max_rowid
            rows = self._q(
                "SELECT m.rowid, m.id, m.agent_id, m.session_id, v.data FROM memories m "
                # "+m.user_id": walk the rowid range, not the user's whole index range
                "JOIN vectors v ON v.memory_rowid = m.rowid WHERE +m.user_id=? "
                "AND m.status='active' AND m.embed_model=? AND m.rowid > ? "
                f"AND m.type NOT IN {UNRANKED_SQL} ORDER BY m.rowid",
                (user_id, model, since),
            )
            new = decode_int8_rows([r[4] for r in rows])
            columns = cache.columns if since and cache is not None else None
            if columns is None:
                columns = Columns({"id": object, "agent": object, "session": object})
            if rows:
                columns.extend({"id": [r[1] for r in rows], "agent": [r[2] for r in rows],
                                "session": [r[3] for r in rows]})
            ids, agents, sessions = columns["id"], columns["agent"], columns["session"]
            if since and cache is not None:
                n, buffer = len(cache.ids), cache.buffer
                if len(new) and (n + len(new) > len(buffer) or buffer.shape[1] != new.shape[1]):
                    # grow by half: appends stay amortised O(rows added); readers keep
                    # their view of the old buffer, whose first n rows never change
                    grown = np.empty((max(n + len(new), n * 3 // 2 + 64), new.shape[1]),
                                     np.float32)
                    grown[:n] = cache.matrix
                    buffer = grown
                if len(new):
                    buffer[n:n + len(new)] = new
                matrix = buffer[:n + len(new)]
            else:
                buffer = np.zeros((0, 1), np.float32)
                if len(new):  # room for an eighth more before the first copy
                    buffer = np.empty((len(new) + len(new) // 8 + 64, new.shape[1]), np.float32)
                    buffer[:len(new)] = new
                matrix = buffer[:len(new)]
            max_rowid = rows[-1][0] if rows else (cache.max_rowid if since and cache else 0)
            cache = _VectorCache(version, mutations, max_rowid, model, ids, agents, sessions,
                                 matrix, buffer, cache.signs if since and cache else None,
                                 columns)
            self._cache[user_id] = cache
            return cache
