"""Per-user values the SQLite store keeps in memory for search (scope size, entity
mention counts, speaker names here; the BM25 index and the vectors in their own
modules), kept current *incrementally* by one mechanism, ``_incremental``.

Each user has a scope version (bumped by every write) and a mutation count (bumped only
by writes that change or remove existing memories). While only adds happened since a
value was computed, the value is brought up to date from the rows added since (rowid
above the one recorded), which costs the size of the add, not of the scope: a search
right after an add no longer recomputes statistics over 100k memories. Any mutation
recomputes from scratch, unless the value can patch itself (the BM25 index does). Values are computed inside one read transaction, so the rowid
mark and the value describe the same snapshot even while other processes write."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from ..sql import ENTITY_STATS, SCOPE_SIZE, SPEAKERS


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
    cache_memories: int

    def _used(self, user_id: str, memories: int) -> None:
        """Note that a user's in-memory indexes (``memories`` rows) were just used; drop
        the least recently used other users' caches while the total exceeds
        ``cache_memories`` (they are rebuilt from the store when searched again)."""
        recent = self._recent
        recent[user_id] = memories
        recent.move_to_end(user_id)
        total = sum(recent.values())
        while total > self.cache_memories and len(recent) > 1:
            user, size = next(iter(recent.items()))
            if user == user_id:
                break
            del recent[user]
            total -= size
            for cache in (self._cache, self._lexicons, self._records, self._entities,
                          self._sizes, self._speakers):
                cache.pop(user, None)

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
        return int(self._incremental(
            self._sizes, user_id, lambda: self._q(SCOPE_SIZE.format(""), (user_id,))[0][0],
            lambda old, mark: old + self._q(SCOPE_SIZE.format("+") + " AND rowid > ?",
                                            (user_id, mark))[0][0]))

    def entity_stats(self, user_id: str) -> dict[str, tuple[int, int]]:
        """Entity key -> (entity id, number of active memories mentioning it)."""
        added = ("SELECT e.key, e.id, count(*) FROM memories m JOIN memory_entities me "
                 "ON me.memory_rowid = m.rowid JOIN entities e ON e.id = me.entity_id "
                 "WHERE m.rowid > ? AND +m.user_id=? AND m.status='active' GROUP BY e.id")

        def delta(old: dict[str, tuple[int, int]], mark: int) -> dict[str, tuple[int, int]]:
            new = dict(old)  # a fresh dict: a search may be reading the old one
            for k, i, n in self._q(added, (mark, user_id)):
                new[k] = (i, new.get(k, (i, 0))[1] + n)
            return new

        return self._incremental(self._entities, user_id, lambda: {
            k: (i, n) for k, i, n in self._q(ENTITY_STATS, (user_id,))}, delta)

    def speakers(self, user_id: str) -> list[str]:
        """Distinct speaker names in a user's active memories."""
        def delta(old: list[str], mark: int) -> list[str]:
            seen = set(old)
            return old + [r[0] for r in self._q(SPEAKERS.format("+") + " AND rowid > ?",
                                                (user_id, mark)) if r[0] not in seen]

        return self._incremental(self._speakers, user_id,
                                 lambda: [r[0] for r in self._q(SPEAKERS.format(""), (user_id,))],
                                 delta)
