"""SQLite store: one file, WAL mode; per-user BM25 and int8 vectors searched in memory."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ...errors import InvalidInput, StoreError
from ...types import Episode, HistoryEntry, MemoryRecord, Scope
from . import schema as _sqlite_schema
from .._common import UNRANKED_TYPES
from .rows import _MEMORY_COLS, _row_to_memory, _scope_sql
from ..inspect import InspectMixin
from .caches import ScopeCacheMixin
from .lifecycle import LifecycleMixin
from .lexical import LexicalMixin
from .vectors import VectorMixin
from .transfer import TransferMixin
from ..._entities import normalise as entity_key
from .._common import check_filters, encode_int8, from_epoch

class SQLiteStore(TransferMixin, InspectMixin, LifecycleMixin, LexicalMixin, VectorMixin,
                  ScopeCacheMixin):
    """The embedded default store. Safe to share between threads; several processes may
    open the same file (WAL, busy timeout, immediate write transactions).

    Search runs on per-user indexes held in memory (BM25 postings, vectors, statistics),
    built from the file on a user's first search and kept current incrementally. Users
    searched least recently are dropped once the indexes hold more than
    ``cache_memories`` memories in all (about 3.5 KB of RAM each at 384 dimensions)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0,
                 cache_memories: int = 1_000_000) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            p = Path(self.path).expanduser()
            if p.is_dir():
                raise InvalidInput(f"store path {p} is a directory; give a file path")
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create directory for store {p}: {exc}") from exc
            self.path = str(p)
        self._lock = threading.RLock()
        self._cache: dict[str, Any] = {}  # user -> vectors (_sqlite_vectors)
        self._speakers: dict[str, Any] = {}  # user -> cache entry (see _sqlite_cache)
        self._entities: dict[str, Any] = {}
        self._sizes: dict[str, Any] = {}
        # user -> (mutation count, parsed records): adds do not change existing records
        self._records: dict[str, tuple[int, dict[str, MemoryRecord]]] = {}
        self._lexicons: dict[str, Any] = {}  # user -> in-memory BM25 index (_sqlite_lexical)
        if isinstance(cache_memories, bool) or not isinstance(cache_memories, int) \
                or cache_memories < 0:
            raise InvalidInput("cache_memories must be a non-negative int")
        self.cache_memories = cache_memories  # searched users' indexes kept up to this size
        self._recent: OrderedDict[str, int] = OrderedDict()  # user -> memories cached
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if self.path != ":memory:":
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(f"cannot switch {self.path} to WAL mode (got {mode})")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            _sqlite_schema.migrate(self._db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    # -- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store query failed: {exc}") from exc

    def _inspect_q(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._q(sql, args)

    def _write(self, fn: Any) -> Any:
        """Run ``fn(db)`` inside one IMMEDIATE transaction (all or nothing)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot start write transaction: {exc}") from exc
            try:
                result = fn(self._db)
                self._db.execute("COMMIT")
                return result
            except BaseException as exc:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"store write failed: {exc}") from exc
                raise

    @staticmethod
    def _bump(db: sqlite3.Connection, user_id: str, *, mutation: bool) -> None:
        db.execute(
            "INSERT INTO scope_versions(user_id, version, mutations) VALUES (?, 1, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET version = version + 1, "
            "mutations = mutations + excluded.mutations",
            (user_id, 1 if mutation else 0),
        )

    @staticmethod
    def _history(db: sqlite3.Connection, m_id: str, user_id: str, event: str,
                 old: str | None, new: str | None, actor: str = "api",
                 detail: Mapping[str, Any] | None = None) -> None:
        db.execute(
            "INSERT INTO history(memory_id, user_id, event, old_text, new_text, at, actor, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (m_id, user_id, event, old, new, time.time(), actor, json.dumps(dict(detail or {}))),
        )

    # -- writes ---------------------------------------------------------------------
    def add(
        self,
        episodes: Sequence[Episode],
        memories: Sequence[MemoryRecord],
        vectors: np.ndarray | None,
        embed_model: str,
        actor: str = "api",
    ) -> tuple[list[str], list[str], int]:
        blobs: Sequence[np.ndarray | None] = vectors if vectors is not None else [None] * len(memories)

        def run(db: sqlite3.Connection) -> tuple[list[str], list[str], int]:
            ep_ids: list[str] = []
            skipped: set[str] = set()
            now = time.time()
            for ep in episodes:
                s = ep.scope
                if ep.source_id is not None:
                    row = db.execute(
                        "SELECT id, content FROM episodes WHERE user_id=? AND agent_id=? "
                        "AND session_id=? AND source_id=?",
                        (s.user_id, s.agent_id or "", s.session_id or "", ep.source_id),
                    ).fetchone()
                    if row is not None:
                        if row[1] != ep.content:
                            raise InvalidInput(
                                f"turn id {ep.source_id!r} is already stored in this scope "
                                "with different content"
                            )
                        ep_ids.append(row[0])
                        skipped.add(ep.id)
                        continue
                db.execute(
                    "INSERT INTO episodes(id, user_id, agent_id, session_id, source_id, role, "
                    "name, content, timestamp, seq, metadata, created_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (ep.id, s.user_id, s.agent_id or "", s.session_id or "", ep.source_id,
                     ep.role, ep.name, ep.content, ep.timestamp, ep.seq,
                     json.dumps(dict(ep.metadata)), now),
                )
                ep_ids.append(ep.id)
            mem_ids: list[str] = []
            for mem, blob in zip(memories, blobs):
                if skipped.intersection(mem.episode_ids):
                    continue
                self._insert_memory(db, mem, blob, embed_model)
                self._history(db, mem.id, mem.scope.user_id, "ADD", None, mem.text, actor)
                mem_ids.append(mem.id)
            for user in {e.scope.user_id for e in episodes} | {m.scope.user_id for m in memories}:
                self._bump(db, user, mutation=False)
            return ep_ids, mem_ids, len(skipped)

        return self._write(run)

    @staticmethod
    def _insert_memory(db: sqlite3.Connection, m: MemoryRecord, vector: np.ndarray | None,
                       embed_model: str | None) -> None:
        s = m.scope
        db.execute(
            "INSERT INTO memories(id, user_id, agent_id, session_id, text, keys, type, "
            "speaker, source_ids, episode_ids, episode_id, created_at, updated_at, event_time, "
            "valid_from, importance, metadata, status, embed_model, dates, "
            "entities, valid_to, superseded_by, access_count, last_access) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (m.id, s.user_id, s.agent_id or "", s.session_id or "",
             m.text, m.keys, m.type, m.speaker, json.dumps(list(m.source_ids)),
             json.dumps(list(m.episode_ids)), m.episode_ids[0] if m.episode_ids else None,
             m.created_at, m.updated_at, m.event_time,
             m.valid_from if m.valid_from is not None else m.event_time, m.importance,
             json.dumps(dict(m.metadata)), m.status, embed_model if vector is not None else None,
             json.dumps([list(d) for d in m.dates]), json.dumps(list(m.entities)),
             m.valid_to, m.superseded_by, m.access_count, m.last_access),
        )
        if vector is not None:
            db.execute("INSERT INTO vectors(memory_rowid, data) VALUES "
                       "((SELECT rowid FROM memories WHERE id=?), ?)", (m.id, encode_int8(vector)))
        SQLiteStore._link_entities(db, m)

    @staticmethod
    def _link_entities(db: sqlite3.Connection, m: MemoryRecord) -> None:
        db.execute("DELETE FROM memory_entities WHERE memory_rowid = "
                   "(SELECT rowid FROM memories WHERE id=?)", (m.id,))
        if m.type in UNRANKED_TYPES:  # summaries/profiles are not part of the graph
            return
        for name in m.entities:
            key = entity_key(name)
            if not key:
                continue
            db.execute("INSERT INTO entities(user_id, key, name) VALUES (?,?,?) "
                       "ON CONFLICT(user_id, key) DO NOTHING", (m.scope.user_id, key, name))
            db.execute(
                "INSERT OR IGNORE INTO memory_entities(memory_rowid, entity_id) VALUES ("
                "(SELECT rowid FROM memories WHERE id=?), "
                "(SELECT id FROM entities WHERE user_id=? AND key=?))",
                (m.id, m.scope.user_id, key))

    def _drop_derived(self, db: sqlite3.Connection, old: MemoryRecord) -> None:
        """A turn changed or went away: segments built from its text go too (they are
        derived data; the turns themselves remain). Recorded in history."""
        if old.type != "turn" or not old.episode_ids:
            return
        rows = db.execute(
            "SELECT id, text FROM memories WHERE user_id=? AND type='segment' AND EXISTS "
            "(SELECT 1 FROM json_each(memories.episode_ids) WHERE value = ?)",
            (old.scope.user_id, old.episode_ids[0]),
        ).fetchall()
        for seg_id, seg_text in rows:
            db.execute("DELETE FROM memories WHERE id=?", (seg_id,))
            self._history(db, seg_id, old.scope.user_id, "DELETE", seg_text, None,
                          actor=f"derived:{old.id}")

    def update(self, memory_id: str, text: str, keys: str, vector: np.ndarray | None,
               embed_model: str, dates: Sequence[Sequence[str]] = (),
               entities: Sequence[str] = ()) -> MemoryRecord | None:
        def run(db: sqlite3.Connection) -> MemoryRecord | None:
            row = db.execute(f"SELECT {_MEMORY_COLS} FROM memories WHERE id=?", (memory_id,)).fetchone()
            if row is None:
                return None
            old = _row_to_memory(row)
            db.execute(
                "UPDATE memories SET text=?, keys=?, dates=?, entities=?, updated_at=?, "
                "embed_model=? WHERE id=?",
                (text, keys, json.dumps([list(d) for d in dates]), json.dumps(list(entities)),
                 # always moves (even on a coarse clock): search caches spot changed rows by it
                 max(time.time(), old.updated_at + 1e-6),
                 embed_model if vector is not None else None, memory_id),
            )
            rowid = db.execute("SELECT rowid FROM memories WHERE id=?", (memory_id,)).fetchone()[0]
            db.execute("DELETE FROM vectors WHERE memory_rowid=?", (rowid,))
            if vector is not None:
                db.execute("INSERT INTO vectors(memory_rowid, data) VALUES (?, ?)",
                           (rowid, encode_int8(vector)))
            self._history(db, memory_id, old.scope.user_id, "UPDATE", old.text, text)
            self._link_entities(db, dataclasses.replace(old, entities=tuple(entities)))
            self._drop_derived(db, old)
            self._bump(db, old.scope.user_id, mutation=True)
            return old

        return self._write(run)

    def delete(self, memory_id: str, *, actor: str = "api",
               detail: Mapping[str, Any] | None = None) -> MemoryRecord | None:
        def run(db: sqlite3.Connection) -> MemoryRecord | None:
            row = db.execute(f"SELECT {_MEMORY_COLS} FROM memories WHERE id=?", (memory_id,)).fetchone()
            if row is None:
                return None
            old = _row_to_memory(row)
            db.execute("DELETE FROM memories WHERE id=?", (memory_id,))
            self._history(db, memory_id, old.scope.user_id, "DELETE", old.text, None, actor, detail)
            self._drop_derived(db, old)
            self._bump(db, old.scope.user_id, mutation=True)
            return old

        return self._write(run)

    def delete_scope(self, scope: Scope) -> int:
        where, args = _scope_sql(scope)

        def run(db: sqlite3.Connection) -> int:
            rows = db.execute(f"SELECT id, text FROM memories WHERE {where}", args).fetchall()
            for m_id, text in rows:
                self._history(db, m_id, scope.user_id, "DELETE", text, None)
            db.execute(f"DELETE FROM memories WHERE {where}", args)
            db.execute(f"DELETE FROM episodes WHERE {where}", args)
            # entity names no remaining memory mentions go too (they are the user's data)
            db.execute("DELETE FROM entities WHERE user_id=? AND id NOT IN "
                       "(SELECT entity_id FROM memory_entities)", (scope.user_id,))
            self._bump(db, scope.user_id, mutation=True)
            return len(rows)

        return self._write(run)

    # -- reads ----------------------------------------------------------------------
    def get(self, memory_id: str) -> MemoryRecord | None:
        with self._lock:
            rows = self._q(f"SELECT {_MEMORY_COLS} FROM memories WHERE id=?", (memory_id,))
        return _row_to_memory(rows[0]) if rows else None

    def fetch(self, memory_ids: Sequence[str], user_id: str | None = None) -> list[MemoryRecord]:
        """Records for ids, in the given order (missing ids left out). With ``user_id``,
        only that user's records are returned and parsed records are cached until one of
        the user's memories changes (searches fetch the same candidates again and again)."""
        ids = list(memory_ids)
        with self._lock:
            cache: dict[str, MemoryRecord] = {}
            if user_id is not None:
                mutations = self._state(user_id)[1]
                hit = self._records.get(user_id)
                if hit is None or hit[0] != mutations or len(hit[1]) > 50_000:
                    hit = (mutations, {})
                    self._records[user_id] = hit
                cache = hit[1]
            todo = [i for i in dict.fromkeys(ids) if i not in cache]
            for i in range(0, len(todo), 500):
                chunk = todo[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._q(f"SELECT {_MEMORY_COLS} FROM memories WHERE id IN ({marks})", chunk):
                    rec = _row_to_memory(row)
                    if user_id is None or rec.scope.user_id == user_id:
                        cache[rec.id] = rec
            return [cache[i] for i in ids if i in cache]

    def list(self, scope: Scope, *, limit: int, offset: int) -> list[MemoryRecord]:
        where, args = _scope_sql(scope)
        with self._lock:
            rows = self._q(
                f"SELECT {_MEMORY_COLS} FROM memories WHERE {where} AND status='active' "
                "ORDER BY COALESCE(event_time, created_at), rowid LIMIT ? OFFSET ?",
                [*args, limit, offset],
            )
        return [_row_to_memory(r) for r in rows]

    def count(self, scope: Scope) -> int:
        where, args = _scope_sql(scope)
        with self._lock:
            return int(self._q(f"SELECT count(*) FROM memories WHERE {where} AND status='active'", args)[0][0])

    def history(self, memory_id: str) -> list[HistoryEntry]:
        with self._lock:
            rows = self._q(
                "SELECT memory_id, event, old_text, new_text, at, actor, user_id, detail "
                "FROM history WHERE memory_id=? ORDER BY id", (memory_id,),
            )
        return [HistoryEntry(r[0], r[1], r[2], r[3], from_epoch(r[4]), r[5], r[6],
                             json.loads(r[7])) for r in rows]

    def filter_ids(self, scope: Scope, filters: Mapping[str, Any]) -> set[str]:
        where, args = _scope_sql(scope)
        for key, value in check_filters(filters).items():
            col = key if key in ("type", "speaker") else f"json_extract(metadata, '$.\"{key}\"')"
            if isinstance(value, list):
                where += f" AND {col} IN ({','.join('?' * len(value))})"
                args.extend(value)
            else:
                where += f" AND {col} = ?"
                args.append(value)
        with self._lock:
            return {r[0] for r in self._q(f"SELECT id FROM memories WHERE {where} AND status='active'", args)}

    def neighbours(self, memory_ids: Sequence[str], window: int = 1) -> dict[str, list[str]]:
        """For each turn memory, the turn memories of the ``window`` episodes before and
        after its episode in the same session (insertion order), nearest first."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for mid in memory_ids:
                row = self._q(
                    "SELECT e.rowid, e.user_id, e.agent_id, e.session_id FROM memories m "
                    "JOIN episodes e ON e.id = m.episode_id WHERE m.id = ? AND m.type = 'turn'", (mid,))
                if not row:
                    continue
                rowid, user, agent, session = row[0]
                found: list[tuple[int, str]] = []
                for op, direction in (("<", "DESC"), (">", "ASC")):
                    for dist, (ep_id,) in enumerate(self._q(
                        f"SELECT id FROM episodes WHERE user_id=? AND agent_id=? AND session_id=? "
                        f"AND rowid {op} ? ORDER BY rowid {direction} LIMIT ?",
                        (user, agent, session, rowid, window)), start=1):
                        for (nid,) in self._q(
                            "SELECT id FROM memories WHERE episode_id=? AND type='turn' "
                            "AND status='active'", (ep_id,)):
                            found.append((dist, nid))
                found.sort(key=lambda x: x[0])
                out[mid] = [n for _, n in found]
        return out

    def episode_context(self, episode_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """An episode and the one before it in its session: (episode, previous or None)."""
        cols = "rowid, user_id, agent_id, session_id, role, name, content, timestamp"
        with self._lock:
            row = self._q(f"SELECT {cols} FROM episodes WHERE id=?", (episode_id,))
            if not row:
                return None
            r = row[0]
            prev = self._q(
                f"SELECT {cols} FROM episodes WHERE user_id=? AND agent_id=? AND session_id=? "
                "AND rowid < ? ORDER BY rowid DESC LIMIT 1", (r[1], r[2], r[3], r[0]))
        keys = ("rowid", "user_id", "agent_id", "session_id", "role", "name", "content", "timestamp")
        return dict(zip(keys, r)), (dict(zip(keys, prev[0])) if prev else None)

    def turns_of(self, episode_ids: Sequence[str]) -> dict[str, str]:
        """Active turn memory id for each episode id that has one."""
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(episode_ids))
        with self._lock:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                for ep, mid in self._q(
                    f"SELECT episode_id, id FROM memories WHERE episode_id IN "
                    f"({','.join('?' * len(chunk))}) AND type='turn' AND status='active'", chunk):
                    out[ep] = mid
        return out

    def entity_links(self, scope: Scope, seed_ids: Sequence[int], max_degree: int,
                     limit: int = 2000) -> list[tuple[str, int]]:
        """(memory id, entity id) edges around the seed entities: the seeds' memories and
        the entities they mention that are in at most ``max_degree`` memories (wider ones
        are hubs, not followed), with those entities' memories. At most ``limit`` edges,
        seeds' first. Only active memories in the scope."""
        if not seed_ids:
            return []
        df = {i: n for i, n in self.entity_stats(scope.user_id).values()}

        def chunks(ids: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
            ids = list(ids)
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                yield ",".join("?" * len(part)), part

        with self._lock:
            hop1: set[int] = set()
            for marks, part in chunks(seed_ids):
                hop1.update(r[0] for r in self._q(
                    f"SELECT memory_rowid FROM memory_entities WHERE entity_id IN ({marks})", part))
            ents: set[int] = set()
            for marks, part in chunks(sorted(hop1)):
                ents.update(r[0] for r in self._q(
                    f"SELECT entity_id FROM memory_entities WHERE memory_rowid IN ({marks})", part))
            ents = {e for e in ents if df.get(e, 0) <= max_degree} - set(seed_ids)
            edges: list[tuple[int, int]] = []
            for marks, part in chunks(list(seed_ids) + sorted(ents, key=lambda e: df.get(e, 0))):
                edges.extend((r[0], r[1]) for r in self._q(
                    f"SELECT memory_rowid, entity_id FROM memory_entities WHERE entity_id IN ({marks})",
                    part))
                if len(edges) >= limit:
                    break
            edges = edges[:limit]
            where, args = _scope_sql(scope)
            ids: dict[int, str] = {}
            for marks, part in chunks(sorted({m for m, _ in edges})):
                ids.update((r[0], r[1]) for r in self._q(
                    f"SELECT rowid, id FROM memories WHERE rowid IN ({marks}) "
                    f"AND status='active' AND {where}", [*part, *args]))
        return [(ids[m], e) for m, e in edges if m in ids]
