"""Lifecycle writes of the PostgreSQL store: archive/restore, merge, supersede, access
counts. Same semantics as ``_sqlite_lifecycle`` (return values, history events and
details, errors).

Each is one transaction that also writes the history entries. Rows that are read and
then written are locked first (``SELECT ... FOR UPDATE``, in id order, so concurrent
workers queue instead of deadlocking): two workers merging the same near-duplicates
cannot both fold the same memory, and a memory cannot be superseded twice. Raw episodes
are never touched: only derived memories change."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from ...errors import InvalidInput
from ...types import MemoryRecord
from .._lifecycle_rules import check_supersede, plan_merge
from .rows import _MEMORY_COLS, _row_to_memory

STATUS_EVENTS = {"archived": "ARCHIVE", "active": "RESTORE"}


class PgLifecycleMixin:
    """``LifecycleStore`` methods for ``PostgresStore`` (``vectors`` lives there)."""

    _write: Any
    _history: Any
    _bump: Any
    _q: Any
    _Jsonb: Any

    @staticmethod
    def _lock_rows(conn: Any, memory_ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """The records of ``memory_ids`` that exist, locked until the transaction ends."""
        ids = sorted(set(memory_ids))
        if not ids:
            return {}
        rows = conn.execute(f"SELECT {_MEMORY_COLS} FROM memories WHERE id = ANY(%s) "
                            "ORDER BY id FOR UPDATE", (ids,)).fetchall()
        return {r.id: r for r in map(_row_to_memory, rows)}

    @staticmethod
    def _load(conn: Any, memory_id: str) -> MemoryRecord | None:
        row = conn.execute(f"SELECT {_MEMORY_COLS} FROM memories WHERE id=%s",
                           (memory_id,)).fetchone()
        return _row_to_memory(row) if row else None

    def set_status(self, memory_ids: Sequence[str], status: str, *, actor: str = "api",
                   reason: str | None = None) -> list[str]:
        """Move memories to ``status`` ("archived" or "active"); ids already there or
        missing are left alone. Returns the ids that changed."""
        if status not in STATUS_EVENTS:
            raise InvalidInput(f"status must be one of {', '.join(STATUS_EVENTS)}")
        detail = {"reason": reason} if reason else {}

        def run(conn: Any) -> list[str]:
            found = self._lock_rows(conn, list(memory_ids))
            changed: list[str] = []
            users: set[str] = set()
            for mid in dict.fromkeys(memory_ids):
                rec = found.get(mid)
                if rec is None or rec.status == status:
                    continue
                conn.execute("UPDATE memories SET status=%s WHERE id=%s", (status, mid))
                self._history(conn, mid, rec.scope.user_id, STATUS_EVENTS[status], rec.text,
                              rec.text, actor, detail)
                changed.append(mid)
                users.add(rec.scope.user_id)
            self._bump(conn, sorted(users), mutation=True)
            return changed

        return self._write(run)

    def merge(self, keep_id: str, drop_ids: Sequence[str], *,
              actor: str = "api") -> MemoryRecord | None:
        """Fold ``drop_ids`` into ``keep_id``: the kept memory gains their source turns
        and episodes (provenance union), the others are removed from the index. Both
        sides get a MERGE history entry naming the other. None if ``keep_id`` is gone."""

        def run(conn: Any) -> MemoryRecord | None:
            found = self._lock_rows(conn, [keep_id, *drop_ids])
            keep = found.get(keep_id)
            if keep is None:
                return None
            drops = [found[i] for i in dict.fromkeys(drop_ids) if i in found and i != keep_id]
            plan = plan_merge(keep, drops)
            if not drops:
                return keep
            conn.execute(
                "UPDATE memories SET source_ids=%s, episode_ids=%s, importance=%s, "
                "access_count=%s, updated_at=%s WHERE id=%s",
                (self._Jsonb(list(plan.source_ids)), self._Jsonb(list(plan.episode_ids)),
                 plan.importance, plan.access_count, time.time(), keep_id))
            for d in drops:
                conn.execute("DELETE FROM memories WHERE id=%s", (d.id,))
                self._history(conn, d.id, d.scope.user_id, "MERGE", d.text, None, actor,
                              plan.drop_details[d.id])
            self._history(conn, keep_id, keep.scope.user_id, "MERGE", keep.text, keep.text, actor,
                          plan.keep_detail)
            self._bump(conn, [keep.scope.user_id], mutation=True)
            return self._load(conn, keep_id)

        return self._write(run)

    def supersede(self, old_id: str, new_id: str, *, at: float | None = None,
                  actor: str = "api") -> tuple[MemoryRecord, MemoryRecord] | None:
        """``new_id`` replaces ``old_id`` from ``at`` (default: the new memory's
        valid_from): the old one gets ``valid_to`` and ``superseded_by``, the new one
        ``valid_from``; both stay stored and both histories say so. None if either is
        missing."""

        def run(conn: Any) -> tuple[MemoryRecord, MemoryRecord] | None:
            found = self._lock_rows(conn, [old_id, new_id])
            old, new = found.get(old_id), found.get(new_id)
            if old is None or new is None:
                return None
            when = check_supersede(old, new, at)
            conn.execute("UPDATE memories SET valid_to=%s, superseded_by=%s WHERE id=%s",
                         (when, new_id, old_id))
            conn.execute("UPDATE memories SET valid_from=%s WHERE id=%s", (when, new_id))
            self._history(conn, old_id, old.scope.user_id, "SUPERSEDE", old.text, old.text, actor,
                          {"superseded_by": new_id, "valid_to": when})
            self._history(conn, new_id, new.scope.user_id, "SUPERSEDE", new.text, new.text, actor,
                          {"supersedes": old_id, "valid_from": when})
            self._bump(conn, [old.scope.user_id], mutation=True)
            old2, new2 = self._load(conn, old_id), self._load(conn, new_id)
            assert old2 is not None and new2 is not None
            return old2, new2

        return self._write(run)

    def record_access(self, accesses: Mapping[str, tuple[int, float]]) -> None:
        """Add ``count`` to each memory's access count and move its last access to ``at``
        (``{id: (count, at)}``). Not a lifecycle event: no history, caches stay valid."""
        if not accesses:
            return
        rows = [(n, at, mid) for mid, (n, at) in sorted(accesses.items())]  # id order: no deadlocks

        def run(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE memories SET access_count = access_count + %s, "
                    "last_access = GREATEST(COALESCE(last_access, 0), %s) WHERE id=%s", rows)

        self._write(run)

    def user_ids(self) -> list[str]:
        """Every user with at least one memory (in byte order, as SQLite sorts)."""
        return [r[0] for r in self._q(
            'SELECT DISTINCT user_id COLLATE "C" AS u FROM memories ORDER BY u')]
