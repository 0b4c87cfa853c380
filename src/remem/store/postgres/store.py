"""PostgreSQL store: psycopg 3 + a connection pool, pgvector for dense search (HNSW per
embedding model), the SQLite store's per-user BM25 for lexical search (held by each
worker, keyed by the user's scope version: see ``lexical``). Many processes may share
one database; every query carries the caller's scope.

Vectors are rounded to float16 before they are stored, exactly as the SQLite store keeps
them, so scores agree across backends and ``remem copy`` is lossless both ways.
"""

from __future__ import annotations

import hashlib
import logging
import json
import re
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ...errors import StoreError
from ...types import MemoryRecord
from ..records import MEMORY_COLS, MEMORY_FIELDS
from ..snapshots import SNAPSHOT_MIN
from ..sql import Dialect, SQLStore, chunks
from . import schema as _pg_schema
from .batch import PgBatchMixin
from .caches import PgCacheMixin
from .lexical import CODEC as LEXICON_CODEC
from .lexical import PgLexicalMixin
from .search import SearchMixin, Vector, _vec, vector_codec, vector_dumper
from .snapshots import Codec, PgSnapshotMixin
from .stats import CODECS as STAT_CODECS
from .stats import PgStatsMixin
from .transfer import PgTransferMixin


def redact(dsn: str) -> str:
    """The DSN without its password (for logs and ``store.path``)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)


def _jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb  # the postgres extra is there once a store exists

    return Jsonb(value)


# a memory as read: access counts live partly in ``memory_access`` (schema migration 4)
_PENDING = "(SELECT a.{0} FROM memory_access a WHERE a.memory_rid = memories.rid)"
_MEMORY_COLS = MEMORY_COLS.replace(
    "access_count, last_access",
    f"memories.access_count + coalesce({_PENDING.format('access_count')}, 0), "
    f"GREATEST(memories.last_access, {_PENDING.format('last_access')})")
assert _MEMORY_COLS != MEMORY_COLS


def _translate(text: str) -> str:
    return (text.replace(MEMORY_COLS, _MEMORY_COLS).replace("%", "%%").replace("?", "%s")
            .replace("rowid", "rid"))


def _in_list(col: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{col} = ANY(?)", [list(values)]


def _in_order(col: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return (f"{col} = ANY(?) ORDER BY array_position(?::bigint[], {col}), memory_rowid",
            [list(values), list(values)])


def _metadata_filter(key: str, values: list[Any]) -> tuple[str, list[Any]]:
    """Metadata values compare as JSON; 1/0 also match true/false (as SQLite's
    ``json_extract`` does)."""
    alts = [json.dumps(v) for v in values]
    alts += [json.dumps(bool(v)) for v in values if type(v) is int and v in (0, 1)]
    return "metadata -> ? = ANY(?::jsonb[])", [key, alts]


log = logging.getLogger("remem")
DIALECT = Dialect(
    "postgres", json=_jsonb, unjson=lambda v: v, same="IS NOT DISTINCT FROM",
    greatest="GREATEST", lock=" FOR UPDATE", binary=' COLLATE "C"', sorted_writes=True,
    returning=" RETURNING 1",
    translate=_translate, has_json=lambda col: f"{col} @> jsonb_build_array(?::text)",
    in_list=_in_list, in_order=_in_order, metadata_filter=_metadata_filter)
_INSERT = (f"INSERT INTO memories({', '.join(MEMORY_FIELDS)}, content_hash, embedding, "
           f"embed_model) VALUES ({'?,' * len(MEMORY_FIELDS)} ?, ?::vector, ?) "
           "ON CONFLICT (id) DO NOTHING RETURNING rowid")


# the active turns of episodes, in row order (the last one wins), with their user
_TURNS = ("SELECT episode_id, id, user_id FROM memories WHERE episode_id = ANY(?) "
          "AND type = 'turn' AND status = 'active' ORDER BY rowid")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class PostgresStore(PgLexicalMixin, SearchMixin, PgStatsMixin, PgCacheMixin, PgSnapshotMixin,
                    PgBatchMixin, PgTransferMixin, SQLStore):
    """Store on PostgreSQL >= 15 with pgvector >= 0.6. Safe to share between threads and
    between processes (each ``remem serve`` worker opens its own pool). Search values of
    scopes of ``snapshot_min`` memories and more are saved for fresh workers."""

    dialect = DIALECT

    def __init__(self, dsn: str, *, pool_size: int = 10, timeout: float = 30.0,
                 cache_memories: int = 1_000_000, snapshot_min: int = SNAPSHOT_MIN) -> None:
        try:
            import psycopg
            from psycopg.types import TypeInfo
            from psycopg.types.json import Jsonb
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StoreError("the PostgreSQL store needs the postgres extra: "
                             "pip install 'remem[postgres]'") from exc
        self._pg = psycopg
        self._Jsonb = Jsonb
        self.path = redact(dsn)
        self.dsn = dsn  # as given (password too): companions such as the server's key store
        self._cache_lock = threading.RLock()  # held while search reads the values below
        self._values: dict[tuple[str, str], tuple[int, int, Any]] = {}  # see caches.py
        self._recent: OrderedDict[str, int] = OrderedDict()
        self._pins = threading.local()  # user -> pinned scope state (caches.py)
        self._batch = threading.local()  # the open write's deferred statements (batch.py)
        self.cache_memories = cache_memories  # searched users' indexes kept up to this size
        self.snapshot_min = snapshot_min  # scopes this large have their values saved
        self._saved: dict[tuple[str, str], int] = {}  # see snapshots.py
        self._jobs: dict[tuple[str, str], Codec] = {}
        self._jobs_cv = threading.Condition()
        self._saver: threading.Thread | None = None
        self._closing = False
        self._preloads: dict[tuple[str, str], Any] = {}
        self._preloader: Any = None
        self._pool: Any = None
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=int(timeout)) as conn:
                _pg_schema.migrate(conn)
                info = TypeInfo.fetch(conn, "vector")
            if info is None:
                raise StoreError(f"cannot open store {self.path}: no pgvector type")
            dumper = vector_dumper(info.oid)
            # autocommit: a read is one round trip (no BEGIN/COMMIT around it); writes
            # open their transaction in ``_write``
            self._pool = ConnectionPool(dsn, min_size=1, max_size=max(1, pool_size),
                                        timeout=timeout, open=True, name="remem",
                                        kwargs={"autocommit": True},
                                        configure=lambda c: c.adapters.register_dumper(
                                            Vector, dumper))
        except psycopg.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    # -- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        """Finish saving search values (``snapshots``), then close the pool."""
        if self._pool is not None:
            self._stop_saving()
            self._pool.close()

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        """A pooled connection in autocommit mode (each statement its own transaction)."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except self._pg.Error as exc:
            raise StoreError(f"store query failed: {exc}") from exc

    _reading = _conn  # reads: a pooled connection

    def _write(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(conn)`` in one transaction; retried on deadlock / serialization failure."""
        errors = self._pg.errors
        for attempt in range(4):
            try:
                # pipeline mode: statements whose results are not read go out together;
                # history rows and entity links go as one statement each (batch.py)
                with self._pool.connection() as conn, conn.pipeline(), conn.transaction():
                    return self._batched(conn, fn)
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                if attempt == 3:
                    raise StoreError(f"store write failed: {exc}") from exc
                time.sleep(0.01 * (attempt + 1))
            except self._pg.Error as exc:
                raise StoreError(f"store write failed: {exc}") from exc
        raise AssertionError("unreachable")

    def _forgetting(self, user_id: str, erase: Callable[[], dict[str, int]]) -> dict[str, int]:
        """Erase, drop the user's cached and saved search values, then VACUUM the tables
        the rows were in, so the dead tuples' space is pruned and reused (their bytes may
        stay in free space of the data files, the WAL archive and backups until those are
        recycled)."""
        counts = erase()
        self._drop_user(user_id)
        try:
            with self._pg.connect(self.dsn, autocommit=True) as conn:
                conn.execute("VACUUM memories, memory_access, episodes, history, entities, "
                             "memory_entities, search_snapshots")
        except self._pg.Error as exc:  # erased all the same: the next autovacuum prunes
            log.warning("forget_user: VACUUM after the erasure failed: %s", exc)
        return counts

    def _codec_for(self, kind: str) -> Codec | None:
        if kind.startswith("vectors:"):
            return vector_codec(kind[len("vectors:"):])
        return LEXICON_CODEC if kind == "lexicon" else STAT_CODECS.get(kind)

    def _drop_user(self, user_id: str) -> None:
        """After a user's memories went: this worker's search values of the user and the
        saved ones (``snapshots``: deleted after the erasure committed)."""
        with self._cache_lock:
            for key in [k for k in self._values if k[1] == user_id]:
                del self._values[key]
        try:
            self._drop_saved(user_id)
        except self._pg.Error as exc:
            raise StoreError(f"store write failed: {exc}") from exc

    def delete_scope(self, scope: Any) -> int:
        n = super().delete_scope(scope)
        if scope.agent_id is None and scope.session_id is None:  # the whole user
            self._drop_user(scope.user_id)
        return n

    def _kept(self, kind: str, user_id: str, cap: int) -> dict[str, Any]:
        """The user's ``kind`` answers found so far, kept until one of the user's memories
        changes (adds keep them) and dropped past ``cap`` entries. Caller holds
        ``_cache_lock``."""
        return self._current(kind, user_id, lambda conn, old, mutated: {}
                             if old is None or mutated or len(old) > cap else old,
                             lambda value: 0)

    def fetch(self, memory_ids: Sequence[str], user_id: str | None = None) -> list[MemoryRecord]:
        """Records for ids, in the given order (missing ids left out). With ``user_id``,
        only that user's, and parsed records are kept until one of the user's memories
        changes (adds leave the others as they are), as in the SQLite store."""
        ids = list(memory_ids)
        if user_id is None:
            return super().fetch(ids)
        with self._cache_lock:
            cache: dict[str, MemoryRecord] = self._kept("records", user_id, 50_000)
            missing = [i for i in ids if i not in cache]
        found = self._fetch(missing, user_id) if missing else []
        with self._cache_lock:
            cache.update((r.id, r) for r in found)
        return [cache[i] for i in ids if i in cache]

    def turns_of(self, episode_ids: Sequence[str]) -> dict[str, str]:
        """Active turn memory id for each episode id that has one. Inside a search
        (``pinned``), the searched user's answers are kept until one of the user's
        memories changes: an add stores a turn only with its new episode, so adds leave
        them true, and a search asks only for the turns it did not ask for before (or
        found none for)."""
        pins = self._pins.__dict__.get("users", {})
        if len(pins) != 1:
            return super().turns_of(episode_ids)
        (user_id,) = pins
        ids = list(dict.fromkeys(episode_ids))
        with self._cache_lock:
            cache: dict[str, str] = self._kept("turns", user_id, 100_000)
            missing = [e for e in ids if e not in cache]
        out = {e: cache[e] for e in ids if e in cache}
        if missing:
            mine: dict[str, str] = {}
            for part in chunks(missing):
                for ep, turn, user in self._q(_TURNS, (part,)):
                    out[ep] = turn
                    if user == user_id:
                        mine[ep] = turn
            with self._cache_lock:
                cache.update(mine)
        return out

    def record_access(self, accesses: Any) -> None:
        """Add to access counts and move last accesses, in ``memory_access`` (a narrow
        table of its own: ``memories`` and its indexes are not touched). One statement
        over arrays: the batch runs on a thread beside searches, and a statement per row
        kept it busy in Python long enough to delay the search threads (the GIL)."""
        if not accesses:
            return
        ids = sorted(accesses)  # rows in id order: concurrent batches do not deadlock
        args = (ids, [int(accesses[i][0]) for i in ids], [float(accesses[i][1]) for i in ids])

        def run(db: Any) -> None:
            db.execute(
                "INSERT INTO memory_access(memory_rid, access_count, last_access) "
                "SELECT m.rid, a.n, a.at FROM unnest(%s::text[], %s::int[], %s::float8[]) "
                "WITH ORDINALITY AS a(id, n, at, i) JOIN memories m ON m.id = a.id ORDER BY a.i "
                "ON CONFLICT (memory_rid) DO UPDATE SET access_count = "
                "memory_access.access_count + excluded.access_count, last_access = "
                "GREATEST(memory_access.last_access, excluded.last_access)", args)

        self._write(run)

    def _access_folded(self, db: Any, memory_id: str) -> None:
        db.execute("UPDATE memories m SET last_access = GREATEST(m.last_access, a.last_access) "
                   "FROM memory_access a WHERE a.memory_rid = m.rid AND m.id = %s", (memory_id,))
        db.execute("DELETE FROM memory_access WHERE memory_rid = "
                   "(SELECT rid FROM memories WHERE id = %s)", (memory_id,))

    def _insert_row(self, db: Any, values: tuple[Any, ...], m: MemoryRecord, vector: Any,
                    embed_model: str | None) -> int | None:
        row = self._x(db, _INSERT, (*values, _hash(m.text),
                                    _vec(vector) if vector is not None else None,
                                    embed_model)).fetchone()
        return None if row is None else int(row[0])

    def _insert_many(self, db: Any, sql: str, rows: Sequence[Sequence[Any]]) -> list[bool]:
        if not rows:
            return []
        cur = db.cursor()
        cur.executemany(self.dialect.sql(sql + " RETURNING 1"), rows, returning=True)
        return self._results(cur, len(rows), lambda row: row is not None)

    def _insert_rows(self, db: Any, items: Sequence[tuple[tuple[Any, ...], MemoryRecord, Any,
                                                           str | None]]) -> list[int | None]:
        """All of an add's memory rows in one round trip."""
        if not items:
            return []
        cur = db.cursor()
        cur.executemany(self.dialect.sql(_INSERT), [
            (*values, _hash(m.text), _vec(vector) if vector is not None else None, model)
            for values, m, vector, model in items], returning=True)
        return self._results(cur, len(items), lambda row: None if row is None else int(row[0]))

    @staticmethod
    def _results(cur: Any, n: int, value: Callable[[Any], Any]) -> list[Any]:
        """One value per statement of an ``executemany(..., returning=True)``."""
        out = []
        for i in range(n):
            if i:
                cur.nextset()
            out.append(value(cur.fetchone()))
        return out

    def _set_vector(self, db: Any, rowid: int, text: str, vector: Any) -> None:
        self._x(db, "UPDATE memories SET content_hash=?, embedding=?::vector WHERE rowid=?",
                (_hash(text), _vec(vector) if vector is not None else None, rowid))

    def _vectors_by_rowid(self, rowids: Sequence[int]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for part in chunks(rowids):
            cond, args = self.dialect.in_list("rowid", part)
            out.update((r, np.array(json.loads(text), np.float32)) for r, text in self._q(
                f"SELECT rowid, embedding::text FROM memories WHERE {cond} "
                "AND embedding IS NOT NULL", args))
        return out

    # -- sizes ---------------------------------------------------------------------
    def size_bytes(self) -> int:
        """Bytes on disk of remem's tables, with their indexes and TOAST."""
        return int(self._q(
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
            "WHERE c.relkind = 'r' AND c.relname = ANY(?)", (list(_pg_schema.TABLES),))[0][0])
