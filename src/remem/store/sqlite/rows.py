"""Row mapping and scope SQL shared by the SQLite store modules. Pure functions."""

from __future__ import annotations

import json
from typing import Any, Sequence

from ...types import MemoryRecord, Scope
from .._common import scope_sql

_MEMORY_COLS = (
    "id, user_id, agent_id, session_id, text, keys, type, speaker, source_ids, episode_ids, "
    "created_at, updated_at, event_time, importance, metadata, status, dates, entities, "
    "valid_from, valid_to, superseded_by, access_count, last_access"
)


def _row_to_memory(row: Sequence[Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        scope=Scope(row[1], row[2] or None, row[3] or None),
        text=row[4],
        keys=row[5],
        type=row[6],
        speaker=row[7],
        source_ids=tuple(json.loads(row[8])),
        episode_ids=tuple(json.loads(row[9])),
        created_at=row[10],
        updated_at=row[11],
        event_time=row[12],
        importance=row[13],
        metadata=json.loads(row[14]),
        status=row[15],
        dates=tuple(tuple(d) for d in json.loads(row[16])),
        entities=tuple(json.loads(row[17])),
        valid_from=row[18], valid_to=row[19], superseded_by=row[20], access_count=row[21],
        last_access=row[22],
    )


def _scope_sql(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    return scope_sql(scope, alias, "?")
