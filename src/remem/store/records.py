"""The stored fields, written down once: a memory's columns and the values that fill them,
rows read back into records, and the export records (the JSONL format's ``episode``,
``memory`` and ``history`` rows) every store reads and writes. Pure functions; the JSON
columns are encoded and decoded by the caller's dialect (``json`` / ``unjson``)."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..limits import degrade
from ..types import Episode, HistoryEntry, MemoryRecord, Scope

Codec = Callable[[Any], Any]

# a memory as selected (``row_to_memory`` reads these, in this order)
MEMORY_COLS = (
    "id, user_id, agent_id, session_id, text, keys, type, speaker, source_ids, episode_ids, "
    "created_at, updated_at, event_time, importance, metadata, status, dates, entities, "
    "valid_from, valid_to, superseded_by, access_count, last_access"
)
# a memory as inserted (``memory_values`` fills these, in this order)
MEMORY_FIELDS = (
    "id", "user_id", "agent_id", "session_id", "text", "keys", "type", "speaker", "source_ids",
    "episode_ids", "episode_id", "created_at", "updated_at", "event_time", "valid_from",
    "importance", "metadata", "status", "dates", "entities", "valid_to", "superseded_by",
    "access_count", "last_access")
EPISODE_FIELDS = ("id", "user_id", "agent_id", "session_id", "source_id", "role", "name",
                  "content", "timestamp", "seq", "metadata", "created_at")
HISTORY_FIELDS = ("memory_id", "user_id", "event", "old_text", "new_text", "at", "actor",
                  "detail")


def row_to_memory(row: Sequence[Any], unjson: Codec) -> MemoryRecord:
    """A ``MEMORY_COLS`` row as a record (``limits.degrade``: a row that cannot be shown
    as stored is logged, counted and shown degraded)."""
    return degrade(MemoryRecord(
        id=row[0], scope=Scope(row[1], row[2] or None, row[3] or None), text=row[4],
        keys=row[5], type=row[6], speaker=row[7], source_ids=tuple(unjson(row[8])),
        episode_ids=tuple(unjson(row[9])), created_at=row[10], updated_at=row[11],
        event_time=row[12], importance=row[13], metadata=unjson(row[14]), status=row[15],
        dates=tuple(tuple(d) for d in unjson(row[16])), entities=tuple(unjson(row[17])),
        valid_from=row[18], valid_to=row[19], superseded_by=row[20], access_count=row[21],
        last_access=row[22]))


def memory_values(m: MemoryRecord, json: Codec) -> tuple[Any, ...]:
    """The ``MEMORY_FIELDS`` values of a record (``valid_from`` defaults to the event time)."""
    s = m.scope
    return (m.id, s.user_id, s.agent_id or "", s.session_id or "", m.text, m.keys, m.type,
            m.speaker, json(list(m.source_ids)), json(list(m.episode_ids)),
            m.episode_ids[0] if m.episode_ids else None, m.created_at, m.updated_at,
            m.event_time, m.valid_from if m.valid_from is not None else m.event_time,
            m.importance, json(dict(m.metadata)), m.status, json([list(d) for d in m.dates]),
            json(list(m.entities)), m.valid_to, m.superseded_by, m.access_count, m.last_access)


def episode_values(ep: Episode, now: float, json: Codec) -> tuple[Any, ...]:
    """The ``EPISODE_FIELDS`` values of an episode stored at ``now``."""
    s = ep.scope
    return (ep.id, s.user_id, s.agent_id or "", s.session_id or "", ep.source_id, ep.role,
            ep.name, ep.content, ep.timestamp, ep.seq, json(dict(ep.metadata)), now)


def from_epoch(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def history_entry(r: Sequence[Any], unjson: Codec) -> HistoryEntry:
    """A ``HISTORY_FIELDS`` row (memory id, user id, event, ...) as a ``HistoryEntry``."""
    return HistoryEntry(r[0], r[2], r[3], r[4], from_epoch(r[5]), r[6], r[1], unjson(r[7]))


# -- export records (the JSONL rows) ----------------------------------------------------
def encode_vector(v: np.ndarray) -> bytes:
    """The export form of a vector: float16 bytes, whatever the store keeps."""
    return np.asarray(v, dtype=np.float16).tobytes()


def decode_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


def episode_export(r: Sequence[Any], unjson: Codec) -> dict[str, Any]:
    """An ``EPISODE_FIELDS`` row as an export record."""
    return {"kind": "episode", "id": r[0], "user_id": r[1], "agent_id": r[2] or None,
            "session_id": r[3] or None, "source_id": r[4], "role": r[5], "name": r[6],
            "content": r[7], "timestamp": r[8], "seq": r[9], "metadata": unjson(r[10]),
            "created_at": r[11]}


def episode_import(r: Mapping[str, Any], json: Codec) -> tuple[Any, ...]:
    """The ``EPISODE_FIELDS`` values of an export record (the inverse of ``episode_export``)."""
    return (r["id"], r["user_id"], r["agent_id"] or "", r["session_id"] or "", r["source_id"],
            r["role"], r["name"], r["content"], r["timestamp"], r["seq"], json(r["metadata"]),
            r["created_at"])


def history_export(r: Sequence[Any], unjson: Codec) -> dict[str, Any]:
    """A ``HISTORY_FIELDS`` row as an export record."""
    return {"kind": "history", "memory_id": r[0], "user_id": r[1], "event": r[2],
            "old_text": r[3], "new_text": r[4], "at": r[5], "actor": r[6],
            "detail": unjson(r[7])}


def history_import(r: Mapping[str, Any], json: Codec) -> tuple[Any, ...]:
    """The ``HISTORY_FIELDS`` values of an export record."""
    return (r["memory_id"], r["user_id"], r["event"], r["old_text"], r["new_text"], r["at"],
            r["actor"], json(r["detail"]))


def memory_export(m: MemoryRecord, *, embedding: bytes | None,
                  embed_model: str | None) -> dict[str, Any]:
    """One memory as an export record (the JSONL ``memory`` row), for every store."""
    return {"kind": "memory", "id": m.id, "user_id": m.scope.user_id,
            "agent_id": m.scope.agent_id, "session_id": m.scope.session_id,
            "text": m.text, "keys": m.keys, "type": m.type, "speaker": m.speaker,
            "source_ids": list(m.source_ids), "episode_ids": list(m.episode_ids),
            "created_at": m.created_at, "updated_at": m.updated_at,
            "event_time": m.event_time, "importance": m.importance,
            "metadata": dict(m.metadata), "status": m.status,
            "dates": [list(d) for d in m.dates], "entities": list(m.entities),
            "valid_from": m.valid_from, "valid_to": m.valid_to,
            "superseded_by": m.superseded_by, "access_count": m.access_count,
            "last_access": m.last_access,
            "embedding": base64.b64encode(embedding).decode() if embedding is not None else None,
            "embed_model": embed_model}


def memory_from_export(r: Mapping[str, Any]) -> MemoryRecord:
    """The inverse of ``memory_export`` (the vector is stored apart)."""
    return MemoryRecord(
        id=r["id"], scope=Scope(r["user_id"], r["agent_id"], r["session_id"]), text=r["text"],
        type=r["type"], source_ids=tuple(r["source_ids"]), episode_ids=tuple(r["episode_ids"]),
        created_at=r["created_at"], updated_at=r["updated_at"], event_time=r["event_time"],
        speaker=r["speaker"], keys=r["keys"], importance=r["importance"], metadata=r["metadata"],
        status=r["status"], dates=tuple(tuple(d) for d in r["dates"]), entities=tuple(r["entities"]),
        valid_from=r["valid_from"], valid_to=r["valid_to"], superseded_by=r["superseded_by"],
        access_count=r["access_count"], last_access=r["last_access"])


def export_vector(r: Mapping[str, Any]) -> np.ndarray | None:
    """The vector of a ``memory`` export record, if it has one."""
    return decode_vector(base64.b64decode(r["embedding"])) if r.get("embedding") else None
