"""Typed values passed between remem's stages and returned to callers. All frozen except
the report a maintenance run fills in (``MaintainReport``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

ROLES = ("user", "assistant", "system", "tool")


def to_datetime(epoch: float | None) -> datetime | None:
    """A stored epoch (seconds, UTC) as an aware datetime; None stays None."""
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


@dataclass(frozen=True)
class Scope:
    """Who a read or write belongs to. ``user_id`` is mandatory everywhere."""

    user_id: str
    agent_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class Turn:
    """One normalised input message, before it is stored."""

    role: str
    content: str
    name: str | None = None
    source_id: str | None = None
    timestamp: float | None = None  # epoch seconds, UTC


@dataclass(frozen=True)
class Episode:
    """One raw event, stored verbatim."""

    id: str
    scope: Scope
    role: str
    content: str
    name: str | None
    source_id: str | None
    timestamp: float
    seq: int
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MemoryRecord:
    """A retrievable unit derived from episodes (stored form)."""

    id: str
    scope: Scope
    text: str
    type: str
    source_ids: tuple[str, ...]
    episode_ids: tuple[str, ...]
    created_at: float
    updated_at: float
    event_time: float | None
    speaker: str | None = None
    keys: str = ""  # extra index text (key expansion); never returned as the text
    importance: float = 0.5
    metadata: Mapping[str, Any] = field(default_factory=dict)
    status: str = "active"
    # resolved time mentions: (first day ISO, last day ISO, label), e.g. "yesterday"
    dates: tuple[tuple[str, str, str], ...] = ()
    entities: tuple[str, ...] = ()  # names mentioned (people, places, things, titles)
    # lifecycle: valid [valid_from, valid_to); a superseded memory names its successor
    valid_from: float | None = None
    valid_to: float | None = None
    superseded_by: str | None = None
    access_count: int = 0
    last_access: float | None = None


@dataclass(frozen=True)
class MemoryItem:
    """A stored memory as returned by ``get`` / ``get_all``."""

    id: str
    text: str
    type: str
    source_ids: tuple[str, ...]
    user_id: str
    agent_id: str | None
    session_id: str | None
    speaker: str | None
    created_at: datetime
    updated_at: datetime
    event_time: datetime | None
    metadata: Mapping[str, Any]
    status: str = "active"  # or "archived" (kept, restorable, not searched)
    valid_from: datetime | None = None
    valid_to: datetime | None = None  # set when superseded
    superseded_by: str | None = None

    @classmethod
    def from_record(cls, m: MemoryRecord) -> MemoryItem:
        return cls(m.id, m.text, m.type, m.source_ids, m.scope.user_id, m.scope.agent_id,
                   m.scope.session_id, m.speaker, to_datetime(m.created_at),  # type: ignore[arg-type]
                   to_datetime(m.updated_at), to_datetime(m.event_time), m.metadata,  # type: ignore[arg-type]
                   m.status, to_datetime(m.valid_from), to_datetime(m.valid_to), m.superseded_by)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "type": self.type,
                "source_ids": list(self.source_ids), "user_id": self.user_id,
                "agent_id": self.agent_id, "session_id": self.session_id,
                "speaker": self.speaker, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat(),
                "event_time": self.event_time.isoformat() if self.event_time else None,
                "metadata": dict(self.metadata), "status": self.status,
                "valid_from": self.valid_from.isoformat() if self.valid_from else None,
                "valid_to": self.valid_to.isoformat() if self.valid_to else None,
                "superseded_by": self.superseded_by}


@dataclass(frozen=True)
class Hit:
    """One search result. ``explain`` holds the parts its score was built from."""

    id: str
    text: str
    score: float
    source_ids: tuple[str, ...]
    type: str
    created_at: datetime
    event_time: datetime | None
    metadata: Mapping[str, Any]
    speaker: str | None = None
    user_id: str = ""
    agent_id: str | None = None
    session_id: str | None = None
    explain: Mapping[str, float] = field(default_factory=dict)
    dates: tuple[str, ...] = ()  # absolute dates its time expressions resolve to

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "score": round(self.score, 6),
            "source_ids": list(self.source_ids),
            "type": self.type,
            "speaker": self.speaker,
            "created_at": self.created_at.isoformat(),
            "event_time": self.event_time.isoformat() if self.event_time else None,
            "user_id": self.user_id,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "metadata": dict(self.metadata),
            "dates": list(self.dates),
            "explain": {k: round(v, 6) for k, v in self.explain.items()},
        }


class SearchResult(list):  # type: ignore[type-arg]
    """The hits of a search, best first (a plain list of ``Hit``), plus ``context``: the
    hits laid out chronologically for an LLM prompt, within ``budget_tokens`` when given."""

    def __init__(self, hits: list[Hit], context: str, budget_tokens: int | None = None) -> None:
        super().__init__(hits)
        self.context = context
        self.budget_tokens = budget_tokens


@dataclass(frozen=True)
class HistoryEntry:
    """One change to a memory: what it was, what it became, when."""

    memory_id: str
    event: str  # ADD | UPDATE | DELETE | MERGE | SUPERSEDE | ARCHIVE | RESTORE
    old_text: str | None
    new_text: str | None
    at: datetime
    actor: str = "api"
    user_id: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"into": id}


@dataclass(frozen=True)
class AddResult:
    """What one ``add`` did: episode ids in input order (already stored turns keep their
    stored id), the new memory ids, and how many turns were new (``added``) or already
    stored (``skipped``: same caller id and content)."""

    episode_ids: tuple[str, ...]
    memory_ids: tuple[str, ...]
    skipped: int = 0  # turns already stored (same caller id and content)
    fact_ids: tuple[str, ...] = ()  # facts an LLM extracted (only with Memory(llm=...))
    llm_error: str | None = None  # why extraction failed (the turns are stored anyway)

    @property
    def added(self) -> int:
        """Turns stored by this call (the rest were already stored)."""
        return len(self.episode_ids) - self.skipped

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "episode_ids": list(self.episode_ids),
            "memory_ids": list(self.memory_ids),
            "added": self.added,
            "skipped": self.skipped,
        }
        if self.fact_ids or self.llm_error:
            out.update(fact_ids=list(self.fact_ids), llm_error=self.llm_error)
        return out


@dataclass(frozen=True)
class Answer:
    """``text`` is None when the LLM gave nothing usable (see ``error``); ``source_ids``
    are the caller's turn ids behind the memories the answer cites (or, without an
    answer, behind every memory retrieved)."""

    text: str | None
    source_ids: tuple[str, ...]
    context: str
    hits: tuple[Hit, ...]
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class MaintainReport:
    """What one ``maintain`` run changed (counts over all users it visited)."""

    users: int = 0
    merged: int = 0  # memories folded into another
    summaries: int = 0  # summaries written (new or refreshed)
    profiles: int = 0
    archived: int = 0
    deleted: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}
