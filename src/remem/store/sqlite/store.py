"""SQLite store: one file, WAL mode; per-user BM25 and int8 vectors searched in memory."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ...errors import InvalidInput, StoreError
from ...types import MemoryRecord
from ..records import MEMORY_FIELDS
from ..sql import Dialect, SQLStore, chunks
from . import schema as _sqlite_schema
from .caches import ScopeCacheMixin
from .files import private_dirs, private_file
from .lexical import LexicalMixin
from .transfer import TransferMixin
from ..dense import decode_int8, encode_int8
from .vectors import VectorMixin

log = logging.getLogger("remem")
DIALECT = Dialect("sqlite", json=json.dumps, unjson=json.loads)
_INSERT = (f"INSERT INTO memories({', '.join(MEMORY_FIELDS)}, embed_model) VALUES "
           f"({','.join('?' * (len(MEMORY_FIELDS) + 1))}) ON CONFLICT(id) DO NOTHING")


class SQLiteStore(TransferMixin, LexicalMixin, VectorMixin, ScopeCacheMixin, SQLStore):
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
                private_dirs(p.parent)
                private_file(p)  # 0600; SQLite gives its -wal and -shm the same mode
            except OSError as exc:
                raise StoreError(f"cannot create store {p}: {exc}") from exc
            self.path = str(p)
        self._lock = threading.RLock()
        self._cache: dict[str, Any] = {}  # user -> vectors (see vectors.py)
        self._speakers: dict[str, Any] = {}  # user -> cache entry (see caches.py)
        self._entities: dict[str, Any] = {}
        self._sizes: dict[str, Any] = {}
        # user -> (mutation count, parsed records): adds do not change existing records
        self._records: dict[str, tuple[int, dict[str, MemoryRecord]]] = {}
        self._lexicons: dict[str, Any] = {}  # user -> in-memory BM25 index (see lexical.py)
        self._saved: dict[tuple[str, str], int] = {}  # (kind, user) -> saved at size (caches.py)
        self._busy_ms = int(busy_timeout * 1000)
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

    dialect = DIALECT

    # -- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise StoreError(f"store query failed: {exc}") from exc

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
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

    def _forgetting(self, user_id: str, erase: Callable[[], dict[str, int]]) -> dict[str, int]:
        """Erase with ``secure_delete`` on (freed pages are zeroed), drop the user's
        in-memory indexes, then checkpoint the WAL into the file and truncate it, so no
        old page holding the user's text stays in either file."""
        with self._lock:
            self._db.execute("PRAGMA secure_delete = ON")
            try:
                counts = erase()
                # the saved search index of the user holds its words too
                self._write(lambda db: db.execute(
                    "DELETE FROM search_snapshots WHERE user_id=?", (user_id,)))
            finally:
                self._db.execute("PRAGMA secure_delete = OFF")
            for cache in (self._cache, self._lexicons, self._records, self._entities,
                          self._sizes, self._speakers):
                cache.pop(user_id, None)
            self._recent.pop(user_id, None)
            for key in [k for k in self._saved if k[1] == user_id]:
                del self._saved[key]
            if self.path != ":memory:":
                try:
                    busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                except sqlite3.Error as exc:
                    raise StoreError(f"erased, but the WAL checkpoint failed: {exc}") from exc
                if busy:
                    log.warning("forget_user: another connection is reading %s; the WAL "
                                "keeps the erased pages until its next checkpoint", self.path)
        return counts

    def _insert_row(self, db: sqlite3.Connection, values: tuple[Any, ...], m: MemoryRecord,
                    vector: Any, embed_model: str | None) -> int | None:
        cur = db.execute(_INSERT, (*values, embed_model))
        if cur.rowcount <= 0:
            return None
        rowid = int(cur.lastrowid or 0)
        if vector is not None:
            db.execute("INSERT INTO vectors(memory_rowid, data) VALUES (?, ?)",
                       (rowid, encode_int8(vector)))
        return rowid

    def _set_vector(self, db: sqlite3.Connection, rowid: int, text: str, vector: Any) -> None:
        db.execute("DELETE FROM vectors WHERE memory_rowid=?", (rowid,))
        if vector is not None:
            db.execute("INSERT INTO vectors(memory_rowid, data) VALUES (?, ?)",
                       (rowid, encode_int8(vector)))

    def _vectors_by_rowid(self, rowids: Sequence[int]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for part in chunks(rowids):
            out.update((r, decode_int8(blob)) for r, blob in self._q(
                f"SELECT memory_rowid, data FROM vectors WHERE memory_rowid IN "
                f"({','.join('?' * len(part))})", part))
        return out

    def delete_scope(self, scope: Any) -> int:
        n = super().delete_scope(scope)
        if scope.agent_id is None and scope.session_id is None:  # the saved index goes too
            self._write(lambda db: db.execute("DELETE FROM search_snapshots WHERE user_id=?",
                                              (scope.user_id,)))
            for key in [k for k in self._saved if k[1] == scope.user_id]:
                del self._saved[key]
        return n

    @contextmanager
    def pinned(self, user_id: str) -> Iterator[None]:
        """Nothing to pin: this store's version checks are local reads of its file."""
        yield

    # -- reads ----------------------------------------------------------------------
    def fetch(self, memory_ids: Sequence[str], user_id: str | None = None) -> list[MemoryRecord]:
        """Records for ids, in the given order (missing ids left out). With ``user_id``,
        only that user's records are returned and parsed records are cached until one of
        the user's memories changes (searches fetch the same candidates again and again)."""
        ids = list(memory_ids)
        if user_id is None:
            return super().fetch(ids)
        with self._lock:
            mutations = self._state(user_id)[1]
            hit = self._records.get(user_id)
            if hit is None or hit[0] != mutations or len(hit[1]) > 50_000:
                hit = (mutations, {})
                self._records[user_id] = hit
            cache = hit[1]
            cache.update((r.id, r) for r in self._fetch([i for i in ids if i not in cache],
                                                        user_id))
            return [cache[i] for i in ids if i in cache]
