"""What a merge or a supersede does, decided once for every store. Pure: the stores
lock the rows, call these, and write the result in their own SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

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
