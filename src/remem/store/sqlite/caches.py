"""Per-user values the SQLite store keeps in memory for search (scope size, entity
mention counts, speaker names here; the BM25 index and the vectors in their own
modules), kept current *incrementally* by one mechanism, ``_incremental``.

Each user has a scope version (bumped by every write) and a mutation count (bumped only
by writes that change or remove existing memories). While only adds happened since a
value was computed, the value is brought up to date from the rows added since (rowid
above the one recorded), which costs the size of the add, not of the scope: a search
right after an add no longer recomputes statistics over 100k memories. Any mutation
recomputes from scratch, unless the value can patch itself (the BM25 index does).

No cold start: the values of a large scope (``SNAPSHOT_MIN`` memories) are saved in the
file (``search_snapshots``: plain arrays or JSON, with the scope version, mutation count and
rowid mark they describe) and saved again once the scope grew by a quarter. A fresh
process files a saved value as if it had computed it, and ``_incremental`` brings it up
to date the usual way (adds appended, changes reconciled or recomputed). Values are computed inside one read transaction, so the rowid
mark and the value describe the same snapshot even while other processes write."""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from .. import blobs, snapshots
from ..columns import least_recent

SNAPSHOT_MIN = snapshots.SNAPSHOT_MIN  # values of scopes this large are saved in the file

# a user's statistics, whole (then "AND rowid > ?" for the rows added since a mark)
SCOPE_SIZE = "SELECT count(*) FROM memories WHERE user_id=? AND status='active'"
ENTITY_STATS = ("SELECT e.key, e.id, count(*) FROM entities e JOIN memory_entities me "
                "ON me.entity_id = e.id JOIN memories m ON m.rowid = me.memory_rowid "
                "WHERE e.user_id=? AND m.status='active' GROUP BY e.id")
SPEAKERS = ("SELECT DISTINCT speaker FROM memories WHERE user_id=? AND speaker IS NOT NULL "
            "AND status='active'")


@dataclass(frozen=True)
class _Entry:
    version: int
    mutations: int
    max_rowid: int  # highest memories rowid in the snapshot the value describes
    value: Any


class ScopeCacheMixin:
    _lock: Any
    _q: Any
    _db: Any
    _sizes: dict[str, _Entry]
    _entities: dict[str, _Entry]
    _speakers: dict[str, _Entry]
    _cache: dict[str, Any]
    _lexicons: dict[str, Any]
    _records: dict[str, Any]
    _recent: "OrderedDict[str, int]"
    _saved: dict[tuple[str, str], int]  # (kind, user) -> memories in scope when saved/loaded
    _busy_ms: int
    cache_memories: int

    def _used(self, user_id: str, memories: int) -> None:
        """Note that a user's in-memory indexes (``memories`` rows) were just used; drop
        the least recently used other users' caches while the total exceeds
        ``cache_memories`` (they are rebuilt from the store when searched again)."""
        self._recent[user_id] = memories
        for user in least_recent(self._recent, user_id, self.cache_memories):
            for cache in (self._cache, self._lexicons, self._records, self._entities,
                          self._sizes, self._speakers):
                cache.pop(user, None)

    def _snapshot(self, kind: str, cache: dict[str, _Entry], user_id: str,
                  decode: Callable[[bytes], Any]) -> None:
        """File the user's saved ``kind`` value in ``cache`` (when there is one and the
        cache has none): ``_incremental`` then brings it up to date."""
        if user_id in cache:
            return
        rows = self._q("SELECT version, mutations, max_rowid, data FROM search_snapshots "
                       "WHERE user_id=? AND kind=?", (user_id, kind))
        if not rows:
            return
        version, mutations, max_rowid, data = rows[0]
        try:
            value = decode(data)
        except Exception:  # unreadable (written by another version?): compute afresh
            return
        cache[user_id] = _Entry(int(version), int(mutations), int(max_rowid), value)
        # loaded: growth counts from the next use; a blob in the zip form of schema 6
        # (copied on every load) is saved again in the current form at the next use
        self._saved[(kind, user_id)] = None if blobs.older(data) else -1

    def _keep(self, kind: str, cache: dict[str, _Entry], user_id: str,
              encode: Callable[[Any], bytes], rows: int) -> None:
        """Save the user's cached ``kind`` value when the scope (``rows`` memories) is
        large and the saved one missing or a quarter smaller. Best effort: never waits
        long for the write lock (a busy or read-only file is just not updated)."""
        saved = self._saved.get((kind, user_id))
        if saved == -1:  # just loaded
            self._saved[(kind, user_id)] = rows
            return
        db = self._db
        if not snapshots.due(rows, saved, SNAPSHOT_MIN) or db.in_transaction \
                or user_id not in cache:
            return
        entry = cache[user_id]
        blob = encode(entry.value)
        try:
            db.execute("PRAGMA busy_timeout = 50")
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT OR REPLACE INTO search_snapshots(user_id, kind, version, "
                           "mutations, max_rowid, data) VALUES (?,?,?,?,?,?)",
                           (user_id, kind, entry.version, entry.mutations, entry.max_rowid,
                            blob))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._saved[(kind, user_id)] = rows
        except sqlite3.Error:
            pass
        finally:
            db.execute(f"PRAGMA busy_timeout = {self._busy_ms}")

    def _state(self, user_id: str) -> tuple[int, int]:
        """(version, mutations) of the user's scope."""
        row = self._q("SELECT version, mutations FROM scope_versions WHERE user_id=?", (user_id,))
        return (int(row[0][0]), int(row[0][1])) if row else (0, 0)

    def _incremental(self, cache: dict[str, _Entry], user_id: str, full: Callable[[], Any],
                     delta: Callable[[Any, int], Any],
                     changed: Callable[[Any, int], Any] | None = None,
                     fits: Callable[[Any], bool] | None = None) -> Any:
        """``full()`` for the user, or ``delta(old value, old max rowid)`` when only adds
        happened since the cached value; unchanged scopes cost one small query. After
        changes or removals, ``changed(old value, old max rowid)`` may bring the value up
        to date (``None``: recompute with ``full``); a cached value ``fits`` rejects is
        recomputed too."""
        with self._lock:
            own = not self._db.in_transaction
            if own:
                self._db.execute("BEGIN")
            try:
                version, mutations = self._state(user_id)
                hit = cache.get(user_id)
                if hit is not None and fits is not None and not fits(hit.value):
                    hit = None
                if hit is not None and hit.version == version:
                    return hit.value
                top = int(self._q("SELECT coalesce(max(rowid), 0) FROM memories")[0][0])
                value = None
                if hit is not None and hit.max_rowid <= top:
                    if hit.mutations == mutations:
                        value = delta(hit.value, hit.max_rowid)
                    elif changed is not None:
                        value = changed(hit.value, hit.max_rowid)
                if value is None:
                    value = full()
                cache[user_id] = _Entry(version, mutations, top, value)
                return value
            finally:
                if own:
                    self._db.execute("COMMIT")

    def scope_size(self, user_id: str) -> int:
        """Active memories of a user."""
        self._snapshot("size", self._sizes, user_id, lambda b: int(json.loads(b)))
        n = int(self._incremental(
            self._sizes, user_id, lambda: self._q(SCOPE_SIZE, (user_id,))[0][0],
            lambda old, mark: old + self._q(SCOPE_SIZE + " AND rowid > ?",
                                            (user_id, mark))[0][0]))
        self._keep("size", self._sizes, user_id, lambda v: json.dumps(int(v)).encode(), n)
        return n

    def entity_stats(self, user_id: str) -> dict[str, tuple[int, int]]:
        """Entity key -> (entity id, number of active memories mentioning it)."""
        added = ("SELECT e.key, e.id, count(*) FROM memories m JOIN memory_entities me "
                 "ON me.memory_rowid = m.rowid JOIN entities e ON e.id = me.entity_id "
                 "WHERE m.user_id=? AND m.rowid > ? AND m.status='active' GROUP BY e.id")

        def delta(old: dict[str, tuple[int, int]], mark: int) -> dict[str, tuple[int, int]]:
            new = dict(old)  # a fresh dict: a search may be reading the old one
            for k, i, n in self._q(added, (user_id, mark)):
                new[k] = (i, new.get(k, (i, 0))[1] + n)
            return new

        self._snapshot("entities", self._entities, user_id,
                       lambda b: {k: (i, n) for k, i, n in json.loads(b)})
        value = self._incremental(self._entities, user_id, lambda: {
            k: (i, n) for k, i, n in self._q(ENTITY_STATS, (user_id,))}, delta)
        self._keep("entities", self._entities, user_id, lambda v: json.dumps(
            [[k, i, n] for k, (i, n) in v.items()]).encode(), self.scope_size(user_id))
        return value

    def speakers(self, user_id: str) -> list[str]:
        """Distinct speaker names in a user's active memories."""
        def delta(old: list[str], mark: int) -> list[str]:
            seen = set(old)
            return old + [r[0] for r in self._q(SPEAKERS + " AND rowid > ?",
                                                (user_id, mark)) if r[0] not in seen]

        self._snapshot("speakers", self._speakers, user_id, lambda b: list(json.loads(b)))
        value = self._incremental(
            self._speakers, user_id,
            lambda: [r[0] for r in self._q(SPEAKERS, (user_id,))], delta)
        self._keep("speakers", self._speakers, user_id, lambda v: json.dumps(v).encode(),
                   self.scope_size(user_id))
        return value
