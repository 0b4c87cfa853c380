"""Request and response bodies of the REST API and the inspector (pydantic models, shown
at /docs), and ``check_time``, the one content check the server adds (REST and MCP).

Validation here is about shape; the engine validates content (ids, text, times,
metadata, filters) and its ``InvalidInput`` becomes the same 422 error shape."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..ingest.normalise import parse_time
from ..errors import InvalidInput
from ..limits import MAX_TIME, MIN_TIME



def check_time(value: Any, what: str) -> Any:
    """Reject times the engine accepts but cannot represent later: an ISO string whose UTC
    offset moves it before year 1 or past year 9999 (``Memory.add`` would fail with a
    ``ValueError``). Returns ``value`` unchanged."""
    t = parse_time(value, what)
    if t is not None and not (math.isfinite(t) and MIN_TIME <= t <= MAX_TIME):
        raise InvalidInput(f"{what} is out of range (years 1-9999 UTC): {value!r}")
    return value


Role = Literal["user", "assistant", "system", "tool"]
Time = str | float  # ISO-8601 text or epoch seconds
# a caller's user id: no control characters, no "::" (the tenant separator); 190 leaves
# room for the longest tenant prefix within the engine's 256-character ids
UserId = Annotated[str, StringConstraints(min_length=1, max_length=190,
                                          pattern=r"^:?(?:[^:\x00-\x1f\x7f]+:?)+$")]
ScopeId = Annotated[str, StringConstraints(min_length=1, max_length=256,
                                           pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(_Strict):
    """One OpenAI-style message."""

    role: Role = "user"
    content: Text = Field(description="the text, stored verbatim")
    name: str | None = Field(None, description="speaker name")
    id: str | int | None = Field(None, description="your id for the turn (returned as provenance)")
    timestamp: Time | None = Field(None, description="when it was said (ISO-8601 or epoch seconds)")


class AddRequest(_Strict):
    messages: Text | list[Message | Text] = Field(
        description="a string, or a list of messages (at most the server's max_messages)")
    user_id: UserId
    agent_id: ScopeId | None = None
    session_id: ScopeId | None = None
    timestamp: Time | None = Field(None, description="default time for messages without one")
    metadata: dict[str, Any] | None = None


class AddResponse(BaseModel):
    episode_ids: list[str]
    memory_ids: list[str]
    added: int = Field(0, description="messages stored by this call")
    skipped: int = Field(description="messages already stored (same id and content)")
    fact_ids: list[str] = Field(default_factory=list,
                                description="facts the server's LLM extracted (if it has one)")
    llm_error: str | None = Field(None, description="why fact extraction failed "
                                                    "(the messages are stored anyway)")


class SearchRequest(_Strict):
    query: Text
    user_id: UserId
    agent_id: ScopeId | None = None
    session_id: ScopeId | None = None
    limit: int = Field(10, ge=1, description="at most the server's max_limit")
    filters: dict[str, Any] | None = Field(
        None, description='match type, speaker or metadata keys, e.g. {"speaker": "Ana"}')
    budget_tokens: int | None = Field(
        None, ge=1, le=1_000_000, description="pack hits into `context` within this many tokens")
    as_of: Time | None = Field(
        None, description="only memories valid at this time (ISO-8601 or epoch seconds), "
                          "superseded ones included; default: what is current now")


class HitOut(BaseModel):
    id: str
    text: str
    score: float
    source_ids: list[str]
    type: str
    speaker: str | None
    created_at: str
    event_time: str | None
    user_id: str
    agent_id: str | None
    session_id: str | None
    metadata: dict[str, Any]
    dates: list[str]
    explain: dict[str, float]


class SearchResponse(BaseModel):
    hits: list[HitOut]
    context: str = Field(description="the hits laid out chronologically for an LLM prompt")
    budget_tokens: int | None


class MemoryOut(BaseModel):
    id: str
    text: str
    type: str
    source_ids: list[str]
    user_id: str
    agent_id: str | None
    session_id: str | None
    speaker: str | None
    created_at: str
    updated_at: str
    event_time: str | None
    metadata: dict[str, Any]
    status: str = Field("active", description='"active" or "archived" (kept, not searched)')
    valid_from: str | None = None
    valid_to: str | None = Field(None, description="set when superseded")
    superseded_by: str | None = Field(None, description="the id of the memory replacing it")


class MemoryList(BaseModel):
    memories: list[MemoryOut]
    total: int = Field(description="memories in the scope (for pagination)")


class UpdateRequest(_Strict):
    text: Text
    user_id: UserId | None = Field(None, description="only if the memory belongs to this user")


class Deleted(BaseModel):
    deleted: int
    id: str | None = None


class HistoryOut(BaseModel):
    memory_id: str
    event: str
    old_text: str | None
    new_text: str | None
    at: str
    actor: str
    user_id: str | None = Field(None, description="the user the memory belongs to")
    detail: dict[str, Any] = Field(
        default_factory=dict, description='what and why, e.g. {"reason": ...}, {"into": id}')


class HistoryList(BaseModel):
    history: list[HistoryOut]


class ArchiveRequest(_Strict):
    reason: Text | None = Field(None, description="recorded in the history entry")
    user_id: UserId | None = Field(None, description="only if the memory belongs to this user")


class RestoreRequest(_Strict):
    user_id: UserId | None = Field(None, description="only if the memory belongs to this user")


class SupersedeRequest(_Strict):
    by: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="the id of the memory that replaces this one (same user)")
    at: Time | None = Field(None, description="from when (default: the new memory's time)")
    user_id: UserId | None = Field(None, description="only if the memories belong to this user")


class SummaryList(BaseModel):
    summaries: list[MemoryOut]


class ForgetIn(_Strict):
    """Forget (archive, or delete with ``hard_delete``) what has faded."""

    half_life_days: float = Field(180.0, gt=0, le=1e6)
    threshold: float = Field(0.1, gt=0, lt=1)
    min_age_days: float = Field(30.0, ge=0, le=1e6)
    hard_delete: bool = False


class MaintainRequest(_Strict):
    user_id: UserId | None = Field(
        None, description="the user to maintain; required with a tenant key (--no-auth "
                          "may omit it: every user; admin keys may not maintain)")
    dedupe: bool = True
    summaries: bool = True
    profiles: bool = True
    forget: ForgetIn | None = Field(None, description="off unless given")


class MaintainReportOut(BaseModel):
    users: int
    merged: int
    summaries: int
    profiles: int
    archived: int
    deleted: int
    seconds: float
    errors: list[str]


class MaintainStatus(BaseModel):
    every_seconds: float | None = Field(description="the schedule (null: off)")
    forget_half_life_days: float | None
    running: bool
    runs: int = Field(description="scheduled runs finished since the server started")
    failures: int = Field(description="scheduled runs that raised")
    skipped: int = Field(description="scheduled runs skipped: another run was going")
    last_started_at: str | None
    last_finished_at: str | None
    last: MaintainReportOut | None = Field(description="the last scheduled run's report")
    last_error: str | None


class ImportResponse(BaseModel):
    episodes: int
    memories: int
    history: int
    skipped: int


class KeyCreate(_Strict):
    tenant: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = Field(
        None, description="the tenant the key belongs to (give a tenant, or admin: true)")
    admin: bool = Field(False, description="an admin key (manages keys, reads no memories)")
    name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f]*$")] | None = \
        Field(None, description="a label for listings")


class KeyOut(BaseModel):
    id: str
    tenant: str | None
    admin: bool
    name: str | None
    created_at: float
    revoked_at: float | None
    active: bool


class KeyCreated(KeyOut):
    key: str = Field(description="the API key; shown only now, store it safely")


class KeyList(BaseModel):
    keys: list[KeyOut]


class Status(BaseModel):
    status: str


class ErrorBody(BaseModel):
    type: str
    message: str


class Error(BaseModel):
    error: ErrorBody


# -- the web inspector (inspector.py) ---------------------------------------------------
class UserOut(BaseModel):
    user_id: str
    memories: int
    sessions: int
    agents: int
    first: float | None
    last: float | None


class UserList(BaseModel):
    users: list[UserOut]
    total: int


class TurnOut(BaseModel):
    episode_id: str
    source_id: str | None
    role: str
    name: str | None
    content: str
    timestamp: float
    memory_id: str | None  # the turn's live memory, if it has one
    is_source: bool


class SourceOut(BaseModel):
    agent_id: str | None
    session_id: str | None
    turns: list[TurnOut]
    more_before: bool
    more_after: bool


class ContextOut(BaseModel):
    memory_id: str
    entities: list[str]
    dates: list[list[str]]
    episode_ids: list[str]
    sources: list[SourceOut]


class EntityOut(BaseModel):
    id: int
    name: str
    key: str
    memories: int


class EntityList(BaseModel):
    entities: list[EntityOut]
    total: int


class EntityMemories(BaseModel):
    entity: EntityOut
    memories: list[MemoryOut]
    total: int
    related: list[EntityOut]


class Forgotten(BaseModel):
    """What ``forget_user`` erased: rows per table (a tombstone keeps these counts)."""

    user_id: str
    memories: int
    episodes: int
    history: int
    entities: int
