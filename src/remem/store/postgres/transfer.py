"""Export and import of a PostgreSQL store as plain records (the JSONL format's rows),
paged so no connection is held between pages."""

from __future__ import annotations

import base64
import json
from typing import Any, Iterator, Sequence

import numpy as np

from .._common import decode_vector, encode_vector, memory_export, memory_from_export
from .rows import _MEMORY_COLS, _row_to_memory, _vec

_PAGE = 1000  # export page size


class PgTransferMixin:
    """``export_records`` / ``import_records`` for ``PostgresStore``."""

    _q: Any
    _write: Any
    _insert_memory: Any
    _bump: Any
    _ensure_index: Any
    _upsert_entities: Any

    def _pages(self, sql: str, args: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (which selects the key first and has a ``{after}`` slot), in
        key order, one page per query (no connection is held between pages)."""
        last = -1
        while True:
            rows = self._q(sql.format(after="%s"), [last, *args, _PAGE])
            yield from rows
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]

    def export_records(self, user_id: str | None) -> Iterator[dict[str, Any]]:
        cond, args = (" AND user_id=%s", [user_id]) if user_id is not None else ("", [])
        for r in self._pages(
                "SELECT rid, id, user_id, agent_id, session_id, source_id, role, name, content, "
                "timestamp, seq, metadata, created_at FROM episodes WHERE rid > {after}"
                f"{cond} ORDER BY rid LIMIT %s", args):
            yield {"kind": "episode", "id": r[1], "user_id": r[2], "agent_id": r[3] or None,
                   "session_id": r[4] or None, "source_id": r[5], "role": r[6], "name": r[7],
                   "content": r[8], "timestamp": r[9], "seq": r[10], "metadata": r[11],
                   "created_at": r[12]}
        for r in self._pages(
                f"SELECT rid, {_MEMORY_COLS}, "
                "embedding::text, embed_model FROM memories WHERE rid > {after}"
                f"{cond} ORDER BY rid LIMIT %s", args):
            emb = encode_vector(np.array(json.loads(r[24]), np.float32)) if r[24] is not None else None
            yield memory_export(_row_to_memory(r[1:24]), embedding=emb, embed_model=r[25])
        for r in self._pages(
                "SELECT id, memory_id, user_id, event, old_text, new_text, at, actor, detail "
                "FROM history "
                "WHERE id > {after}" f"{cond} ORDER BY id LIMIT %s", args):
            yield {"kind": "history", "memory_id": r[1], "user_id": r[2], "event": r[3],
                   "old_text": r[4], "new_text": r[5], "at": r[6], "actor": r[7],
                   "detail": r[8]}

    def import_records(self, records: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Insert validated export records in one transaction; existing ids are skipped."""
        J = self._Jsonb
        models = {(r["embed_model"], len(decode_vector(base64.b64decode(r["embedding"]))))
                  for r in records if r["kind"] == "memory" and r.get("embedding")}
        for model, dim in models:
            self._ensure_index(model, dim)

        def run(conn: Any) -> dict[str, int]:
            stats = {"episodes": 0, "memories": 0, "history": 0, "skipped": 0}
            users: set[str] = set()
            recs = [memory_from_export(r) for r in records if r["kind"] == "memory"]
            self._upsert_entities(conn, recs)
            mems = iter(recs)
            for r in records:
                kind = r["kind"]
                if kind == "episode":
                    cur = conn.execute(
                        "INSERT INTO episodes(id, user_id, agent_id, session_id, source_id, role, "
                        "name, content, timestamp, seq, metadata, created_at) VALUES "
                        "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                        (r["id"], r["user_id"], r["agent_id"] or "", r["session_id"] or "",
                         r["source_id"], r["role"], r["name"], r["content"], r["timestamp"],
                         r["seq"], J(r["metadata"]), r["created_at"]))
                    stats["episodes" if cur.rowcount else "skipped"] += 1
                elif kind == "memory":
                    rec = next(mems)
                    vec = _vec(decode_vector(base64.b64decode(r["embedding"]))) \
                        if r["embedding"] else None
                    if self._insert_memory(conn, rec, vec, r["embed_model"]):
                        users.add(r["user_id"])
                        stats["memories"] += 1
                    else:
                        stats["skipped"] += 1
                else:
                    dup = conn.execute(
                        "SELECT 1 FROM history WHERE memory_id=%s AND event=%s AND at=%s "
                        "AND old_text IS NOT DISTINCT FROM %s AND new_text IS NOT DISTINCT FROM %s",
                        (r["memory_id"], r["event"], r["at"], r["old_text"], r["new_text"])).fetchone()
                    if dup:
                        stats["skipped"] += 1
                        continue
                    conn.execute(
                        "INSERT INTO history(memory_id, user_id, event, old_text, new_text, at, "
                        "actor, detail) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                        (r["memory_id"], r["user_id"], r["event"], r["old_text"], r["new_text"],
                         r["at"], r["actor"], J(r["detail"])))
                    stats["history"] += 1
            self._bump(conn, sorted(users), mutation=True)
            return stats

        return self._write(run)
