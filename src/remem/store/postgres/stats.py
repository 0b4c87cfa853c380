"""The per-user statistics search asks the PostgreSQL store for (scope size, entity
mention counts, speaker names), held by each worker like its other search values
(``caches``) and kept current the way the SQLite store keeps its own: while only adds
happened, from the rows above the value's row id mark (the cost of the add, not of a 100k
scope); after changes or removals, computed again. A large scope's are saved for fresh
workers with its index and vectors (``snapshots``).

Each value is (statistic, mark): the highest row id among the rows it counted. Rows it
did not count because they did not match (not active, no entity) stay out on the next
delta too, unless a change made them match, and a change recomputes."""

from __future__ import annotations

import json
from typing import Any, Callable

from .snapshots import Codec

_SIZE = ("SELECT count(*), coalesce(max(rid), 0) FROM memories WHERE user_id=%s "
         "AND status='active'{}")
_ENTITIES = ("SELECT e.key, e.id, count(*), max(m.rid) FROM entities e JOIN memory_entities "
             "me ON me.entity_id = e.id JOIN memories m ON m.rid = me.memory_rid "
             "WHERE e.user_id=%s AND m.status='active' GROUP BY e.id")
_ENTITIES_SINCE = ("SELECT e.key, e.id, count(*), max(m.rid) FROM memories m "
                   "JOIN memory_entities me ON me.memory_rid = m.rid JOIN entities e "
                   "ON e.id = me.entity_id WHERE m.rid > %s AND m.user_id=%s "
                   "AND m.status='active' GROUP BY e.id")
_SPEAKERS = ("SELECT speaker, max(rid) FROM memories WHERE user_id=%s AND speaker IS NOT NULL "
             "AND status='active'{} GROUP BY speaker")


def _json(encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> Codec:
    return Codec(lambda v: (json.dumps(encode(v[0])).encode(), v[1]),
                 lambda blob, mark: (decode(json.loads(blob)), mark))


_SIZE_CODEC = _json(int, int)
_ENTITY_CODEC = _json(lambda d: [[k, i, n] for k, (i, n) in d.items()],
                      lambda rows: {k: (int(i), int(n)) for k, i, n in rows})
_SPEAKER_CODEC = _json(list, lambda names: [str(n) for n in names])
CODECS = {"size": _SIZE_CODEC, "entities": _ENTITY_CODEC, "speakers": _SPEAKER_CODEC}

Value = tuple[Any, int]  # (statistic, row id mark)


def _size(user_id: str) -> Callable[[Any, Value | None, bool], Value]:
    def update(conn: Any, old: Value | None, mutated: bool) -> Value:
        if old is None or mutated:
            n, mark = conn.execute(_SIZE.format(""), (user_id,)).fetchone()
            return int(n), int(mark)
        n, mark = conn.execute(_SIZE.format(" AND rid > %s"), (user_id, old[1])).fetchone()
        return old[0] + int(n), max(old[1], int(mark))

    return update


def _entities(user_id: str) -> Callable[[Any, Value | None, bool], Value]:
    def update(conn: Any, old: Value | None, mutated: bool) -> Value:
        if old is None or mutated:
            rows = conn.execute(_ENTITIES, (user_id,)).fetchall()
            return {k: (i, n) for k, i, n, _ in rows}, max((r[3] for r in rows), default=0)
        rows = conn.execute(_ENTITIES_SINCE, (old[1], user_id)).fetchall()
        new = dict(old[0])  # a fresh dict: a search may be reading the old one
        for k, i, n, _ in rows:
            new[k] = (i, new.get(k, (i, 0))[1] + n)
        return new, max([old[1], *(r[3] for r in rows)])

    return update


def _speakers(user_id: str) -> Callable[[Any, Value | None, bool], Value]:
    def update(conn: Any, old: Value | None, mutated: bool) -> Value:
        if old is None or mutated:
            rows = conn.execute(_SPEAKERS.format(""), (user_id,)).fetchall()
            return [r[0] for r in rows], max((r[1] for r in rows), default=0)
        rows = conn.execute(_SPEAKERS.format(" AND rid > %s"), (user_id, old[1])).fetchall()
        seen = set(old[0])
        return (old[0] + [r[0] for r in rows if r[0] not in seen],
                max([old[1], *(r[1] for r in rows)]))

    return update


class PgStatsMixin:
    """``scope_size``, ``entity_stats`` and ``speakers`` for ``PostgresStore``."""

    _cache_lock: Any
    _current: Any

    def _stat(self, kind: str, user_id: str, update: Callable[..., Value],
              codec: Codec) -> Any:
        with self._cache_lock:
            return self._current(kind, user_id, update, lambda v: 0, codec)[0]

    def scope_size(self, user_id: str) -> int:
        """Active memories of a user."""
        return int(self._stat("size", user_id, _size(user_id), _SIZE_CODEC))

    def entity_stats(self, user_id: str) -> dict[str, tuple[int, int]]:
        """Entity key -> (entity id, number of active memories mentioning it)."""
        return self._stat("entities", user_id, _entities(user_id), _ENTITY_CODEC)

    def speakers(self, user_id: str) -> list[str]:
        """Distinct speaker names in a user's active memories."""
        return self._stat("speakers", user_id, _speakers(user_id), _SPEAKER_CODEC)
