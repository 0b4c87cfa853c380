"""The PostgreSQL store's search candidates: ``ts_rank`` over the weighted ``tsvector``
(lexical) and pgvector cosine distance (dense: exact per scope, or the model's HNSW
index in large scopes)."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

import numpy as np

from ...types import Scope
from ..protocol import QueryTerms
from ..sql import UNRANKED_SQL, scope_sql

_EXACT_MAX = 20_000  # scopes up to this many vectors are scanned exactly (no HNSW)
# Lexical search in a user of up to this many memories ranks the scope's own rows. Left to
# the planner, ``tsv @@ q`` goes to the GIN index (always in the generic plan psycopg's
# prepared statements get after 5 runs; often in custom plans too), which reads the posting
# lists of the query's words across all users: 200k+ entries, 30-70 ms at 1M memories.
_SCAN_MAX = 20_000
_SPLIT = re.compile(r"[\W_]+")


def _vec(v: np.ndarray) -> str:
    return "[" + ",".join(map(repr, np.asarray(v, np.float16).astype(np.float32).tolist())) + "]"


def _scope_sql(scope: Scope) -> tuple[str, list[Any]]:
    where, args = scope_sql(scope)
    return where.replace("?", "%s"), args


def tsquery(words: Sequence[str]) -> str | None:
    """A ``to_tsquery`` string matching any of the words (``'a' | 'b'``); a word of
    several parts (``dmitri's``) is a phrase (``'dmitri' <-> 's'``). Only letters and
    digits reach the query; ``None`` when no word is left."""
    alts = []
    for word in words:
        parts = ["'" + p + "'" for p in _SPLIT.split(word) if p]
        if parts:
            alts.append(" <-> ".join(parts))
    return " | ".join(alts) if alts else None


class SearchMixin:
    """``lexical``, ``dense`` and ``vectors`` for ``PostgresStore`` (their SQL is
    PostgreSQL's own: ``%s`` placeholders, ``rid`` columns)."""

    _conn: Any
    _indexed: set[str]
    scope_size: Any

    def _pg_q(self, sql: Any, args: Any = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(sql, args).fetchall()

    def lexical(self, scope: Scope, terms: QueryTerms, limit: int,
                allowed: set[str] | None = None,
                keys_weight: float = 0.5) -> list[tuple[str, float]]:
        """``ts_rank`` (length-normalised) over text (weight A, 1.0) and expanded keys
        (weight B, ``keys_weight``) within the scope for any of the query words the terms
        came from (PostgreSQL's English configuration analyses them); higher is better."""
        tsq = tsquery(terms.words)
        if tsq is None:
            return []
        where, args = _scope_sql(scope)
        cond = f"status='active' AND type NOT IN {UNRANKED_SQL} AND {where}"
        params: list[Any] = [*args]
        if allowed is not None:
            cond += " AND id = ANY(%s)"
            params.append(list(allowed))
        weights = [0.0, 0.0, float(keys_weight), 1.0]
        if self.scope_size(scope.user_id) <= _SCAN_MAX:
            # the scope's rows first (a fence the planner cannot push ``@@`` through)
            sql = (f"WITH scoped AS MATERIALIZED (SELECT rid, id, tsv FROM memories WHERE {cond}) "
                   "SELECT id, ts_rank(%s::float4[], tsv, q, 1) AS s FROM scoped, "
                   "to_tsquery('english', %s) AS q WHERE tsv @@ q")
            params += [weights, tsq]
        else:
            sql = ("SELECT id, ts_rank(%s::float4[], tsv, q, 1) AS s FROM memories, "
                   f"to_tsquery('english', %s) AS q WHERE tsv @@ q AND {cond}")
            params = [weights, tsq, *params]
        rows = self._pg_q(sql + " ORDER BY s DESC, rid LIMIT %s", [*params, limit])
        return [(r[0], float(r[1])) for r in rows]

    def dense(self, scope: Scope, vector: np.ndarray, embed_model: str, limit: int,
              allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Cosine similarity (1 - pgvector distance), best first. Small scopes and filtered
        searches scan the scope's rows exactly; large ones use the model's HNSW index and
        fall back to the exact scan when the index yields too few of the scope's rows."""
        from psycopg import sql as S

        where, args = _scope_sql(scope)
        q = _vec(vector)
        dim = int(np.asarray(vector).shape[-1])
        base = (f"FROM memories WHERE {where} AND status='active' AND type NOT IN {UNRANKED_SQL} "
                "AND embed_model = %s")
        params: list[Any] = [*args, embed_model]
        if allowed is not None:
            base += " AND id = ANY(%s)"
            params.append(list(allowed))
        if allowed is None and self.scope_size(scope.user_id) > _EXACT_MAX \
                and embed_model in self._indexed_models(embed_model):
            cast = f"embedding::vector({dim})"
            ann = S.SQL(
                f"SELECT id, 1 - ({cast} <=> %s::vector({dim})) FROM memories WHERE {where} "
                f"AND status='active' AND type NOT IN {UNRANKED_SQL} AND embed_model = {{}} "
                f"ORDER BY {cast} <=> %s::vector({dim}) LIMIT %s").format(S.Literal(embed_model))
            with self._conn() as conn:
                conn.execute(S.SQL("SET LOCAL hnsw.ef_search = {}").format(
                    S.Literal(min(1000, max(40, 4 * limit)))))
                rows = conn.execute(ann, [q, *args, q, limit]).fetchall()
            if len(rows) >= limit:
                return [(r[0], float(r[1])) for r in rows]
        rows = self._pg_q(f"SELECT id, 1 - (embedding <=> %s::vector) AS s {base} "
                       "ORDER BY embedding <=> %s::vector, rid LIMIT %s", [q, *params, q, limit])
        return [(r[0], float(r[1])) for r in rows]

    def vectors(self, scope: Scope, embed_model: str) -> tuple[list[str], np.ndarray]:
        """Ids and unit vectors of the scope's active memories embedded by the model."""
        where, args = _scope_sql(scope)
        rows = self._pg_q(f"SELECT id, embedding::text FROM memories WHERE {where} AND "
                       f"status='active' AND type NOT IN {UNRANKED_SQL} AND embed_model=%s "
                       "ORDER BY rid", [*args, embed_model])
        if not rows:
            return [], np.zeros((0, 1), np.float32)
        return [r[0] for r in rows], np.array([json.loads(r[1]) for r in rows], np.float32)

    def vectors_of(self, user_id: str, ids: Sequence[str],
                   embed_model: str) -> dict[str, np.ndarray]:
        """Unit vectors of these of the user's active memories that the model embedded."""
        if not ids:
            return {}
        rows = self._pg_q("SELECT id, embedding::text FROM memories WHERE user_id=%s AND "
                          "id = ANY(%s) AND status='active' AND embed_model=%s",
                          [user_id, list(ids), embed_model])
        return {r[0]: np.array(json.loads(r[1]), np.float32) for r in rows}

    def _indexed_models(self, model: str) -> set[str]:
        if model not in self._indexed:  # another worker may have created it
            self._indexed.update(r[0] for r in self._pg_q("SELECT embed_model FROM vector_indexes"))
        return self._indexed


    def doc_freqs(self, scope: Scope, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """No term statistics here (``ts_rank`` is not BM25): nothing is pruned."""
        return 0, {}
