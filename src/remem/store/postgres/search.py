"""The PostgreSQL store's dense candidates: pgvector cosine distance (exact per scope, or
the model's HNSW index in large scopes). Lexical search is in ``lexical``."""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from ...types import Scope
from ..sql import UNRANKED_SQL, scope_sql

_EXACT_MAX = 20_000  # scopes up to this many vectors are scanned exactly (no HNSW)


def _vec(v: np.ndarray) -> str:
    return "[" + ",".join(map(repr, np.asarray(v, np.float16).astype(np.float32).tolist())) + "]"


def _scope_sql(scope: Scope) -> tuple[str, list[Any]]:
    where, args = scope_sql(scope)
    return where.replace("?", "%s"), args


class SearchMixin:
    """``dense`` and ``vectors`` for ``PostgresStore`` (their SQL is
    PostgreSQL's own: ``%s`` placeholders, ``rid`` columns)."""

    _conn: Any
    _indexed: set[str]
    scope_size: Any

    def _pg_q(self, sql: Any, args: Any = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(sql, args).fetchall()

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
