"""Row mapping shared by the PostgreSQL store modules. Pure functions."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...types import MemoryRecord, Scope

_MEMORY_COLS = (
    "id, user_id, agent_id, session_id, text, keys, type, speaker, source_ids, episode_ids, "
    "created_at, updated_at, event_time, importance, metadata, status, dates, entities, "
    "valid_from, valid_to, superseded_by, access_count, last_access"
)

def _vec(v: np.ndarray) -> str:
    return "[" + ",".join(map(repr, np.asarray(v, np.float16).astype(np.float32).tolist())) + "]"


def _row_to_memory(r: Sequence[Any]) -> MemoryRecord:
    return MemoryRecord(
        id=r[0], scope=Scope(r[1], r[2] or None, r[3] or None), text=r[4], keys=r[5],
        type=r[6], speaker=r[7], source_ids=tuple(r[8]), episode_ids=tuple(r[9]),
        created_at=r[10], updated_at=r[11], event_time=r[12], importance=r[13],
        metadata=r[14], status=r[15], dates=tuple(tuple(d) for d in r[16]),
        entities=tuple(r[17]), valid_from=r[18], valid_to=r[19], superseded_by=r[20],
        access_count=r[21], last_access=r[22])
