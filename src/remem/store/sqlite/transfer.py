"""Export and import of whole stores as plain records (the JSONL format's rows)."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any, Iterator, Sequence

from .._common import decode_int8, decode_vector, encode_vector, memory_export, memory_from_export
from .rows import _MEMORY_COLS, _row_to_memory


class TransferMixin:
    """``export_records`` / ``import_records`` for ``SQLiteStore`` (uses its lock, query
    and transaction helpers)."""

    _lock: Any
    _q: Any
    _write: Any
    _insert_memory: Any
    _bump: Any

    def export_records(self, user_id: str | None) -> Iterator[dict[str, Any]]:
        cond, args = ("WHERE user_id=?", [user_id]) if user_id is not None else ("", [])
        with self._lock:
            eps = self._q(
                "SELECT id, user_id, agent_id, session_id, source_id, role, name, content, "
                f"timestamp, seq, metadata, created_at FROM episodes {cond} ORDER BY rowid", args)
            mems = self._q(
                f"SELECT {_MEMORY_COLS}, (SELECT data FROM vectors WHERE memory_rowid = "
                f"memories.rowid), embed_model FROM memories {cond} ORDER BY rowid", args)
            hist = self._q(
                "SELECT memory_id, user_id, event, old_text, new_text, at, actor, detail "
                f"FROM history {cond} ORDER BY id", args)
        for r in eps:
            yield {"kind": "episode", "id": r[0], "user_id": r[1], "agent_id": r[2] or None,
                   "session_id": r[3] or None, "source_id": r[4], "role": r[5], "name": r[6],
                   "content": r[7], "timestamp": r[8], "seq": r[9],
                   "metadata": json.loads(r[10]), "created_at": r[11]}
        for r in mems:
            # exports carry float16 vectors whatever the store keeps (the format is shared)
            emb = encode_vector(decode_int8(r[23])) if r[23] is not None else None
            yield memory_export(_row_to_memory(r), embedding=emb,
                                embed_model=r[24] if emb is not None else None)
        for r in hist:
            yield {"kind": "history", "memory_id": r[0], "user_id": r[1], "event": r[2],
                   "old_text": r[3], "new_text": r[4], "at": r[5], "actor": r[6],
                   "detail": json.loads(r[7])}

    def import_records(self, records: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Insert validated export records in one transaction; existing ids are skipped."""

        def run(db: sqlite3.Connection) -> dict[str, int]:
            stats = {"episodes": 0, "memories": 0, "history": 0, "skipped": 0}
            users: set[str] = set()
            for r in records:
                kind = r["kind"]
                if kind == "episode":
                    if db.execute("SELECT 1 FROM episodes WHERE id=?", (r["id"],)).fetchone():
                        stats["skipped"] += 1
                        continue
                    try:
                        db.execute(
                            "INSERT INTO episodes(id, user_id, agent_id, session_id, source_id, "
                            "role, name, content, timestamp, seq, metadata, created_at) "
                            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                            (r["id"], r["user_id"], r["agent_id"] or "", r["session_id"] or "",
                             r["source_id"], r["role"], r["name"], r["content"], r["timestamp"],
                             r["seq"], json.dumps(r["metadata"]), r["created_at"]))
                    except sqlite3.IntegrityError:
                        stats["skipped"] += 1  # same caller turn id already stored
                        continue
                    stats["episodes"] += 1
                elif kind == "memory":
                    if db.execute("SELECT 1 FROM memories WHERE id=?", (r["id"],)).fetchone():
                        stats["skipped"] += 1
                        continue
                    rec = memory_from_export(r)
                    blob = decode_vector(base64.b64decode(r["embedding"])) \
                        if r["embedding"] else None
                    self._insert_memory(db, rec, blob, r["embed_model"])
                    users.add(r["user_id"])
                    stats["memories"] += 1
                else:
                    dup = db.execute(
                        "SELECT 1 FROM history WHERE memory_id=? AND event=? AND at=? "
                        "AND old_text IS ? AND new_text IS ?",
                        (r["memory_id"], r["event"], r["at"], r["old_text"], r["new_text"]),
                    ).fetchone()
                    if dup:
                        stats["skipped"] += 1
                        continue
                    db.execute(
                        "INSERT INTO history(memory_id, user_id, event, old_text, new_text, at, "
                        "actor, detail) VALUES (?,?,?,?,?,?,?,?)",
                        (r["memory_id"], r["user_id"], r["event"], r["old_text"], r["new_text"],
                         r["at"], r["actor"], json.dumps(r["detail"])))
                    stats["history"] += 1
            for u in users:
                self._bump(db, u, mutation=True)
            return stats

        return self._write(run)
