"""Lifecycle writes of the SQLite store: archive/restore, merge, supersede, access counts.

Each is one IMMEDIATE transaction that also writes the history entries, so a lifecycle
action is either fully visible (with its history) or not at all. Raw episodes are never
touched: only derived memories change."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, Mapping, Sequence

from ...errors import InvalidInput
from ...types import MemoryRecord
from .._lifecycle_rules import check_supersede, plan_merge
from .rows import _MEMORY_COLS, _row_to_memory

STATUS_EVENTS = {"archived": "ARCHIVE", "active": "RESTORE"}


class LifecycleMixin:
    _write: Any
    _history: Any
    _bump: Any

    @staticmethod
    def _load(db: sqlite3.Connection, memory_id: str) -> MemoryRecord | None:
        row = db.execute(f"SELECT {_MEMORY_COLS} FROM memories WHERE id=?", (memory_id,)).fetchone()
        return _row_to_memory(row) if row else None

    def set_status(self, memory_ids: Sequence[str], status: str, *, actor: str = "api",
                   reason: str | None = None) -> list[str]:
        """Move memories to ``status`` ("archived" or "active"); ids already there or
        missing are left alone. Returns the ids that changed."""
        if status not in STATUS_EVENTS:
            raise InvalidInput(f"status must be one of {', '.join(STATUS_EVENTS)}")
        detail = {"reason": reason} if reason else {}

        def run(db: sqlite3.Connection) -> list[str]:
            changed, users = [], set()
            for mid in dict.fromkeys(memory_ids):
                row = db.execute("SELECT user_id, text, status FROM memories WHERE id=?",
                                 (mid,)).fetchone()
                if row is None or row[2] == status:
                    continue
                db.execute("UPDATE memories SET status=? WHERE id=?", (status, mid))
                self._history(db, mid, row[0], STATUS_EVENTS[status], row[1], row[1], actor, detail)
                changed.append(mid)
                users.add(row[0])
            for user in users:
                self._bump(db, user, mutation=True)
            return changed

        return self._write(run)

    def merge(self, keep_id: str, drop_ids: Sequence[str], *,
              actor: str = "api") -> MemoryRecord | None:
        """Fold ``drop_ids`` into ``keep_id``: the kept memory gains their source turns
        and episodes (provenance union), the others are removed from the index. Both
        sides get a MERGE history entry naming the other. None if ``keep_id`` is gone."""

        def run(db: sqlite3.Connection) -> MemoryRecord | None:
            keep = self._load(db, keep_id)
            if keep is None:
                return None
            drops = [d for d in (self._load(db, i) for i in dict.fromkeys(drop_ids))
                     if d is not None and d.id != keep_id]
            plan = plan_merge(keep, drops)
            if not drops:
                return keep
            db.execute(
                "UPDATE memories SET source_ids=?, episode_ids=?, importance=?, "
                "access_count=?, updated_at=? WHERE id=?",
                (json.dumps(list(plan.source_ids)), json.dumps(list(plan.episode_ids)),
                 plan.importance, plan.access_count, time.time(), keep_id))
            for d in drops:
                db.execute("DELETE FROM memories WHERE id=?", (d.id,))
                self._history(db, d.id, d.scope.user_id, "MERGE", d.text, None, actor,
                              plan.drop_details[d.id])
            self._history(db, keep_id, keep.scope.user_id, "MERGE", keep.text, keep.text, actor,
                          plan.keep_detail)
            self._bump(db, keep.scope.user_id, mutation=True)
            return self._load(db, keep_id)

        return self._write(run)

    def supersede(self, old_id: str, new_id: str, *, at: float | None = None,
                  actor: str = "api") -> tuple[MemoryRecord, MemoryRecord] | None:
        """``new_id`` replaces ``old_id`` from ``at`` (default: the new memory's
        valid_from): the old one gets ``valid_to`` and ``superseded_by``, the new one
        ``valid_from``; both stay stored and both histories say so. None if either is
        missing."""

        def run(db: sqlite3.Connection) -> tuple[MemoryRecord, MemoryRecord] | None:
            old, new = self._load(db, old_id), self._load(db, new_id)
            if old is None or new is None:
                return None
            when = check_supersede(old, new, at)
            db.execute("UPDATE memories SET valid_to=?, superseded_by=? WHERE id=?",
                       (when, new_id, old_id))
            db.execute("UPDATE memories SET valid_from=? WHERE id=?", (when, new_id))
            self._history(db, old_id, old.scope.user_id, "SUPERSEDE", old.text, old.text, actor,
                          {"superseded_by": new_id, "valid_to": when})
            self._history(db, new_id, new.scope.user_id, "SUPERSEDE", new.text, new.text, actor,
                          {"supersedes": old_id, "valid_from": when})
            self._bump(db, old.scope.user_id, mutation=True)
            old2, new2 = self._load(db, old_id), self._load(db, new_id)
            assert old2 is not None and new2 is not None
            return old2, new2

        return self._write(run)

    def record_access(self, accesses: Mapping[str, tuple[int, float]]) -> None:
        """Add ``count`` to each memory's access count and move its last access to ``at``
        (``{id: (count, at)}``). Not a lifecycle event: no history, caches stay valid."""
        if not accesses:
            return

        def run(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE memories SET access_count = access_count + ?, "
                "last_access = max(coalesce(last_access, 0), ?) WHERE id=?",
                [(n, at, mid) for mid, (n, at) in accesses.items()])

        self._write(run)

    def user_ids(self) -> list[str]:
        """Every user with at least one memory."""
        with self._lock:  # type: ignore[attr-defined]
            return [r[0] for r in self._q(  # type: ignore[attr-defined]
                "SELECT DISTINCT user_id FROM memories ORDER BY user_id")]
