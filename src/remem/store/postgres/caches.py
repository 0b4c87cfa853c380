"""What each PostgreSQL worker keeps in memory for search, and how it stays current.

A worker holds, per user it searched, the BM25 index (``lexical``) and the vectors
(``search``), the same structures the SQLite store ranks with, so both stores give the
same answers. Each value is filed under the user's scope version and mutation count
(``scope_versions``). Every read of a value first reads the version (one small query):
the same version, the value is current; after adds only, the value takes the rows
above its highest row id; after changes or removals, it reconciles or is rebuilt. So
workers stay stateless: a write through any worker is seen by the next search on every
worker.

Appending by row id is sound because every write transaction bumps (and so locks) its
users' ``scope_versions`` rows *first* (``SQLStore.add``): two writers of one user run
one after the other, so a row committed later has a higher row id than every row an
earlier snapshot showed. The version is read before the rows, so a value may be ahead
of the version it is filed under (it is re-checked next time, harmlessly), never behind.

Inside ``pinned(user_id)`` (one search: ``Memory.search``), the version read on entry
serves every read of the block, so a search costs one version check, not one per value.

Users searched least recently are dropped once the values hold more than
``cache_memories`` memories in all.

No cold start: the values of a large scope are saved in the database with the version,
mutation count and highest row id they are filed under (``snapshots``), and a worker
that holds no value of a user files the saved one as if it had computed it: the path
above brings it up to date (adds appended, changes reconciled or recomputed). A saved
value is an entry exactly as it was filed, so the argument above covers it too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..columns import least_recent
from .snapshots import Codec

Update = Callable[[Any, Any, bool], Any]  # (connection, old value or None, mutated) -> value
_PIN = ("SELECT version, mutations, ARRAY(SELECT kind FROM search_snapshots s "
        "WHERE s.user_id = %s) FROM scope_versions WHERE user_id = %s")


class PgCacheMixin:
    _conn: Any
    cache_memories: int
    _cache_lock: threading.RLock
    # (kind, user) -> (version, mutations, value); user -> memories held (LRU order)
    _values: dict[tuple[str, str], tuple[int, int, Any]]
    _recent: "OrderedDict[str, int]"

    _pins: threading.local
    _load_saved: Callable[[Any, str, str, Codec], tuple[int, int, Any] | None]
    _maybe_save: Callable[[str, str, Codec], None]
    _search_done: Callable[[str], None]

    def _state(self, conn: Any, user_id: str) -> tuple[int, int]:
        row = conn.execute("SELECT version, mutations FROM scope_versions WHERE user_id=%s",
                           (user_id,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    @contextmanager
    def pinned(self, user_id: str) -> Iterator[None]:
        """Reads of ``user_id`` in this thread inside the block see the user's values as
        of the scope version on entry (or newer): one version check for a whole search."""
        pins: dict[str, tuple[int, int]] = self._pins.__dict__.setdefault("users", {})
        if user_id in pins:
            yield
            return
        with self._conn() as conn:  # (and the kinds of its saved values: ``snapshots``)
            row = conn.execute(_PIN, (user_id, user_id)).fetchone()
        pins[user_id] = (int(row[0]), int(row[1])) if row else (0, 0)
        self._pins.__dict__.setdefault("kinds", {})[user_id] = set(row[2]) if row else set()
        try:
            yield
        finally:
            del pins[user_id]
            self._search_done(user_id)

    def _current(self, kind: str, user_id: str, update: Update,
                 size: Callable[[Any], int], codec: Codec | None = None) -> Any:
        """The user's ``kind`` value as of the user's scope version now (or as pinned):
        the cached one, or ``update(conn, old value or None, mutated since)``; with a
        ``codec``, a worker holding none starts from the saved one, and large values are
        saved (``snapshots``). Caller holds ``_cache_lock`` while using the value."""
        state = self._pins.__dict__.get("users", {}).get(user_id)
        hit = self._values.get((kind, user_id))
        changed = False
        if state is not None and hit is not None and hit[0] == state[0]:
            value = hit[2]
        else:
            with self._conn() as conn:
                version, mutations = state if state is not None else self._state(conn, user_id)
                hit = self._values.get((kind, user_id))
                if hit is None and codec is not None:
                    hit = self._load_saved(conn, kind, user_id, codec)
                if hit is not None and hit[0] == version:
                    value = hit[2]
                else:
                    old = hit[2] if hit is not None else None
                    value = update(conn, old, hit is not None and hit[1] != mutations)
                    changed = True
                self._values[(kind, user_id)] = (version, mutations, value)
        self._used(user_id, kind, size(value))
        if changed and codec is not None:
            self._maybe_save(kind, user_id, codec)
        return value

    def _used(self, user_id: str, kind: str, memories: int) -> None:
        self._recent[user_id] = max(memories, self._recent.get(user_id, 0))
        for user in least_recent(self._recent, user_id, self.cache_memories):
            for key in [k for k in self._values if k[1] == user]:
                del self._values[key]
