"""Export of an SQLite store as plain records (the JSONL format's rows); import is
shared (``sql.SQLStore.import_records``)."""

from __future__ import annotations

import json
from typing import Any, Iterator

from ..records import (EPISODE_FIELDS, HISTORY_FIELDS, MEMORY_COLS, encode_vector,
                       episode_export, history_export, memory_export, row_to_memory)
from ..dense import decode_int8


class TransferMixin:
    """``export_records`` for ``SQLiteStore`` (uses its lock and query helper)."""

    _lock: Any
    _q: Any

    def export_records(self, user_id: str | None) -> Iterator[dict[str, Any]]:
        cond, args = ("WHERE user_id=?", [user_id]) if user_id is not None else ("", [])
        with self._lock:
            eps = self._q(f"SELECT {', '.join(EPISODE_FIELDS)} FROM episodes {cond} "
                          "ORDER BY rowid", args)
            mems = self._q(
                f"SELECT {MEMORY_COLS}, (SELECT data FROM vectors WHERE memory_rowid = "
                f"memories.rowid), embed_model FROM memories {cond} ORDER BY rowid", args)
            hist = self._q(f"SELECT {', '.join(HISTORY_FIELDS)} FROM history {cond} "
                           "ORDER BY id", args)
        for r in eps:
            yield episode_export(r, json.loads)
        for r in mems:
            # exports carry float16 vectors whatever the store keeps (the format is shared)
            emb = encode_vector(decode_int8(r[23])) if r[23] is not None else None
            yield memory_export(row_to_memory(r, json.loads), embedding=emb,
                                embed_model=r[24] if emb is not None else None)
        for r in hist:
            yield history_export(r, json.loads)
