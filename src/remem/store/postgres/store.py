"""PostgreSQL store: psycopg 3 + a connection pool, pgvector for dense search (HNSW per
embedding model), a weighted ``tsvector`` for lexical search. Many processes may share
one database; every query carries the caller's scope.

Vectors are rounded to float16 before they are stored, exactly as the SQLite store keeps
them, so scores agree across backends and ``remem copy`` is lossless both ways.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ..._entities import normalise as entity_key
from ..._text import fts_query
from ...errors import InvalidInput, StoreError
from ...types import Episode, HistoryEntry, MemoryRecord, Scope
from . import schema as _pg_schema
from .._common import UNRANKED_SQL, UNRANKED_TYPES, check_filters, from_epoch, scope_sql
from .rows import _MEMORY_COLS, _row_to_memory, _vec
from ..inspect import InspectMixin
from .lifecycle import PgLifecycleMixin
from .transfer import PgTransferMixin

_EXACT_MAX = 20_000  # scopes up to this many vectors are scanned exactly (no HNSW)
# Lexical search in a user of up to this many memories ranks the scope's own rows. Left to
# the planner, ``tsv @@ q`` goes to the GIN index (always in the generic plan psycopg's
# prepared statements get after 5 runs; often in custom plans too), which reads the posting
# lists of the query's words across all users: 200k+ entries, 30-70 ms at 1M memories.
_SCAN_MAX = 20_000
_TERM = re.compile(r'"([^"]*)"')


def tsquery_from_match(match: str) -> str | None:
    """Turn the FTS5 expression of ``remem._text.fts_query`` (``"a" OR "b c"``) into a
    ``to_tsquery`` string (``'a' | 'b' <-> 'c'``): the same terms, OR-ed; a term of
    several words is a phrase. ``None`` when no term is left."""
    alts = []
    for term in _TERM.findall(match):
        parts = ["'" + w.replace("\\", "").replace("'", "") + "'" for w in term.split()]
        parts = [p for p in parts if p != "''"]
        if parts:
            alts.append(" <-> ".join(parts) if len(parts) > 1 else parts[0])
    return " | ".join(alts) if alts else None


def redact(dsn: str) -> str:
    """The DSN without its password (for logs and ``store.path``)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)


def _scope_sql(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    return scope_sql(scope, alias, "%s")


def _jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb  # the postgres extra is there once a store exists

    return Jsonb(value)


class PostgresStore(PgLifecycleMixin, PgTransferMixin, InspectMixin):
    """Store on PostgreSQL >= 15 with pgvector >= 0.6. Safe to share between threads and
    between processes (each ``remem serve`` worker opens its own pool)."""

    def __init__(self, dsn: str, *, pool_size: int = 10, timeout: float = 30.0) -> None:
        try:
            import psycopg
            from psycopg.types.json import Jsonb
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StoreError("the PostgreSQL store needs the postgres extra: "
                             "pip install 'remem[postgres]'") from exc
        self._pg = psycopg
        self._Jsonb = Jsonb
        self.path = redact(dsn)
        self.dsn = dsn  # as given (password too): companions such as the server's key store
        self._lock = threading.Lock()
        self._indexed: set[str] = set()
        self._caches: dict[str, dict[str, tuple[int, Any]]] = {
            "speakers": {}, "entities": {}, "sizes": {}}
        self._pool: Any = None
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=int(timeout)) as conn:
                _pg_schema.migrate(conn)
            self._pool = ConnectionPool(dsn, min_size=1, max_size=max(1, pool_size),
                                        timeout=timeout, open=True, name="remem")
        except psycopg.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    # -- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        """A pooled connection in one transaction (committed on success)."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except self._pg.Error as exc:
            raise StoreError(f"store query failed: {exc}") from exc

    def _q(self, sql: Any, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(sql, args).fetchall()

    def _inspect_q(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """``_inspect``'s SQLite-dialect SQL: ``?`` placeholders, ``rowid`` columns."""
        return self._q(sql.replace("?", "%s").replace("rowid", "rid"), args)

    def _write(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(conn)`` in one transaction; retried on deadlock / serialization failure."""
        errors = self._pg.errors
        for attempt in range(4):
            try:
                with self._pool.connection() as conn:
                    return fn(conn)
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                if attempt == 3:
                    raise StoreError(f"store write failed: {exc}") from exc
                time.sleep(0.01 * (attempt + 1))
            except self._pg.Error as exc:
                raise StoreError(f"store write failed: {exc}") from exc
        raise AssertionError("unreachable")

    def _version(self, conn: Any, user_id: str) -> int:
        row = conn.execute("SELECT version FROM scope_versions WHERE user_id=%s", (user_id,)).fetchone()
        return int(row[0]) if row else 0

    def _cached(self, kind: str, user_id: str, compute: Callable[[Any], Any]) -> Any:
        """``compute(conn)`` for a user, cached until the user's scope version changes."""
        with self._conn() as conn:
            version = self._version(conn, user_id)
            hit = self._caches[kind].get(user_id)
            if hit and hit[0] == version:
                return hit[1]
            value = compute(conn)
        with self._lock:
            self._caches[kind][user_id] = (version, value)
        return value

    @staticmethod
    def _bump(conn: Any, users: Sequence[str], *, mutation: bool) -> None:
        for user_id in sorted(set(users)):
            conn.execute(
                "INSERT INTO scope_versions(user_id, version, mutations) VALUES (%s, 1, %s) "
                "ON CONFLICT(user_id) DO UPDATE SET version = scope_versions.version + 1, "
                "mutations = scope_versions.mutations + excluded.mutations",
                (user_id, 1 if mutation else 0))

    @staticmethod
    def _history(conn: Any, m_id: str, user_id: str, event: str, old: str | None,
                 new: str | None, actor: str = "api",
                 detail: Mapping[str, Any] | None = None) -> None:
        conn.execute(
            "INSERT INTO history(memory_id, user_id, event, old_text, new_text, at, actor, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (m_id, user_id, event, old, new, time.time(), actor,
             _jsonb(dict(detail or {}))))

    def _ensure_index(self, model: str, dim: int) -> None:
        """The HNSW index of ``model`` (created once, by whichever worker needs it first)."""
        if model in self._indexed:
            return
        from psycopg import sql

        name = "memories_hnsw_" + hashlib.sha256(model.encode()).hexdigest()[:16]

        def run(conn: Any) -> None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_pg_schema.LOCK_KEY + 1,))
            row = conn.execute("SELECT dim FROM vector_indexes WHERE embed_model=%s", (model,)).fetchone()
            if row is not None:
                return
            conn.execute(sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON memories USING hnsw "
                "((embedding::vector({})) vector_cosine_ops) WHERE embed_model = {}").format(
                    sql.Identifier(name), sql.Literal(dim), sql.Literal(model)))
            conn.execute("INSERT INTO vector_indexes(embed_model, dim, index_name) VALUES (%s,%s,%s)",
                         (model, dim, name))

        self._write(run)
        self._indexed.add(model)

    # -- writes ---------------------------------------------------------------------
    def add(self, episodes: Sequence[Episode], memories: Sequence[MemoryRecord],
            vectors: np.ndarray | None, embed_model: str,
            actor: str = "api") -> tuple[list[str], list[str], int]:
        vecs = [_vec(v) for v in vectors] if vectors is not None else [None] * len(memories)
        if vectors is not None and len(vectors):
            self._ensure_index(embed_model, int(vectors.shape[1]))
        J = self._Jsonb

        def run(conn: Any) -> tuple[list[str], list[str], int]:
            ep_ids: list[str] = []
            skipped: set[str] = set()
            now = time.time()
            for ep in episodes:
                s = ep.scope
                row = conn.execute(
                    "INSERT INTO episodes(id, user_id, agent_id, session_id, source_id, role, name, "
                    "content, timestamp, seq, metadata, created_at) "
                    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING RETURNING id",
                    (ep.id, s.user_id, s.agent_id or "", s.session_id or "", ep.source_id, ep.role,
                     ep.name, ep.content, ep.timestamp, ep.seq, J(dict(ep.metadata)), now)).fetchone()
                if row is not None:
                    ep_ids.append(ep.id)
                    continue
                old = conn.execute(
                    "SELECT id, content FROM episodes WHERE user_id=%s AND agent_id=%s "
                    "AND session_id=%s AND source_id=%s",
                    (s.user_id, s.agent_id or "", s.session_id or "", ep.source_id)).fetchone()
                if old is None:
                    raise StoreError(f"episode id {ep.id!r} collides with a stored one")
                if old[1] != ep.content:
                    raise InvalidInput(f"turn id {ep.source_id!r} is already stored in this scope "
                                       "with different content")
                ep_ids.append(old[0])
                skipped.add(ep.id)
            kept = [(m, v) for m, v in zip(memories, vecs) if not skipped.intersection(m.episode_ids)]
            self._upsert_entities(conn, [m for m, _ in kept])
            for mem, vec in kept:
                self._insert_memory(conn, mem, vec, embed_model)
                self._history(conn, mem.id, mem.scope.user_id, "ADD", None, mem.text, actor)
            self._bump(conn, [e.scope.user_id for e in episodes] + [m.scope.user_id for m in memories],
                       mutation=False)
            return ep_ids, [m.id for m, _ in kept], len(skipped)

        return self._write(run)

    @staticmethod
    def _upsert_entities(conn: Any, memories: Sequence[MemoryRecord]) -> None:
        """Create the entities these memories mention, in a fixed order (no deadlocks
        between concurrent adds)."""
        rows = sorted({(m.scope.user_id, k): n for m in memories for n in m.entities
                       if (k := entity_key(n))}.items())
        for (user_id, key), name in rows:
            conn.execute("INSERT INTO entities(user_id, key, name) VALUES (%s,%s,%s) "
                         "ON CONFLICT (user_id, key) DO NOTHING", (user_id, key, name))

    def _insert_memory(self, conn: Any, m: MemoryRecord, vec: str | None,
                       model: str | None) -> bool:
        s, J = m.scope, self._Jsonb
        row = conn.execute(
            "INSERT INTO memories(id, user_id, agent_id, session_id, text, keys, type, speaker, "
            "source_ids, episode_ids, episode_id, created_at, updated_at, event_time, valid_from, "
            "valid_to, importance, access_count, last_access, metadata, status, content_hash, "
            "embedding, embed_model, dates, entities, superseded_by) VALUES (%s,%s,%s,%s,%s,%s,"
            "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s::vector,%s,%s,%s,%s) "
            "ON CONFLICT (id) DO NOTHING RETURNING rid",
            (m.id, s.user_id, s.agent_id or "", s.session_id or "", m.text, m.keys, m.type,
             m.speaker, J(list(m.source_ids)), J(list(m.episode_ids)),
             m.episode_ids[0] if m.episode_ids else None, m.created_at, m.updated_at,
             m.event_time, m.valid_from if m.valid_from is not None else m.event_time,
             m.valid_to, m.importance, m.access_count, m.last_access, J(dict(m.metadata)),
             m.status, hashlib.sha256(m.text.encode("utf-8", "surrogatepass")).hexdigest(), vec,
             model if vec is not None else None, J([list(d) for d in m.dates]),
             J(list(m.entities)), m.superseded_by)).fetchone()
        if row is None:
            return False
        PostgresStore._link_entities(conn, row[0], m)
        return True

    @staticmethod
    def _link_entities(conn: Any, rid: int, m: MemoryRecord) -> None:
        conn.execute("DELETE FROM memory_entities WHERE memory_rid=%s", (rid,))
        if m.type in UNRANKED_TYPES:  # summaries/profiles are not part of the graph
            return
        keys = sorted({k for n in m.entities if (k := entity_key(n))})
        if keys:
            conn.execute(
                "INSERT INTO memory_entities(memory_rid, entity_id) SELECT %s, id FROM entities "
                "WHERE user_id=%s AND key = ANY(%s) ON CONFLICT DO NOTHING", (rid, m.scope.user_id, keys))

    def _drop_derived(self, conn: Any, old: MemoryRecord) -> None:
        """A turn changed or went away: segments built from it go too (recorded in history)."""
        if old.type != "turn" or not old.episode_ids:
            return
        rows = conn.execute(
            "DELETE FROM memories WHERE user_id=%s AND type='segment' AND episode_ids ? %s "
            "RETURNING id, text", (old.scope.user_id, old.episode_ids[0])).fetchall()
        for seg_id, seg_text in rows:
            self._history(conn, seg_id, old.scope.user_id, "DELETE", seg_text, None,
                          actor=f"derived:{old.id}")

    def update(self, memory_id: str, text: str, keys: str, vector: np.ndarray | None,
               embed_model: str, dates: Sequence[Sequence[str]] = (),
               entities: Sequence[str] = ()) -> MemoryRecord | None:
        if vector is not None:
            self._ensure_index(embed_model, int(np.asarray(vector).shape[-1]))
        J = self._Jsonb

        def run(conn: Any) -> MemoryRecord | None:
            row = conn.execute(f"SELECT {_MEMORY_COLS}, rid FROM memories WHERE id=%s FOR UPDATE",
                               (memory_id,)).fetchone()
            if row is None:
                return None
            old = _row_to_memory(row)
            new = dataclasses.replace(old, entities=tuple(entities))
            conn.execute(
                "UPDATE memories SET text=%s, keys=%s, dates=%s, entities=%s, updated_at=%s, "
                "content_hash=%s, embedding=%s::vector, embed_model=%s WHERE id=%s",
                (text, keys, J([list(d) for d in dates]), J(list(entities)), time.time(),
                 hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                 _vec(vector) if vector is not None else None,
                 embed_model if vector is not None else None, memory_id))
            self._history(conn, memory_id, old.scope.user_id, "UPDATE", old.text, text)
            self._upsert_entities(conn, [new])
            self._link_entities(conn, row[-1], new)
            self._drop_derived(conn, old)
            self._bump(conn, [old.scope.user_id], mutation=True)
            return old

        return self._write(run)

    def delete(self, memory_id: str, *, actor: str = "api",
               detail: Mapping[str, Any] | None = None) -> MemoryRecord | None:
        def run(conn: Any) -> MemoryRecord | None:
            row = conn.execute(f"DELETE FROM memories WHERE id=%s RETURNING {_MEMORY_COLS}",
                               (memory_id,)).fetchone()
            if row is None:
                return None
            old = _row_to_memory(row)
            self._history(conn, memory_id, old.scope.user_id, "DELETE", old.text, None, actor,
                          detail)
            self._drop_derived(conn, old)
            self._bump(conn, [old.scope.user_id], mutation=True)
            return old

        return self._write(run)

    def delete_scope(self, scope: Scope) -> int:
        where, args = _scope_sql(scope)

        def run(conn: Any) -> int:
            rows = conn.execute(f"DELETE FROM memories WHERE {where} RETURNING id, text", args).fetchall()
            for m_id, text in rows:
                self._history(conn, m_id, scope.user_id, "DELETE", text, None)
            conn.execute(f"DELETE FROM episodes WHERE {where}", args)
            # entity names no remaining memory mentions go too (they are the user's data)
            conn.execute("DELETE FROM entities e WHERE user_id=%s AND NOT EXISTS "
                         "(SELECT 1 FROM memory_entities me WHERE me.entity_id = e.id)",
                         (scope.user_id,))
            self._bump(conn, [scope.user_id], mutation=True)
            return len(rows)

        return self._write(run)

    # -- reads ----------------------------------------------------------------------
    def get(self, memory_id: str) -> MemoryRecord | None:
        rows = self._q(f"SELECT {_MEMORY_COLS} FROM memories WHERE id=%s", (memory_id,))
        return _row_to_memory(rows[0]) if rows else None

    def fetch(self, memory_ids: Sequence[str], user_id: str | None = None) -> list[MemoryRecord]:
        """Records for ids, in the given order (missing ids, or other users', left out)."""
        ids = list(memory_ids)
        if not ids:
            return []
        sql, args = f"SELECT {_MEMORY_COLS} FROM memories WHERE id = ANY(%s)", [list(set(ids))]
        if user_id is not None:
            sql += " AND user_id = %s"
            args.append(user_id)
        found = {r.id: r for r in map(_row_to_memory, self._q(sql, args))}
        return [found[i] for i in ids if i in found]

    def list(self, scope: Scope, *, limit: int, offset: int) -> list[MemoryRecord]:
        where, args = _scope_sql(scope)
        rows = self._q(
            f"SELECT {_MEMORY_COLS} FROM memories WHERE {where} AND status='active' "
            "ORDER BY COALESCE(event_time, created_at), rid LIMIT %s OFFSET %s", [*args, limit, offset])
        return [_row_to_memory(r) for r in rows]

    def count(self, scope: Scope) -> int:
        where, args = _scope_sql(scope)
        return int(self._q(f"SELECT count(*) FROM memories WHERE {where} AND status='active'", args)[0][0])

    def history(self, memory_id: str) -> list[HistoryEntry]:
        rows = self._q("SELECT memory_id, event, old_text, new_text, at, actor, user_id, detail "
                       "FROM history WHERE memory_id=%s ORDER BY id", (memory_id,))
        return [HistoryEntry(r[0], r[1], r[2], r[3], from_epoch(r[4]), r[5], r[6], r[7])
                for r in rows]

    def filter_ids(self, scope: Scope, filters: Mapping[str, Any]) -> set[str]:
        """Like the SQLite store: ``type``/``speaker`` compare as text; metadata values as
        JSON, where 1/0 also match true/false (SQLite's json_extract does the same)."""
        where, args = _scope_sql(scope)
        for key, value in check_filters(filters).items():
            values = value if isinstance(value, list) else [value]
            if key in ("type", "speaker"):
                where += f" AND {key} = ANY(%s)"
                args.append([str(v) for v in values])
                continue
            alts = [json.dumps(v) for v in values]
            alts += [json.dumps(bool(v)) for v in values if type(v) is int and v in (0, 1)]
            where += " AND metadata -> %s = ANY(%s::jsonb[])"
            args.extend([key, alts])
        return {r[0] for r in self._q(f"SELECT id FROM memories WHERE {where} AND status='active'", args)}

    def lexical(self, scope: Scope, query: str, limit: int, allowed: set[str] | None = None,
                keys_weight: float = 0.5, max_df: float | None = None,
                prune_min_rows: int = 2000,
                max_postings: int | None = None) -> list[tuple[str, float]]:
        """``ts_rank`` (length-normalised) over text (weight A, 1.0) and expanded keys
        (weight B, ``keys_weight``) within the scope; higher is better. (``max_df`` term
        pruning is not applied here: the GIN index already skips stopwords.)"""
        match = fts_query(query)
        tsq = tsquery_from_match(match) if match else None
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
        rows = self._q(sql + " ORDER BY s DESC, rid LIMIT %s", [*params, limit])
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
        rows = self._q(f"SELECT id, 1 - (embedding <=> %s::vector) AS s {base} "
                       "ORDER BY embedding <=> %s::vector, rid LIMIT %s", [q, *params, q, limit])
        return [(r[0], float(r[1])) for r in rows]

    def vectors(self, scope: Scope, embed_model: str) -> tuple[list[str], np.ndarray]:
        """Ids and unit vectors of the scope's active memories embedded by the model."""
        where, args = _scope_sql(scope)
        rows = self._q(f"SELECT id, embedding::text FROM memories WHERE {where} AND "
                       f"status='active' AND type NOT IN {UNRANKED_SQL} AND embed_model=%s "
                       "ORDER BY rid", [*args, embed_model])
        if not rows:
            return [], np.zeros((0, 1), np.float32)
        return [r[0] for r in rows], np.array([json.loads(r[1]) for r in rows], np.float32)

    def _indexed_models(self, model: str) -> set[str]:
        if model not in self._indexed:  # another worker may have created it
            self._indexed.update(r[0] for r in self._q("SELECT embed_model FROM vector_indexes"))
        return self._indexed

    def neighbours(self, memory_ids: Sequence[str], window: int = 1) -> dict[str, list[str]]:
        """For each turn memory, the turn memories of the ``window`` episodes before and
        after its episode in the same session (insertion order), nearest first."""
        out: dict[str, list[str]] = {}
        with self._conn() as conn:
            for mid in memory_ids:
                row = conn.execute(
                    "SELECT e.rid, e.user_id, e.agent_id, e.session_id FROM memories m "
                    "JOIN episodes e ON e.id = m.episode_id WHERE m.id=%s AND m.type='turn'",
                    (mid,)).fetchone()
                if row is None:
                    continue
                rid, user, agent, session = row
                found: list[tuple[int, str]] = []
                for op, direction in (("<", "DESC"), (">", "ASC")):
                    eps = conn.execute(
                        f"SELECT id FROM episodes WHERE user_id=%s AND agent_id=%s AND session_id=%s "
                        f"AND rid {op} %s ORDER BY rid {direction} LIMIT %s",
                        (user, agent, session, rid, window)).fetchall()
                    for dist, (ep_id,) in enumerate(eps, start=1):
                        for (nid,) in conn.execute(
                                "SELECT id FROM memories WHERE episode_id=%s AND type='turn' "
                                "AND status='active' ORDER BY rid", (ep_id,)).fetchall():
                            found.append((dist, nid))
                found.sort(key=lambda x: x[0])
                out[mid] = [n for _, n in found]
        return out

    def episode_context(self, episode_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """An episode and the one before it in its session: (episode, previous or None)."""
        cols = "rid, user_id, agent_id, session_id, role, name, content, timestamp"
        keys = ("rowid", "user_id", "agent_id", "session_id", "role", "name", "content", "timestamp")
        with self._conn() as conn:
            r = conn.execute(f"SELECT {cols} FROM episodes WHERE id=%s", (episode_id,)).fetchone()
            if r is None:
                return None
            prev = conn.execute(
                f"SELECT {cols} FROM episodes WHERE user_id=%s AND agent_id=%s AND session_id=%s "
                "AND rid < %s ORDER BY rid DESC LIMIT 1", (r[1], r[2], r[3], r[0])).fetchone()
        return dict(zip(keys, r)), (dict(zip(keys, prev)) if prev else None)

    def turns_of(self, episode_ids: Sequence[str]) -> dict[str, str]:
        """Active turn memory id for each episode id that has one."""
        ids = list(dict.fromkeys(episode_ids))
        if not ids:
            return {}
        rows = self._q("SELECT episode_id, id FROM memories WHERE episode_id = ANY(%s) "
                       "AND type='turn' AND status='active' ORDER BY rid", (ids,))
        return {ep: mid for ep, mid in rows}

    def scope_size(self, user_id: str) -> int:
        """Active memories of a user (cached until the user's scope changes)."""
        return int(self._cached("sizes", user_id, lambda c: c.execute(
            "SELECT count(*) FROM memories WHERE user_id=%s AND status='active'",
            (user_id,)).fetchone()[0]))

    def entity_stats(self, user_id: str) -> dict[str, tuple[int, int]]:
        """Entity key -> (entity id, number of active memories mentioning it)."""
        return self._cached("entities", user_id, lambda c: {k: (i, n) for k, i, n in c.execute(
            "SELECT e.key, e.id, count(*) FROM entities e JOIN memory_entities me "
            "ON me.entity_id = e.id JOIN memories m ON m.rid = me.memory_rid "
            "WHERE e.user_id=%s AND m.status='active' GROUP BY e.id", (user_id,)).fetchall()})

    def entity_links(self, scope: Scope, seed_ids: Sequence[int], max_degree: int,
                     limit: int = 2000) -> list[tuple[str, int]]:
        """(memory id, entity id) edges around the seed entities; see ``SQLiteStore``."""
        if not seed_ids:
            return []
        df = {i: n for i, n in self.entity_stats(scope.user_id).values()}
        seeds = [int(s) for s in seed_ids]
        with self._conn() as conn:
            hop1 = [r[0] for r in conn.execute(
                "SELECT DISTINCT memory_rid FROM memory_entities WHERE entity_id = ANY(%s)",
                (seeds,)).fetchall()]
            ents = {r[0] for r in conn.execute(
                "SELECT DISTINCT entity_id FROM memory_entities WHERE memory_rid = ANY(%s)",
                (hop1,)).fetchall()}
            ents = {e for e in ents if df.get(e, 0) <= max_degree} - set(seeds)
            edges: list[tuple[int, int]] = []
            order = seeds + sorted(ents, key=lambda e: (df.get(e, 0), e))
            for i in range(0, len(order), 500):
                part = order[i : i + 500]
                rows = conn.execute(
                    "SELECT memory_rid, entity_id FROM memory_entities WHERE entity_id = ANY(%s) "
                    "ORDER BY array_position(%s::bigint[], entity_id), memory_rid",
                    (part, part)).fetchall()
                edges.extend((r[0], r[1]) for r in rows)
                if len(edges) >= limit:
                    break
            edges = edges[:limit]
            where, args = _scope_sql(scope)
            ids = dict(conn.execute(
                f"SELECT rid, id FROM memories WHERE rid = ANY(%s) AND status='active' AND {where}",
                [sorted({m for m, _ in edges}), *args]).fetchall())
        return [(ids[m], e) for m, e in edges if m in ids]

    def speakers(self, user_id: str) -> list[str]:
        """Distinct speaker names in a user's memories (cached until the scope changes)."""
        return self._cached("speakers", user_id, lambda c: [r[0] for r in c.execute(
            "SELECT DISTINCT speaker FROM memories WHERE user_id=%s AND speaker IS NOT NULL "
            "AND status='active'", (user_id,)).fetchall()])

    def size_bytes(self) -> int:
        """Bytes on disk of remem's tables, with their indexes and TOAST."""
        return int(self._q(
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
            "WHERE c.relkind = 'r' AND c.relname = ANY(%s)", (list(_pg_schema.TABLES),))[0][0])
