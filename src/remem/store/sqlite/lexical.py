"""The SQLite store's lexical search: a BM25 index per user held in memory
(:class:`.lexicon.LexicalIndex`), built from the stored text and keys on the first
search and kept current like the other per-user caches.

Adds since the cached snapshot are appended (rows above its rowid mark, read in the same
transaction as the scope version by ``caches._incremental``, so writes from other
processes are never missed or counted twice). After a write that changed or removed memories, the cache compares the
user's active rows with what it indexed: rows gone leave, rows whose ``updated_at``
moved are indexed again, rows back (restored) are added; the index is rebuilt only when
more than a third of it is dead. Nothing lexical is stored on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .lexicon import LexicalIndex
from ...types import Scope
from ..protocol import QueryTerms
from ..sql import UNRANKED_SQL
from .caches import Columns, scope_mask

_ROWS = ("SELECT rowid, id, agent_id, session_id, text, keys, updated_at FROM memories "
         "WHERE {}user_id=? AND status='active' AND type NOT IN " + UNRANKED_SQL + "{}")


@dataclass
class _LexCache:
    index: LexicalIndex = field(default_factory=LexicalIndex)
    # per position: memory id, rowid, agent, session, updated_at when indexed
    rows: Columns = field(default_factory=lambda: Columns({
        "id": object, "rowid": np.int64, "agent": object, "session": object,
        "updated": np.float64}))

    def add(self, rows: list[Any]) -> None:
        if not rows:
            return
        self.index.add([(r[4], r[5] or "") for r in rows])
        self.rows.extend({"rowid": [r[0] for r in rows], "id": [r[1] for r in rows],
                          "agent": [r[2] for r in rows], "session": [r[3] for r in rows],
                          "updated": [r[6] for r in rows]})

    def mask(self, scope: Scope, allowed: set[str] | None) -> np.ndarray | None:
        rows = self.rows
        return scope_mask(scope, lambda: rows["agent"], lambda: rows["session"], rows["id"],
                          allowed)


class LexicalMixin:
    _lock: Any
    _q: Any
    _incremental: Any
    _lexicons: dict[str, Any]
    _used: Any

    def lexical(self, scope: Scope, terms: QueryTerms, limit: int,
                allowed: set[str] | None = None,
                keys_weight: float = 0.5) -> list[tuple[str, float]]:
        """BM25 over text and expanded keys in the scope's active memories for the index
        terms, best first."""
        if not terms.terms:
            return []
        with self._lock:
            cache = self._lexicon(scope.user_id)
            self._used(scope.user_id, cache.rows.n)
            hits = cache.index.search(terms.terms, limit, keys_weight=keys_weight,
                                      mask=cache.mask(scope, allowed))
            ids = cache.rows["id"]
            return [(ids[i], s) for i, s in hits]

    def doc_freqs(self, scope: Scope, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(memories in the user's lexical index, in how many of them each term occurs)."""
        with self._lock:
            index = self._lexicon(scope.user_id).index
            return index.live_docs, {t: index.doc_freq(t) for t in terms}

    def _lexicon(self, user_id: str) -> _LexCache:
        """The user's index, brought up to date from the rows added since (also after
        changes, see ``_reconcile``)."""
        def since(cache: _LexCache, mark: int) -> _LexCache:
            cache.add(self._q(_ROWS.format("+", " AND rowid > ? ORDER BY rowid"),
                              (user_id, mark)))
            return cache

        def full() -> _LexCache:
            cache = _LexCache()
            cache.add(self._q(_ROWS.format("", " ORDER BY rowid"), (user_id,)))
            return cache

        def changed(cache: _LexCache, mark: int) -> _LexCache | None:
            return None if self._reconcile(cache, user_id, mark) is None else since(cache, mark)

        return self._incremental(self._lexicons, user_id, full, since, changed)

    def _reconcile(self, cache: _LexCache, user_id: str, mark: int) -> _LexCache | None:
        """Apply changes and removals up to rowid ``mark``; ``None``: rebuild instead."""
        current = {r[0]: r[1] for r in self._q(
            "SELECT rowid, updated_at FROM memories WHERE user_id=? AND status='active' "
            f"AND type NOT IN {UNRANKED_SQL} AND rowid <= ?", (user_id, mark))}
        live = np.flatnonzero(cache.index.live)
        rowids, updated = cache.rows["rowid"][live].tolist(), cache.rows["updated"][live]
        gone = [int(p) for p, rid, at in zip(live, rowids, updated.tolist())
                if current.get(rid) != at]
        cache.index.remove(gone)
        kept = set(rowids).difference(cache.rows["rowid"][gone].tolist())
        back = [rid for rid in current if rid not in kept]
        if cache.index.dead * 3 > len(cache.index):
            return None
        for i in range(0, len(back), 500):
            chunk = back[i:i + 500]
            marks = ",".join("?" * len(chunk))
            cache.add(self._q(_ROWS.format("", f" AND rowid IN ({marks}) ORDER BY rowid"),
                              (user_id, *chunk)))
        return cache

