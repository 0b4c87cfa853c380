"""The PostgreSQL store's lexical search: the same per-user BM25 as the SQLite store's
(:class:`..lexicon.LexCache`: same tokenizer, stemmer, K1/B and per-user statistics), so
both stores rank alike. Each worker holds the indexes of the users it searched, keyed by
the user's scope version in the database: every search reads the version (one small
query); a worker whose copy is older brings it up to date before ranking, so a write
through any worker is seen by the next search on every worker.

Bringing a copy up to date costs the size of the change: after adds only, the rows above
the copy's highest row id are appended. That is sound because every write transaction
bumps (and so locks) its users' ``scope_versions`` rows *first* (``SQLStore.add``): two
writers of one user run one after the other, so a row committed later always has a
higher row id than every row an earlier snapshot showed. After changes or removals
(the mutation count moved), the copy compares its rows with the user's active rows, as
in SQLite (``LexCache.reconcile``). The version is read before the rows, so a copy may be
ahead of the version it is filed under (it is then re-checked, harmlessly), never behind.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Sequence

from ...types import Scope
from ..lexicon import LexCache
from ..protocol import QueryTerms
from ..sql import UNRANKED_SQL

_ROWS = ("SELECT rid, id, agent_id, session_id, text, keys, updated_at FROM memories "
         "WHERE user_id=%s AND status='active' AND type NOT IN " + UNRANKED_SQL + "{} "
         "ORDER BY rid")


class PgLexicalMixin:
    """``lexical`` and ``doc_freqs`` for ``PostgresStore``."""

    _conn: Any
    cache_memories: int
    _lex_lock: threading.RLock
    # user -> (version, mutations, index)
    _lexicons: "OrderedDict[str, tuple[int, int, LexCache]]"

    def lexical(self, scope: Scope, terms: QueryTerms, limit: int,
                allowed: set[str] | None = None,
                keys_weight: float = 0.5) -> list[tuple[str, float]]:
        """BM25 over text and expanded keys in the scope's active memories for the index
        terms, best first (the SQLite store's ranking)."""
        if not terms.terms:
            return []
        with self._lex_lock:
            return self._lexicon(scope.user_id).search(scope, terms.terms, limit, allowed,
                                                       keys_weight)

    def doc_freqs(self, scope: Scope, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(memories in the user's lexical index, in how many of them each term occurs)."""
        with self._lex_lock:
            return self._lexicon(scope.user_id).doc_freqs(terms)

    def _lexicon(self, user_id: str) -> LexCache:
        """The user's index as of the user's current scope version (caller holds
        ``_lex_lock``)."""
        with self._conn() as conn:
            row = conn.execute("SELECT version, mutations FROM scope_versions WHERE user_id=%s",
                               (user_id,)).fetchone()
            version, mutations = (int(row[0]), int(row[1])) if row else (0, 0)
            hit = self._lexicons.get(user_id)
            if hit is not None and hit[0] == version:
                self._lexicons.move_to_end(user_id)
                return hit[2]
            cache = hit[2] if hit is not None else None
            if cache is not None and hit is not None and hit[1] != mutations:
                current = dict(conn.execute(
                    "SELECT rid, updated_at FROM memories WHERE user_id=%s AND status='active' "
                    f"AND type NOT IN {UNRANKED_SQL} AND rid <= %s",
                    (user_id, cache.mark)).fetchall())
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
        self._lexicons[user_id] = (version, mutations, cache)
        self._lexicons.move_to_end(user_id)
        total = sum(c.rows.n for _, _, c in self._lexicons.values())
        while total > self.cache_memories and len(self._lexicons) > 1:
            user, (_, _, old) = next(iter(self._lexicons.items()))
            if user == user_id:
                break
            del self._lexicons[user]
            total -= old.rows.n
        return cache
