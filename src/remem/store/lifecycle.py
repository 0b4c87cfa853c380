"""Lifecycle writes of both stores: archive/restore, merge, supersede, access counts.

Each is one transaction that also writes the history entries, so a lifecycle action is
either fully visible (with its history) or not at all. Rows that are read and then
written are locked first (on PostgreSQL ``SELECT ... FOR UPDATE`` in id order, so
concurrent workers queue instead of deadlocking; SQLite's write transactions are
exclusive): two workers merging the same near-duplicates cannot both fold the same
memory, and a memory cannot be superseded twice. Raw episodes are never touched: only
derived memories change. What a merge or a supersede does is decided by the pure
``plan_merge`` and ``check_supersede``."""

from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Any, Mapping, Sequence

from ..errors import InvalidInput
from ..types import MemoryRecord


@dataclass(frozen=True)
class MergePlan:
    """The kept memory's new provenance and counters, and the history detail of each side."""

    source_ids: tuple[str, ...]
    episode_ids: tuple[str, ...]
    importance: float
    access_count: int
    keep_detail: dict[str, Any]
    drop_details: dict[str, dict[str, Any]]  # dropped id -> its history detail


def plan_merge(keep: MemoryRecord, drops: Sequence[MemoryRecord]) -> MergePlan:
    """Union of provenance (kept memory's first), the highest importance, the summed
    access counts. ``InvalidInput`` if the memories belong to more than one user."""
    if any(d.scope.user_id != keep.scope.user_id for d in drops):
        raise InvalidInput("merge: all memories must belong to one user")
    sources = tuple(dict.fromkeys(keep.source_ids + sum((d.source_ids for d in drops), ())))
    episodes = tuple(dict.fromkeys(keep.episode_ids + sum((d.episode_ids for d in drops), ())))
    return MergePlan(
        sources, episodes, max([keep.importance, *(d.importance for d in drops)]),
        keep.access_count + sum(d.access_count for d in drops),
        {"merged": [d.id for d in drops],
         "source_ids": [s for s in sources if s not in keep.source_ids]},
        {d.id: {"into": keep.id, "source_ids": list(d.source_ids)} for d in drops})


def check_supersede(old: MemoryRecord, new: MemoryRecord, at: float | None) -> float:
    """When ``new`` takes over from ``old`` (``at``, else the new memory's own time);
    ``InvalidInput`` for a self-supersede, two users, or an already superseded ``old``."""
    if old.id == new.id:
        raise InvalidInput("a memory cannot supersede itself")
    if old.scope.user_id != new.scope.user_id:
        raise InvalidInput("supersede: both memories must belong to one user")
    if old.superseded_by is not None:
        raise InvalidInput(f"memory {old.id!r} is already superseded by {old.superseded_by!r}")
    return at if at is not None else (new.valid_from or new.event_time or new.created_at)


STATUS_EVENTS = {"archived": "ARCHIVE", "active": "RESTORE"}


class LifecycleMixin:
    """The lifecycle methods of ``sql.SQLStore`` (over its dialect and helpers)."""

    dialect: Any
    _write: Any
    _history: Any
    _bump: Any
    _x: Any
    _q: Any
    _load: Any
    _lock_rows: Any

    def set_status(self, memory_ids: Sequence[str], status: str, *, actor: str = "api",
                   reason: str | None = None) -> list[str]:
        """Move memories to ``status`` ("archived" or "active"); ids already there or
        missing are left alone. Returns the ids that changed."""
        if status not in STATUS_EVENTS:
            raise InvalidInput(f"status must be one of {', '.join(STATUS_EVENTS)}")
        detail = {"reason": reason} if reason else {}

        def run(db: Any) -> list[str]:
            found = self._lock_rows(db, list(memory_ids))
            changed: list[str] = []
            users: set[str] = set()
            for mid in dict.fromkeys(memory_ids):
                rec = found.get(mid)
                if rec is None or rec.status == status:
                    continue
                self._x(db, "UPDATE memories SET status=? WHERE id=?", (status, mid))
                self._history(db, mid, rec.scope.user_id, STATUS_EVENTS[status], rec.text,
                              rec.text, actor, detail)
                changed.append(mid)
                users.add(rec.scope.user_id)
            self._bump(db, sorted(users), mutation=True)
            return changed

        return self._write(run)

    def merge(self, keep_id: str, drop_ids: Sequence[str], *,
              actor: str = "api") -> MemoryRecord | None:
        """Fold ``drop_ids`` into ``keep_id``: the kept memory gains their source turns
        and episodes (provenance union), the others are removed from the index. Both
        sides get a MERGE history entry naming the other. None if ``keep_id`` is gone."""
        J = self.dialect.json

        def run(db: Any) -> MemoryRecord | None:
            found = self._lock_rows(db, [keep_id, *drop_ids])
            keep = found.get(keep_id)
            if keep is None:
                return None
            drops = [found[i] for i in dict.fromkeys(drop_ids) if i in found and i != keep_id]
            plan = plan_merge(keep, drops)
            if not drops:
                return keep
            self._x(db, "UPDATE memories SET source_ids=?, episode_ids=?, importance=?, "
                        "access_count=?, updated_at=? WHERE id=?",
                    (J(list(plan.source_ids)), J(list(plan.episode_ids)), plan.importance,
                     plan.access_count, time.time(), keep_id))
            self._access_folded(db, keep_id)
            for d in drops:
                self._x(db, "DELETE FROM memories WHERE id=?", (d.id,))
                self._history(db, d.id, d.scope.user_id, "MERGE", d.text, None, actor,
                              plan.drop_details[d.id])
            self._history(db, keep_id, keep.scope.user_id, "MERGE", keep.text, keep.text, actor,
                          plan.keep_detail)
            self._bump(db, [keep.scope.user_id], mutation=True)
            return self._load(db, keep_id)

        return self._write(run)

    def supersede(self, old_id: str, new_id: str, *, at: float | None = None,
                  actor: str = "api") -> tuple[MemoryRecord, MemoryRecord] | None:
        """``new_id`` replaces ``old_id`` from ``at`` (default: the new memory's
        valid_from): the old one gets ``valid_to`` and ``superseded_by``, the new one
        ``valid_from``; both stay stored and both histories say so. None if either is
        missing."""

        def run(db: Any) -> tuple[MemoryRecord, MemoryRecord] | None:
            found = self._lock_rows(db, [old_id, new_id])
            old, new = found.get(old_id), found.get(new_id)
            if old is None or new is None:
                return None
            when = check_supersede(old, new, at)
            self._x(db, "UPDATE memories SET valid_to=?, superseded_by=? WHERE id=?",
                    (when, new_id, old_id))
            self._x(db, "UPDATE memories SET valid_from=? WHERE id=?", (when, new_id))
            self._history(db, old_id, old.scope.user_id, "SUPERSEDE", old.text, old.text, actor,
                          {"superseded_by": new_id, "valid_to": when})
            self._history(db, new_id, new.scope.user_id, "SUPERSEDE", new.text, new.text, actor,
                          {"supersedes": old_id, "valid_from": when})
            self._bump(db, [old.scope.user_id], mutation=True)
            old2, new2 = self._load(db, old_id), self._load(db, new_id)
            assert old2 is not None and new2 is not None
            return old2, new2

        return self._write(run)

    def _access_folded(self, db: Any, memory_id: str) -> None:
        """The memory's row now holds all its accesses (a store that counts them
        elsewhere drops its own count; PostgreSQL, see ``postgres.store``)."""

    def record_access(self, accesses: Mapping[str, tuple[int, float]]) -> None:
        """Add ``count`` to each memory's access count and move its last access to ``at``
        (``{id: (count, at)}``). Not a lifecycle event: no history, caches stay valid."""
        if not accesses:
            return
        rows = [(n, at, mid) for mid, (n, at) in sorted(accesses.items())]  # id order: no deadlocks
        sql = self.dialect.sql(
            "UPDATE memories SET access_count = access_count + ?, "
            f"last_access = {self.dialect.greatest}(coalesce(last_access, 0), ?) WHERE id=?")

        def run(db: Any) -> None:
            db.cursor().executemany(sql, rows)

        self._write(run)

    def user_ids(self) -> list[str]:
        """Every user with at least one memory, in byte order."""
        return [r[0] for r in self._q(
            f"SELECT DISTINCT user_id{self.dialect.binary} AS u FROM memories ORDER BY u")]
