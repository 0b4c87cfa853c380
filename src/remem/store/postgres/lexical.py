"""The PostgreSQL store's lexical search: the SQLite store's per-user BM25
(:class:`..lexicon.LexCache`: same tokenizer, stemmer, K1/B and per-user statistics), held
by each worker and kept current by the user's scope version (see ``caches``); a large
scope's index is saved for fresh workers (``snapshots``)."""

from __future__ import annotations

from typing import Any, Sequence

from ...types import Scope
from ..lexicon import LexCache
from ..protocol import QueryTerms
from ..sql import UNRANKED_SQL
from .snapshots import Codec

_ROWS = ("SELECT rid, id, agent_id, session_id, text, keys, updated_at FROM memories "
         "WHERE user_id=%s AND status='active' AND type NOT IN " + UNRANKED_SQL + "{} "
         "ORDER BY rid")
# saved as ``LexCache.to_bytes`` (which holds the cache's row id mark)
CODEC = Codec(lambda cache: (cache.to_bytes(), cache.mark),
               lambda blob, mark: LexCache.from_bytes(blob))


def _update(user_id: str) -> Any:
    def update(conn: Any, cache: LexCache | None, mutated: bool) -> LexCache:
        if cache is not None and mutated:
            current = dict(conn.execute(
                "SELECT rid, updated_at FROM memories WHERE user_id=%s AND status='active' "
                f"AND type NOT IN {UNRANKED_SQL} AND rid <= %s", (user_id, cache.mark)).fetchall())
            back = cache.reconcile(current)
            if back is None:
                cache = None
            elif back:
                cache.add(conn.execute(_ROWS.format(" AND rid = ANY(%s)"),
                                       (user_id, back)).fetchall())
        if cache is None:
            cache = LexCache()
            cache.add(conn.execute(_ROWS.format(""), (user_id,)).fetchall())
        else:
            cache.add(conn.execute(_ROWS.format(" AND rid > %s"),
                                   (user_id, cache.mark)).fetchall())
        return cache

    return update


class PgLexicalMixin:
    """``lexical`` and ``doc_freqs`` for ``PostgresStore``."""

    _cache_lock: Any
    _current: Any

    def _lexicon(self, user_id: str) -> LexCache:
        return self._current("lexicon", user_id, _update(user_id), lambda c: c.rows.n, CODEC)

    def lexical(self, scope: Scope, terms: QueryTerms, limit: int,
                allowed: set[str] | None = None,
                keys_weight: float = 0.5) -> list[tuple[str, float]]:
        """BM25 over text and expanded keys in the scope's active memories for the index
        terms, best first (the SQLite store's ranking)."""
        if not terms.terms:
            return []
        with self._cache_lock:
            return self._lexicon(scope.user_id).search(scope, terms.terms, limit, allowed,
                                                       keys_weight)

    def doc_freqs(self, scope: Scope, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(memories in the user's lexical index, in how many of them each term occurs)."""
        with self._cache_lock:
            return self._lexicon(scope.user_id).doc_freqs(terms)
