"""The memory routes: a thin mapping of the Python API onto HTTP. Each route gets the
caller's ``TenantMemory`` (user ids in the caller's view, other tenants' ids answer 404),
calls it, and returns its values as JSON."""

from __future__ import annotations

from typing import Any, Callable, Literal

from fastapi import Depends, FastAPI, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..errors import InvalidInput
from . import models as M
from .models import check_time
from .settings import Settings
from .auth import check_tenant
from .errors import forbidden
from .tenancy import Principal, TenantMemory

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": M.Error} for s in (401, 403, 404, 413, 422, 503)}


def _limit(value: int, settings: Settings) -> int:
    if value > settings.max_limit:
        raise InvalidInput(f"limit must be at most {settings.max_limit} (server limit)")
    return value


def register(app: FastAPI, settings: Settings, tenant: Callable[..., TenantMemory]) -> None:
    """Add the /v1 memory routes to ``app``; ``tenant`` is the dependency that
    authenticates the caller and gives their ``TenantMemory``."""
    who = Depends(tenant)

    @app.post("/v1/memories", response_model=M.AddResponse, status_code=201, tags=["memories"],
              summary="add messages (Memory.add)", responses=ERRORS)
    def add(body: M.AddRequest, t: TenantMemory = who) -> dict[str, Any]:
        msgs: str | list[str | dict[str, Any]] = body.messages  # type: ignore[assignment]
        if isinstance(body.messages, list):
            if len(body.messages) > settings.max_messages:
                raise InvalidInput(f"at most {settings.max_messages} messages per add "
                                   f"(server limit), got {len(body.messages)}")
            msgs = [m if isinstance(m, str) else m.model_dump(exclude_none=True)
                    for m in body.messages]
            for i, m in enumerate(msgs):
                if isinstance(m, dict) and "timestamp" in m:
                    check_time(m["timestamp"], f"messages[{i}].timestamp")
        check_time(body.timestamp, "timestamp")
        result = t.add(msgs, user_id=body.user_id, agent_id=body.agent_id,
                       session_id=body.session_id, timestamp=body.timestamp,
                       metadata=body.metadata)
        return result.to_dict()

    @app.post("/v1/search", response_model=M.SearchResponse, tags=["memories"],
              summary="hybrid search in one user's memories (Memory.search)", responses=ERRORS)
    def search(body: M.SearchRequest, t: TenantMemory = who) -> dict[str, Any]:
        check_time(body.as_of, "as_of")
        hits = t.search(body.query, user_id=body.user_id, agent_id=body.agent_id,
                        session_id=body.session_id, limit=_limit(body.limit, settings),
                        filters=body.filters, budget_tokens=body.budget_tokens,
                        as_of=body.as_of)
        return {"hits": [h.to_dict() for h in hits], "context": hits.context,
                "budget_tokens": body.budget_tokens}

    @app.get("/v1/memories", response_model=M.MemoryList, tags=["memories"],
             summary="list a scope's memories in time order (Memory.get_all)", responses=ERRORS)
    def list_memories(user_id: M.UserId, agent_id: M.ScopeId | None = None,
                      session_id: M.ScopeId | None = None,
                      limit: int = Query(100, ge=1), offset: int = Query(0, ge=0, le=10**9),
                      type: str | None = Query(None, max_length=200, description=(
                          "memory types, comma-separated, or 'all' (default: what was "
                          "said; derived segments, summaries and profiles left out)")),
                      status: Literal["active", "archived", "superseded", "all"] = "active",
                      t: TenantMemory = who) -> dict[str, Any]:
        kw = dict(user_id=user_id, agent_id=agent_id, session_id=session_id, type=type,
                  status=status)
        items = t.get_all(limit=_limit(limit, settings), offset=offset, **kw)
        total = t.count(**kw)
        return {"memories": [i.to_dict() for i in items], "total": total}

    @app.delete("/v1/memories", response_model=M.Deleted, tags=["memories"],
                summary="delete every memory in a scope (Memory.delete_all)", responses=ERRORS)
    def delete_all(user_id: M.UserId, agent_id: M.ScopeId | None = None,
                   session_id: M.ScopeId | None = None, t: TenantMemory = who) -> dict[str, Any]:
        return {"deleted": t.delete_all(user_id=user_id, agent_id=agent_id, session_id=session_id)}

    @app.get("/v1/memories/{memory_id}", response_model=M.MemoryOut, tags=["memories"],
             summary="one memory (Memory.get)", responses=ERRORS)
    def get(memory_id: str, user_id: M.UserId | None = None,
            t: TenantMemory = who) -> dict[str, Any]:
        return t.get(memory_id, user_id=user_id).to_dict()

    @app.patch("/v1/memories/{memory_id}", response_model=M.MemoryOut, tags=["memories"],
               summary="replace a memory's text (Memory.update)", responses=ERRORS)
    def update(memory_id: str, body: M.UpdateRequest, t: TenantMemory = who) -> dict[str, Any]:
        return t.update(memory_id, body.text, user_id=body.user_id).to_dict()

    @app.delete("/v1/memories/{memory_id}", response_model=M.Deleted, tags=["memories"],
                summary="delete one memory (Memory.delete)", responses=ERRORS)
    def delete(memory_id: str, user_id: M.UserId | None = None,
               t: TenantMemory = who) -> dict[str, Any]:
        t.delete(memory_id, user_id=user_id)
        return {"deleted": 1, "id": memory_id}

    @app.get("/v1/memories/{memory_id}/history", response_model=M.HistoryList, tags=["memories"],
             summary="every change to a memory, also after deletion (Memory.history)",
             responses=ERRORS)
    def history(memory_id: str, user_id: M.UserId | None = None,
                t: TenantMemory = who) -> dict[str, Any]:
        return {"history": [
            {"memory_id": h.memory_id, "event": h.event, "old_text": h.old_text,
             "new_text": h.new_text, "at": h.at.isoformat(), "actor": h.actor,
             "user_id": h.user_id, "detail": dict(h.detail)}
            for h in t.history(memory_id, user_id=user_id)]}

    _lifecycle_routes(app, who)

    @app.get("/v1/export", tags=["export"], summary="one user's memories as JSON lines",
             response_class=Response, responses={
                 **ERRORS, 200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}})
    def export(user_id: M.UserId, t: TenantMemory = who) -> Response:
        return Response(t.export(user_id=user_id), media_type="application/x-ndjson")

    @app.post("/v1/import", response_model=M.ImportResponse, tags=["export"],
              summary="import JSON lines written by export (into your tenant)", responses=ERRORS,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/x-ndjson": {"schema": {"type": "string"}},
                  "text/plain": {"schema": {"type": "string"}}}}})
    async def import_(request: Request, t: TenantMemory = who) -> dict[str, Any]:
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"import body is not UTF-8 text: {exc}") from None
        return await run_in_threadpool(t.import_, text)


def register_erasure(app: FastAPI, principal: Callable[..., Principal],
                     view: Callable[[Principal], TenantMemory]) -> None:
    """``DELETE /v1/users/{user_id}``: erase a user (``Memory.forget_user``). A tenant key
    erases its own users; an admin key names the tenant (``?tenant=``): honouring an
    erasure request reads nothing, so it stays within a key admin's reach."""

    @app.delete("/v1/users/{user_id}", response_model=M.Forgotten, tags=["memories"],
                responses=ERRORS,
                summary="erase everything of a user: memories, turns, history "
                        "(Memory.forget_user)")
    def forget_user(user_id: M.UserId, tenant: str | None = None,
                    p: Principal = Depends(principal)) -> dict[str, Any]:
        if p.admin:
            if tenant is None:
                raise InvalidInput("an admin key must name the user's tenant (?tenant=)")
            p = Principal(check_tenant(tenant), p.key_id)
        elif tenant is not None and tenant != p.tenant:
            raise forbidden("a tenant key erases only its own users")
        return {"user_id": user_id, **view(p).forget_user(user_id)}


def _lifecycle_routes(app: FastAPI, who: Any) -> None:
    """Archive, restore, supersede and summaries (the engine's lifecycle), confined to the
    caller's tenant like every id route: another tenant's ids answer 404."""

    @app.post("/v1/memories/{memory_id}/archive", response_model=M.MemoryOut,
              tags=["lifecycle"], responses=ERRORS,
              summary="take a memory out of search, keeping it (Memory.archive)")
    def archive(memory_id: str, body: M.ArchiveRequest | None = None,
                t: TenantMemory = who) -> dict[str, Any]:
        body = body or M.ArchiveRequest()
        return t.archive(memory_id, user_id=body.user_id, reason=body.reason).to_dict()

    @app.post("/v1/memories/{memory_id}/restore", response_model=M.MemoryOut,
              tags=["lifecycle"], responses=ERRORS,
              summary="make an archived memory searchable again (Memory.restore)")
    def restore(memory_id: str, body: M.RestoreRequest | None = None,
                t: TenantMemory = who) -> dict[str, Any]:
        return t.restore(memory_id, user_id=body.user_id if body is not None else None).to_dict()

    @app.post("/v1/memories/{memory_id}/supersede", response_model=M.MemoryOut,
              tags=["lifecycle"], responses=ERRORS,
              summary="record that memory `by` replaces this one (Memory.supersede); "
                      "returns this (old) memory")
    def supersede(memory_id: str, body: M.SupersedeRequest,
                  t: TenantMemory = who) -> dict[str, Any]:
        check_time(body.at, "at")
        return t.supersede(memory_id, body.by, user_id=body.user_id, at=body.at).to_dict()

    @app.get("/v1/summaries", response_model=M.SummaryList, tags=["lifecycle"],
             responses=ERRORS,
             summary="session summaries or entity profiles written by maintenance "
                     "(Memory.summaries)")
    def summaries(user_id: M.UserId, kind: Literal["summary", "profile"] = "summary",
                  session_id: M.ScopeId | None = None, t: TenantMemory = who) -> dict[str, Any]:
        items = t.summaries(user_id=user_id, kind=kind, session_id=session_id)
        return {"summaries": [i.to_dict() for i in items]}
