"""Writes whose results are not read, sent as one statement per kind at the end of the
write transaction (``PostgresStore._write``): an add of 20 turns wrote a history row, an
entity link delete and an entity link insert per memory (~60 statements, each a few
dozen microseconds of Python in psycopg and a little server time); now it writes three
array statements. Entities are created in one statement too, where the shared code asks.

What the shared code sees is unchanged: the rows are in place before the transaction
commits, in the order they were asked for; a memory linked twice in one transaction keeps
the last links asked for, as it would with a statement each."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Mapping, Sequence

from ...types import MemoryRecord
from ..records import HISTORY_FIELDS
from ..sql import UNRANKED_TYPES
from ..._text import entity_key

_HISTORY = (f"INSERT INTO history({', '.join(HISTORY_FIELDS)}) SELECT m, u, e, o, n, a, c, "
            "d::jsonb FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
            "%s::float8[], %s::text[], %s::text[]) WITH ORDINALITY AS x(m, u, e, o, n, a, c, d, i) "
            "ORDER BY i")
_UNLINK = "DELETE FROM memory_entities WHERE memory_rid = ANY(%s::bigint[])"
_LINK = ("INSERT INTO memory_entities(memory_rid, entity_id) SELECT x.rid, e.id "
         "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS x(rid, user_id, key) "
         "JOIN entities e ON e.user_id = x.user_id AND e.key = x.key "
         "JOIN memories m ON m.rid = x.rid ORDER BY x.rid, e.id ON CONFLICT DO NOTHING")
_ENTITIES = ("INSERT INTO entities(user_id, key, name) SELECT * FROM unnest(%s::text[], "
             "%s::text[], %s::text[]) ORDER BY 1, 2 ON CONFLICT (user_id, key) DO NOTHING")


class _Batch:
    def __init__(self) -> None:
        self.history: list[tuple[Any, ...]] = []
        self.unlink: set[int] = set()
        self.links: dict[int, tuple[str, list[str]]] = {}  # rid -> (user, entity keys)


class PgBatchMixin:
    """``_history``, ``_link_entities`` and ``_upsert_entities`` for ``PostgresStore``."""

    _batch: threading.local

    def _history(self, db: Any, m_id: str, user_id: str, event: str, old: str | None,
                 new: str | None, actor: str = "api",
                 detail: Mapping[str, Any] | None = None) -> None:
        row = (m_id, user_id, event, old, new, time.time(), actor, json.dumps(dict(detail or {})))
        batch = getattr(self._batch, "open", None)
        if batch is None:
            batch = _Batch()
            batch.history.append(row)
            self._flush(db, batch)
        else:
            batch.history.append(row)

    def _link_entities(self, db: Any, rowid: int, m: MemoryRecord) -> None:
        keys = [] if m.type in UNRANKED_TYPES else sorted(
            {k for n in m.entities if (k := entity_key(n))})
        batch = getattr(self._batch, "open", None)
        own = batch is None
        if batch is None:
            batch = _Batch()
        batch.unlink.add(rowid)
        batch.links[rowid] = (m.scope.user_id, keys)
        if own:
            self._flush(db, batch)

    def _upsert_entities(self, db: Any, memories: Sequence[MemoryRecord]) -> None:
        """Create the entities these memories mention (the first spelling of each name
        wins), in one statement, in key order (concurrent adds do not deadlock)."""
        names: dict[tuple[str, str], str] = {}
        for m in memories:
            if m.type in UNRANKED_TYPES:
                continue
            for n in m.entities:
                if k := entity_key(n):
                    names.setdefault((m.scope.user_id, k), n)
        if names:
            items = sorted(names.items())
            db.execute(_ENTITIES, ([u for (u, _), _ in items], [k for (_, k), _ in items],
                                   [n for _, n in items]))

    def _batched(self, db: Any, fn: Any) -> Any:
        """``fn(db)`` with its history rows and entity links sent at its end."""
        self._batch.open = batch = _Batch()
        try:
            result = fn(db)
        finally:
            self._batch.open = None
        self._flush(db, batch)
        return result

    @staticmethod
    def _flush(db: Any, batch: _Batch) -> None:
        if batch.history:
            db.execute(_HISTORY, [list(col) for col in zip(*batch.history)])
        if batch.unlink:
            db.execute(_UNLINK, (sorted(batch.unlink),))
        links = [(rid, user, k) for rid, (user, keys) in sorted(batch.links.items())
                 for k in keys]
        if links:
            db.execute(_LINK, ([r for r, _, _ in links], [u for _, u, _ in links],
                               [k for _, _, k in links]))

