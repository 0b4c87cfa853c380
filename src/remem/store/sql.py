"""The SQL both stores share, written once over a small ``Dialect``.

Statements are written in SQLite's dialect (``?`` placeholders, ``rowid`` columns);
``Dialect.sql`` turns them into the backend's (PostgreSQL: ``%s`` and its ``rid``
columns, ``memory_rowid`` becoming ``memory_rid``). What differs beyond that is a field or
a method of the dialect (JSON columns, null-safe equality, ``IN`` lists, row locks). A
backend subclasses ``SQLStore`` and supplies the connection handling (``_reading``,
``_write``) and the parts that really differ: how a memory row and its vector are
inserted, and the search candidates.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping, Sequence

from .._text import entity_key
from ..errors import InvalidInput, StoreError
from ..types import Episode, HistoryEntry, MemoryRecord, Scope
from .inspect import InspectMixin
from .lifecycle import LifecycleMixin
from .reembed import ReembedMixin
from .records import (EPISODE_FIELDS, HISTORY_FIELDS, MEMORY_COLS, episode_import,
                      episode_values, export_vector, history_entry, history_import,
                      memory_from_export, memory_values, row_to_memory)

_FILTER_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")

# written by maintenance (``remem.maintain``): not ranked by lexical, vector or graph
# search in any store, so they never shift the statistics turns are ranked by
UNRANKED_TYPES = ("summary", "profile")
#: memory types derived from other memories (not something said); lists leave them out
#: unless asked for by type
DERIVED_TYPES = ("segment", "summary", "profile")
#: ``list``/``count`` statuses: current (not archived, not superseded), archived,
#: superseded (closed by a newer statement), or all of them
LIST_STATUS = {"active": "status='active' AND superseded_by IS NULL",
               "archived": "status='archived'",
               "superseded": "superseded_by IS NOT NULL",
               "all": "1=1"}
UNRANKED_SQL = "(" + ", ".join(f"'{t}'" for t in UNRANKED_TYPES) + ")"  # for NOT IN

_CHUNK = 500  # ids per IN list


def _sqlite_in(col: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{col} IN ({','.join('?' * len(values))})", list(values)


@dataclass(frozen=True)
class Dialect:
    """How one backend's SQL differs from the SQLite dialect the shared SQL is written in."""

    name: str
    json: Callable[[Any], Any]  # Python value -> parameter of a JSON column
    unjson: Callable[[Any], Any]  # JSON column value -> Python value
    same: str = "IS"  # null-safe equality
    greatest: str = "max"  # of two values
    lock: str = ""  # suffix that locks the rows a SELECT reads until the transaction ends
    binary: str = ""  # collation that sorts text by bytes
    sorted_writes: bool = False  # write rows in key order (no deadlocks between writers)
    # appended to ``INSERT ... ON CONFLICT DO NOTHING`` whose caller asks if a row went in:
    # PostgreSQL writes in pipeline mode, where ``rowcount`` is not known until a result
    # is read (SQLite tells ``rowcount``)
    returning: str = ""
    translate: Callable[[str], str] = field(default=lambda s: s)
    has_json: Callable[[str], str] = field(  # a JSON array column holds the text ``?``
        default=lambda col: f"EXISTS (SELECT 1 FROM json_each({col}) WHERE value = ?)")
    in_list: Callable[[str, Sequence[Any]], tuple[str, list[Any]]] = _sqlite_in
    # ``(sql, args)`` that select the rows whose ``col`` is one of ``values``, and the
    # order of the rows (entity links: in the order of the values given)
    in_order: Callable[[str, Sequence[Any]], tuple[str, list[Any]]] = _sqlite_in
    metadata_filter: Callable[[str, list[Any]], tuple[str, list[Any]]] = field(
        default=lambda key, values: (f"json_extract(metadata, '$.\"{key}\"') IN "
                                     f"({','.join('?' * len(values))})", values))

    def sql(self, text: str) -> str:
        return _sql(self.translate, text)


@lru_cache(maxsize=4096)
def _sql(translate: Callable[[str], str], text: str) -> str:
    return translate(text)


def scope_sql(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    """The WHERE condition and arguments that confine a query to ``scope``; ``alias``
    qualifies the columns."""
    p = f"{alias}." if alias else ""
    sql, args = f"{p}user_id = ?", [scope.user_id]
    if scope.agent_id is not None:
        sql += f" AND {p}agent_id = ?"
        args.append(scope.agent_id)
    if scope.session_id is not None:
        sql += f" AND {p}session_id = ?"
        args.append(scope.session_id)
    return sql, args


def chunks(values: Sequence[Any]) -> Iterator[list[Any]]:
    values = list(values)
    for i in range(0, len(values), _CHUNK):
        yield values[i:i + _CHUNK]


def check_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a filter mapping: keys are ``type``, ``speaker`` or metadata keys; values
    are str/int/float/bool or a non-empty list of them (meaning "any of")."""
    if not isinstance(filters, Mapping):
        raise InvalidInput(f"filters must be a dict, got {type(filters).__name__}")
    out: dict[str, Any] = {}
    for key, value in filters.items():
        if not isinstance(key, str) or not _FILTER_KEY.match(key):
            raise InvalidInput(f"filter key {key!r} is not a valid name (letters, digits, _ . -)")
        values = value if isinstance(value, list) else [value]
        if not values:
            raise InvalidInput(f"filter {key!r} has an empty list")
        for v in values:
            if not isinstance(v, (str, int, float, bool)):
                raise InvalidInput(f"filter {key!r} value must be a scalar or list of scalars")
            if isinstance(v, int) and not -(2**63) <= v < 2**63:
                raise InvalidInput(f"filter {key!r} value is outside the 64-bit integer range")
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidInput(f"filter {key!r} value must be a finite number")
            if isinstance(v, str):
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    raise InvalidInput(f"filter {key!r} value is not valid Unicode text") from None
                if "\x00" in v:  # no store keeps it (PostgreSQL text cannot)
                    raise InvalidInput(f"filter {key!r} value must not contain NUL characters")
        out[key] = [int(v) if isinstance(v, bool) else v for v in values] if isinstance(value, list) \
            else (int(value) if isinstance(value, bool) else value)
    return out


class SQLStore(LifecycleMixin, InspectMixin, ReembedMixin):
    """Everything both stores do the same way, over ``self.dialect``. Subclasses provide
    ``_reading()`` (a connection for reads), ``_write(fn)`` (``fn(db)`` in one
    transaction), ``_insert_row`` and ``_set_vector`` (where vectors live differs)."""

    dialect: Dialect

    # -- provided by the backend --------------------------------------------------------
    def _reading(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _write(self, fn: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    def _insert_row(self, db: Any, values: tuple[Any, ...], m: MemoryRecord, vector: Any,
                    embed_model: str | None) -> int | None:
        """Insert a memory row (``records.MEMORY_FIELDS`` values) and its vector; its row
        id, or ``None`` when the id is already stored."""
        raise NotImplementedError

    def _set_vector(self, db: Any, rowid: int, text: str, vector: Any) -> None:
        """Replace a memory's vector (``None``: it has none) after its text changed."""
        raise NotImplementedError

    def _before_write(self, vectors: Any, embed_model: str | None) -> None:
        """Called before a write that stores ``vectors`` (PostgreSQL: its HNSW index)."""

    # -- plumbing -----------------------------------------------------------------------
    def _x(self, db: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        return db.execute(self.dialect.sql(sql), args)

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._reading() as db:
            return self._x(db, sql, args).fetchall()

    def _rec(self, row: Sequence[Any]) -> MemoryRecord:
        return row_to_memory(row, self.dialect.unjson)

    def _load(self, db: Any, memory_id: str) -> MemoryRecord | None:
        row = self._x(db, f"SELECT {MEMORY_COLS} FROM memories WHERE id=?{self.dialect.lock}",
                      (memory_id,)).fetchone()
        return self._rec(row) if row else None

    def _lock_rows(self, db: Any, memory_ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """The records of ``memory_ids`` that exist (locked, in id order, on PostgreSQL)."""
        out: dict[str, MemoryRecord] = {}
        for part in chunks(sorted(set(memory_ids))):
            cond, args = self.dialect.in_list("id", part)
            out.update((r.id, r) for r in map(self._rec, self._x(
                db, f"SELECT {MEMORY_COLS} FROM memories WHERE {cond} ORDER BY id"
                f"{self.dialect.lock}", args).fetchall()))
        return out

    def _bump(self, db: Any, users: Sequence[str], *, mutation: bool) -> None:
        for user_id in sorted(set(users)):
            self._x(db, "INSERT INTO scope_versions(user_id, version, mutations) VALUES (?, 1, ?) "
                        "ON CONFLICT(user_id) DO UPDATE SET version = scope_versions.version + 1, "
                        "mutations = scope_versions.mutations + excluded.mutations",
                    (user_id, 1 if mutation else 0))

    def _insert_many(self, db: Any, sql: str, rows: Sequence[Sequence[Any]]) -> list[bool]:
        """Run ``INSERT ... ON CONFLICT DO NOTHING`` for each row; which rows went in
        (PostgreSQL: all in one round trip)."""
        return [self._inserted(self._x(db, sql + self.dialect.returning, r)) for r in rows]

    def _insert_rows(self, db: Any, items: Sequence[tuple[tuple[Any, ...], MemoryRecord, Any,
                                                           str | None]]) -> list[int | None]:
        """``_insert_row`` for each (values, memory, vector, model): row ids (None: the id
        was stored already)."""
        return [self._insert_row(db, *item) for item in items]

    def _inserted(self, cur: Any) -> bool:
        """Whether an ``INSERT ... ON CONFLICT DO NOTHING{dialect.returning}`` stored its row."""
        return cur.fetchone() is not None if self.dialect.returning else cur.rowcount > 0

    def _history(self, db: Any, m_id: str, user_id: str, event: str, old: str | None,
                 new: str | None, actor: str = "api",
                 detail: Mapping[str, Any] | None = None) -> None:
        self._x(db, f"INSERT INTO history({', '.join(HISTORY_FIELDS)}) VALUES (?,?,?,?,?,?,?,?)",
                (m_id, user_id, event, old, new, time.time(), actor,
                 self.dialect.json(dict(detail or {}))))

    # -- writes -------------------------------------------------------------------------
    def add(self, episodes: Sequence[Episode], memories: Sequence[MemoryRecord],
            vectors: Any, embed_model: str,
            actor: str = "api") -> tuple[list[str], list[str], int]:
        rows: Sequence[Any] = vectors if vectors is not None else [None] * len(memories)
        self._before_write(vectors, embed_model)

        def run(db: Any) -> tuple[list[str], list[str], int]:
            # first: it locks the users' version rows, so two adds to one user run one
            # after the other and row ids grow in commit order (PostgreSQL's search caches
            # rely on it, see ``postgres.lexical``)
            self._bump(db, [e.scope.user_id for e in episodes] +
                       [m.scope.user_id for m in memories], mutation=False)
            ep_ids: list[str] = []
            skipped: set[str] = set()
            now = time.time()
            went_in = self._insert_many(
                db, f"INSERT INTO episodes({', '.join(EPISODE_FIELDS)}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                [episode_values(ep, now, self.dialect.json) for ep in episodes])
            for ep, inserted in zip(episodes, went_in):
                if inserted:
                    ep_ids.append(ep.id)
                    continue
                found = self._stored_episode(db, ep)
                if found is None:
                    raise StoreError(f"episode id {ep.id!r} collides with a stored one")
                ep_ids.append(found)
                skipped.add(ep.id)
            kept = [(m, v) for m, v in zip(memories, rows) if not skipped.intersection(m.episode_ids)]
            self._upsert_entities(db, [m for m, _ in kept])
            rowids = self._insert_rows(db, [(memory_values(m, self.dialect.json), m, v,
                                             embed_model if v is not None else None)
                                            for m, v in kept])
            for (mem, _), rowid in zip(kept, rowids):
                if rowid is not None:
                    self._link_entities(db, rowid, mem)
                self._history(db, mem.id, mem.scope.user_id, "ADD", None, mem.text, actor)
            return ep_ids, [m.id for m, _ in kept], len(skipped)

        return self._write(run)

    def _stored_episode(self, db: Any, ep: Episode) -> str | None:
        """The id under which the episode's caller id is already stored in its scope
        (``InvalidInput`` if with other content), else ``None``."""
        if ep.source_id is None:
            return None
        s = ep.scope
        row = self._x(db, "SELECT id, content FROM episodes WHERE user_id=? AND agent_id=? "
                          "AND session_id=? AND source_id=?",
                      (s.user_id, s.agent_id or "", s.session_id or "", ep.source_id)).fetchone()
        if row is None:
            return None
        if row[1] != ep.content:
            raise InvalidInput(f"turn id {ep.source_id!r} is already stored in this scope "
                               "with different content")
        return str(row[0])

    def _insert_memory(self, db: Any, m: MemoryRecord, vector: Any,
                       embed_model: str | None) -> bool:
        rowid = self._insert_row(db, memory_values(m, self.dialect.json), m, vector,
                                 embed_model if vector is not None else None)
        if rowid is None:
            return False
        self._link_entities(db, rowid, m)
        return True

    def _upsert_entities(self, db: Any, memories: Sequence[MemoryRecord]) -> None:
        """Create the entities these memories mention (the first spelling of each name
        wins; on PostgreSQL in key order, so concurrent adds do not deadlock)."""
        names: dict[tuple[str, str], str] = {}
        for m in memories:
            if m.type in UNRANKED_TYPES:  # summaries/profiles are not part of the graph
                continue
            for n in m.entities:
                if k := entity_key(n):
                    names.setdefault((m.scope.user_id, k), n)
        items = sorted(names.items()) if self.dialect.sorted_writes else list(names.items())
        for (user_id, key), name in items:
            self._x(db, "INSERT INTO entities(user_id, key, name) VALUES (?,?,?) "
                        "ON CONFLICT(user_id, key) DO NOTHING", (user_id, key, name))

    def _link_entities(self, db: Any, rowid: int, m: MemoryRecord) -> None:
        self._x(db, "DELETE FROM memory_entities WHERE memory_rowid=?", (rowid,))
        if m.type in UNRANKED_TYPES:
            return
        keys = list(dict.fromkeys(k for n in m.entities if (k := entity_key(n))))
        if self.dialect.sorted_writes:
            keys.sort()
        for part in chunks(keys):
            cond, args = self.dialect.in_list("key", part)
            self._x(db, "INSERT INTO memory_entities(memory_rowid, entity_id) SELECT ?, id "
                        f"FROM entities WHERE user_id=? AND {cond} ON CONFLICT DO NOTHING",
                    (rowid, m.scope.user_id, *args))

    def _drop_derived(self, db: Any, old: MemoryRecord) -> None:
        """A turn changed or went away: segments built from its text go too (they are
        derived data; the turns themselves remain). Recorded in history."""
        if old.type != "turn" or not old.episode_ids:
            return
        rows = self._x(db, "SELECT id, text FROM memories WHERE user_id=? AND type='segment' "
                           f"AND {self.dialect.has_json('memories.episode_ids')}",
                       (old.scope.user_id, old.episode_ids[0])).fetchall()
        for seg_id, seg_text in rows:
            self._x(db, "DELETE FROM memories WHERE id=?", (seg_id,))
            self._history(db, seg_id, old.scope.user_id, "DELETE", seg_text, None,
                          actor=f"derived:{old.id}")

    def update(self, memory_id: str, text: str, keys: str, vector: Any, embed_model: str,
               dates: Sequence[Sequence[str]] = (),
               entities: Sequence[str] = ()) -> MemoryRecord | None:
        if vector is not None:
            self._before_write(vector[None, :] if getattr(vector, "ndim", 2) == 1 else vector,
                               embed_model)
        J = self.dialect.json

        def run(db: Any) -> MemoryRecord | None:
            old = self._load(db, memory_id)
            if old is None:
                return None
            self._x(db, "UPDATE memories SET text=?, keys=?, dates=?, entities=?, updated_at=?, "
                        "embed_model=? WHERE id=?",
                    (text, keys, J([list(d) for d in dates]), J(list(entities)),
                     # always moves (even on a coarse clock): search caches spot changed rows
                     max(time.time(), old.updated_at + 1e-6),
                     embed_model if vector is not None else None, memory_id))
            rowid = self._x(db, "SELECT rowid FROM memories WHERE id=?", (memory_id,)).fetchone()[0]
            self._set_vector(db, rowid, text, vector)
            self._history(db, memory_id, old.scope.user_id, "UPDATE", old.text, text)
            new = dataclasses.replace(old, entities=tuple(entities))
            self._upsert_entities(db, [new])
            self._link_entities(db, rowid, new)
            self._drop_derived(db, old)
            self._bump(db, [old.scope.user_id], mutation=True)
            return old

        return self._write(run)

    def delete(self, memory_id: str, *, actor: str = "api",
               detail: Mapping[str, Any] | None = None) -> MemoryRecord | None:
        def run(db: Any) -> MemoryRecord | None:
            old = self._load(db, memory_id)
            if old is None:
                return None
            self._x(db, "DELETE FROM memories WHERE id=?", (memory_id,))
            self._history(db, memory_id, old.scope.user_id, "DELETE", old.text, None, actor,
                          detail)
            self._drop_derived(db, old)
            self._bump(db, [old.scope.user_id], mutation=True)
            return old

        return self._write(run)

    def delete_scope(self, scope: Scope) -> int:
        where, args = scope_sql(scope)

        def run(db: Any) -> int:
            rows = self._x(db, f"SELECT id, text FROM memories WHERE {where} ORDER BY rowid"
                               f"{self.dialect.lock}", args).fetchall()
            for m_id, text in rows:
                self._history(db, m_id, scope.user_id, "DELETE", text, None)
            self._x(db, f"DELETE FROM memories WHERE {where}", args)
            self._x(db, f"DELETE FROM episodes WHERE {where}", args)
            # entity names no remaining memory mentions go too (they are the user's data)
            self._x(db, "DELETE FROM entities WHERE user_id=? AND NOT EXISTS (SELECT 1 FROM "
                        "memory_entities me WHERE me.entity_id = entities.id)", (scope.user_id,))
            self._bump(db, [scope.user_id], mutation=True)
            return len(rows)

        return self._write(run)

    def forget_user(self, user_id: str, *, actor: str = "api") -> dict[str, int]:
        """Erase every row of one user (memories with their vectors and entity links,
        episodes, history, entities) in one transaction and record a tombstone (who,
        when, by whom, how many rows). Returns the counts. The backend then makes the
        bytes go (``_scrub``)."""

        def run(db: Any) -> dict[str, int]:
            counts = {}
            for table in ("memories", "episodes", "history", "entities"):
                counts[table] = int(self._x(db, f"SELECT count(*) FROM {table} WHERE user_id=?",
                                            (user_id,)).fetchone()[0])
                self._x(db, f"DELETE FROM {table} WHERE user_id=?", (user_id,))
            self._x(db, "INSERT INTO erasures(user_id, at, actor, counts) VALUES (?,?,?,?)",
                    (user_id, time.time(), actor, self.dialect.json(counts)))
            self._bump(db, [user_id], mutation=True)
            return counts

        counts = self._forgetting(user_id, lambda: self._write(run))
        return counts

    def _forgetting(self, user_id: str, erase: Callable[[], dict[str, int]]) -> dict[str, int]:
        """Run ``erase()`` so that no copy of the erased rows is left behind (caches,
        free pages, the write-ahead log): the backend's part of ``forget_user``."""
        return erase()

    def erasures(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """The tombstones ``forget_user`` left (of one user, or all), oldest first."""
        where, args = ("WHERE user_id=?", (user_id,)) if user_id is not None else ("", ())
        return [{"user_id": u, "at": at, "actor": a, "counts": self.dialect.unjson(c)}
                for u, at, a, c in self._q(
                    f"SELECT user_id, at, actor, counts FROM erasures {where} ORDER BY id", args)]

    # -- import -------------------------------------------------------------------------
    def import_records(self, records: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Insert validated export records in one transaction; existing ids are skipped."""
        J = self.dialect.json
        models = {r["embed_model"]: v for r in records
                  if r["kind"] == "memory" and (v := export_vector(r)) is not None}
        for model, vector in models.items():
            self._before_write(vector[None, :], model)

        def run(db: Any) -> dict[str, int]:
            stats = {"episodes": 0, "memories": 0, "history": 0, "skipped": 0}
            users: set[str] = set()
            recs = {r["id"]: memory_from_export(r) for r in records if r["kind"] == "memory"}
            self._upsert_entities(db, list(recs.values()))
            for r in records:
                kind = r["kind"]
                if kind == "episode":
                    cur = self._x(db, f"INSERT INTO episodes({', '.join(EPISODE_FIELDS)}) "
                                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
                                      f"{self.dialect.returning}", episode_import(r, J))
                    stats["episodes" if self._inserted(cur) else "skipped"] += 1
                elif kind == "memory":
                    if self._insert_memory(db, recs[r["id"]], export_vector(r), r["embed_model"]):
                        users.add(r["user_id"])
                        stats["memories"] += 1
                    else:
                        stats["skipped"] += 1
                elif self._x(db, f"SELECT 1 FROM history WHERE memory_id=? AND event=? AND at=? "
                                 f"AND old_text {self.dialect.same} ? AND new_text "
                                 f"{self.dialect.same} ?",
                             (r["memory_id"], r["event"], r["at"], r["old_text"],
                              r["new_text"])).fetchone():
                    stats["skipped"] += 1
                else:
                    self._x(db, f"INSERT INTO history({', '.join(HISTORY_FIELDS)}) "
                                "VALUES (?,?,?,?,?,?,?,?)", history_import(r, J))
                    stats["history"] += 1
            self._bump(db, sorted(users), mutation=True)
            return stats

        return self._write(run)

    # -- reads --------------------------------------------------------------------------
    def get(self, memory_id: str) -> MemoryRecord | None:
        rows = self._q(f"SELECT {MEMORY_COLS} FROM memories WHERE id=?", (memory_id,))
        return self._rec(rows[0]) if rows else None

    def _fetch(self, ids: Sequence[str], user_id: str | None) -> list[MemoryRecord]:
        """Records of ``ids`` (of ``user_id`` only, if given), in no particular order."""
        out: list[MemoryRecord] = []
        with self._reading() as db:
            for part in chunks(list(dict.fromkeys(ids))):
                cond, args = self.dialect.in_list("id", part)
                out.extend(r for r in map(self._rec, self._x(
                    db, f"SELECT {MEMORY_COLS} FROM memories WHERE {cond}", args).fetchall())
                    if user_id is None or r.scope.user_id == user_id)
        return out

    def fetch(self, memory_ids: Sequence[str], user_id: str | None = None) -> list[MemoryRecord]:
        """Records for ids, in the given order (missing ids, or other users', left out)."""
        ids = list(memory_ids)
        found = {r.id: r for r in self._fetch(ids, user_id)}
        return [found[i] for i in ids if i in found]

    def _listed(self, scope: Scope, types: Sequence[str] | None,
                status: str) -> tuple[str, list[Any]]:
        where, args = scope_sql(scope)
        where += " AND " + LIST_STATUS[status]
        if types is None:  # what was said: derived rows (segments, summaries, ...) left out
            cond, more = self.dialect.in_list("type", list(DERIVED_TYPES))
            where += f" AND NOT {cond}"
            args.extend(more)
        elif types:
            cond, more = self.dialect.in_list("type", list(types))
            where += f" AND {cond}"
            args.extend(more)
        return where, args

    def list(self, scope: Scope, *, limit: int, offset: int, types: Sequence[str] | None = (),
             status: str = "active") -> list[MemoryRecord]:
        where, args = self._listed(scope, types, status)
        rows = self._q(f"SELECT {MEMORY_COLS} FROM memories WHERE {where} "
                       "ORDER BY COALESCE(event_time, created_at), rowid LIMIT ? OFFSET ?",
                       [*args, limit, offset])
        return [self._rec(r) for r in rows]

    def count(self, scope: Scope, *, types: Sequence[str] | None = (),
              status: str = "active") -> int:
        where, args = self._listed(scope, types, status)
        return int(self._q(f"SELECT count(*) FROM memories WHERE {where}", args)[0][0])

    def history(self, memory_id: str) -> list[HistoryEntry]:
        rows = self._q(f"SELECT {', '.join(HISTORY_FIELDS)} FROM history WHERE memory_id=? "
                       "ORDER BY id", (memory_id,))
        return [history_entry(r, self.dialect.unjson) for r in rows]

    def filter_ids(self, scope: Scope, filters: Mapping[str, Any]) -> set[str]:
        """Active memory ids of the scope that match every filter: ``type``/``speaker``
        compare as text; metadata values as JSON, where 1/0 also match true/false."""
        where, args = scope_sql(scope)
        for key, value in check_filters(filters).items():
            values = value if isinstance(value, list) else [value]
            if key in ("type", "speaker"):
                cond, more = self.dialect.in_list(key, [str(v) for v in values])
            else:
                cond, more = self.dialect.metadata_filter(key, values)
            where += f" AND {cond}"
            args.extend(more)
        return {r[0] for r in self._q(f"SELECT id FROM memories WHERE {where} "
                                      "AND status='active'", args)}

    def neighbours(self, memory_ids: Sequence[str], window: int = 1) -> dict[str, list[str]]:
        """For each turn memory, the turn memories of the ``window`` episodes before and
        after its episode in the same session (insertion order), nearest first."""
        out: dict[str, list[str]] = {}
        with self._reading() as db:
            for mid in memory_ids:
                row = self._x(db, "SELECT e.rowid, e.user_id, e.agent_id, e.session_id FROM "
                                  "memories m JOIN episodes e ON e.id = m.episode_id "
                                  "WHERE m.id=? AND m.type='turn'", (mid,)).fetchone()
                if row is None:
                    continue
                rowid, user, agent, session = row
                found: list[tuple[int, str]] = []
                for op, direction in (("<", "DESC"), (">", "ASC")):
                    eps = self._x(db, "SELECT id FROM episodes WHERE user_id=? AND agent_id=? "
                                      f"AND session_id=? AND rowid {op} ? "
                                      f"ORDER BY rowid {direction} LIMIT ?",
                                  (user, agent, session, rowid, window)).fetchall()
                    for dist, (ep_id,) in enumerate(eps, start=1):
                        for (nid,) in self._x(db, "SELECT id FROM memories WHERE episode_id=? "
                                                  "AND type='turn' AND status='active' "
                                                  "ORDER BY rowid", (ep_id,)).fetchall():
                            found.append((dist, nid))
                found.sort(key=lambda x: x[0])
                out[mid] = [n for _, n in found]
        return out

    def episode_context(self, episode_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """An episode and the one before it in its session: (episode, previous or None)."""
        cols = "rowid, user_id, agent_id, session_id, role, name, content, timestamp"
        keys = ("rowid", "user_id", "agent_id", "session_id", "role", "name", "content", "timestamp")
        with self._reading() as db:
            r = self._x(db, f"SELECT {cols} FROM episodes WHERE id=?", (episode_id,)).fetchone()
            if r is None:
                return None
            prev = self._x(db, f"SELECT {cols} FROM episodes WHERE user_id=? AND agent_id=? "
                               "AND session_id=? AND rowid < ? ORDER BY rowid DESC LIMIT 1",
                           (r[1], r[2], r[3], r[0])).fetchone()
        return dict(zip(keys, r)), (dict(zip(keys, prev)) if prev else None)

    def turns_of(self, episode_ids: Sequence[str]) -> dict[str, str]:
        """Active turn memory id for each episode id that has one."""
        out: dict[str, str] = {}
        with self._reading() as db:
            for part in chunks(list(dict.fromkeys(episode_ids))):
                cond, args = self.dialect.in_list("episode_id", part)
                out.update(self._x(db, f"SELECT episode_id, id FROM memories WHERE {cond} "
                                       "AND type='turn' AND status='active' ORDER BY rowid",
                                   args).fetchall())
        return out

    def entity_stats(self, user_id: str) -> dict[str, tuple[int, int]]:
        raise NotImplementedError

    def entity_links(self, scope: Scope, seed_ids: Sequence[int], max_degree: int,
                     limit: int = 2000) -> list[tuple[str, int]]:
        """(memory id, entity id) edges around the seed entities: the seeds' memories and
        the entities they mention that are in at most ``max_degree`` memories (wider ones
        are hubs, not followed), with those entities' memories. At most ``limit`` edges,
        seeds' first. Only active memories in the scope."""
        if not seed_ids:
            return []
        df = {i: n for i, n in self.entity_stats(scope.user_id).values()}
        seeds = [int(s) for s in seed_ids]
        d = self.dialect
        with self._reading() as db:
            def column(select: str, col: str, values: Sequence[Any]) -> set[int]:
                out: set[int] = set()
                for part in chunks(values):
                    cond, args = d.in_list(col, part)
                    out.update(r[0] for r in self._x(
                        db, f"SELECT {select} FROM memory_entities WHERE {cond}", args).fetchall())
                return out

            hop1 = column("memory_rowid", "entity_id", seeds)
            ents = column("entity_id", "memory_rowid", sorted(hop1))
            ents = {e for e in ents if df.get(e, 0) <= max_degree} - set(seeds)
            edges: list[tuple[int, int]] = []
            for part in chunks(seeds + sorted(ents, key=lambda e: (df.get(e, 0), e))):
                cond, args = d.in_order("entity_id", part)
                edges.extend((r[0], r[1]) for r in self._x(
                    db, f"SELECT memory_rowid, entity_id FROM memory_entities WHERE {cond}",
                    args).fetchall())
                if len(edges) >= limit:
                    break
            edges = edges[:limit]
            where, sargs = scope_sql(scope)
            ids: dict[int, str] = {}
            for part in chunks(sorted({m for m, _ in edges})):
                cond, args = d.in_list("rowid", part)
                ids.update(self._x(db, f"SELECT rowid, id FROM memories WHERE {cond} "
                                       f"AND status='active' AND {where}",
                                   [*args, *sargs]).fetchall())
        return [(ids[m], e) for m, e in edges if m in ids]
