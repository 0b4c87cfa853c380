"""Request and response bodies of the REST API (pydantic models, shown at /docs).

Validation here is about shape; the engine validates content (ids, text, times,
metadata, filters) and its ``InvalidInput`` becomes the same 422 error shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
    skipped: int


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


class HistoryList(BaseModel):
    history: list[HistoryOut]


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
