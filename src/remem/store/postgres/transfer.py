"""Export of a PostgreSQL store as plain records (the JSONL format's rows), paged so no
connection is held between pages; import is shared (``sql.SQLStore.import_records``)."""

from __future__ import annotations

import json
from typing import Any, Iterator, Sequence

import numpy as np

from ..records import (EPISODE_FIELDS, HISTORY_FIELDS, MEMORY_COLS, encode_vector,
                       episode_export, history_export, memory_export, row_to_memory)

_PAGE = 1000  # export page size


class PgTransferMixin:
    """``export_records`` for ``PostgresStore``."""

    _q: Any

    def _pages(self, sql: str, args: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (which selects the key first, then ``after`` it), in key order,
        one page per query (no connection is held between pages)."""
        last = -1
        while True:
            rows = self._q(sql, [last, *args, _PAGE])
            yield from rows
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]

    def export_records(self, user_id: str | None) -> Iterator[dict[str, Any]]:
        cond, args = (" AND user_id=?", [user_id]) if user_id is not None else ("", [])
        unjson = lambda v: v  # noqa: E731 (psycopg decodes JSON columns)
        for r in self._pages(f"SELECT rowid, {', '.join(EPISODE_FIELDS)} FROM episodes "
                             f"WHERE rowid > ?{cond} ORDER BY rowid LIMIT ?", args):
            yield episode_export(r[1:], unjson)
        for r in self._pages(f"SELECT rowid, {MEMORY_COLS}, embedding::text, embed_model "
                             f"FROM memories WHERE rowid > ?{cond} ORDER BY rowid LIMIT ?", args):
            emb = encode_vector(np.array(json.loads(r[24]), np.float32)) if r[24] is not None else None
            yield memory_export(row_to_memory(r[1:24], unjson), embedding=emb, embed_model=r[25])
        for r in self._pages(f"SELECT id, {', '.join(HISTORY_FIELDS)} FROM history "
                             f"WHERE id > ?{cond} ORDER BY id LIMIT ?", args):
            yield history_export(r[1:], unjson)
