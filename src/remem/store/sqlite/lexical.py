"""The SQLite store's lexical search: a BM25 index per user held in memory
(:class:`..lexicon.LexCache`), built from the stored text and keys on the first
search and kept current like the other per-user caches.

Adds since the cached snapshot are appended (rows above its rowid mark, read in the same
transaction as the scope version by ``caches._incremental``, so writes from other
processes are never missed or counted twice). After a write that changed or removed memories, the cache compares the
user's active rows with what it indexed: rows gone leave, rows whose ``updated_at``
moved are indexed again, rows back (restored) are added; the index is rebuilt only when
more than a third of it is dead.

No cold start: the index of a large scope is saved in the file (``caches._keep``); a
fresh process loads it (postings stay in the loaded arrays until a query touches a term)
and brings it up to date through the same incremental path, so the first search of a
100k-memory user does not tokenise 100k memories."""

from __future__ import annotations

from typing import Any, Sequence

from ...types import Scope
from ..lexicon import LexCache
from ..protocol import QueryTerms
from ..sql import UNRANKED_SQL

_ROWS = ("SELECT rowid, id, agent_id, session_id, text, keys, updated_at FROM memories "
         "WHERE {}user_id=? AND status='active' AND type NOT IN " + UNRANKED_SQL + "{}")


class LexicalMixin:
    _lock: Any
    _q: Any
    _incremental: Any
    _snapshot: Any
    _keep: Any
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
            return cache.search(scope, terms.terms, limit, allowed, keys_weight)

    def doc_freqs(self, scope: Scope, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(memories in the user's lexical index, in how many of them each term occurs)."""
        with self._lock:
            return self._lexicon(scope.user_id).doc_freqs(terms)

    def _lexicon(self, user_id: str) -> LexCache:
        """The user's index, brought up to date from the rows added since (also after
        changes, see ``_reconcile``)."""
        def since(cache: LexCache, mark: int) -> LexCache:
            cache.add(self._q(_ROWS.format("", " AND rowid > ? ORDER BY rowid"),
                              (user_id, mark)))
            return cache

        def full() -> LexCache:
            cache = LexCache()
            cache.add(self._q(_ROWS.format("", " ORDER BY rowid"), (user_id,)))
            return cache

        def changed(cache: LexCache, mark: int) -> LexCache | None:
            return None if self._reconcile(cache, user_id, mark) is None else since(cache, mark)

        self._snapshot("lexicon", self._lexicons, user_id, LexCache.from_bytes)
        cache: LexCache = self._incremental(self._lexicons, user_id, full, since, changed)
        self._keep("lexicon", self._lexicons, user_id, LexCache.to_bytes, cache.rows.n)
        return cache

    def _reconcile(self, cache: LexCache, user_id: str, mark: int) -> LexCache | None:
        """Apply changes and removals up to rowid ``mark``; ``None``: rebuild instead."""
        current = {r[0]: r[1] for r in self._q(
            "SELECT rowid, updated_at FROM memories WHERE user_id=? AND status='active' "
            f"AND type NOT IN {UNRANKED_SQL} AND rowid <= ?", (user_id, mark))}
        back = cache.reconcile(current)
        if back is None:
            return None
        for i in range(0, len(back), 500):
            chunk = back[i:i + 500]
            marks = ",".join("?" * len(chunk))
            cache.add(self._q(_ROWS.format("", f" AND rowid IN ({marks}) ORDER BY rowid"),
                              (user_id, *chunk)))
        return cache

