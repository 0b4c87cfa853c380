"""The web inspector: static files at ``/ui`` and the few read routes its views need that
the memory routes cannot serve (the engine has no "list users", no turn context beyond
one episode, no entity listing).

    GET /v1/users                          the tenant's user ids with counts
    GET /v1/memories/{id}/context          a memory's source turns among their neighbours
    GET /v1/entities?user_id=              a user's entities with mention counts
    GET /v1/entities/{entity_id}?user_id=  the memories that mention one entity

Everything here is a read of the caller's ``TenantMemory`` (store methods beyond the
engine's, on SQLite and on PostgreSQL alike), confined to the caller's tenant prefix or
one of its user ids; ids of other tenants answer 404. The static files hold no data and need no key:
the page asks for one and sends it as ``Authorization: Bearer`` on every call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from fastapi import Depends, FastAPI, Path as PathParam, Query
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from . import models as M
from .settings import Settings
from .tenancy import TenantMemory

UI_DIR = Path(__file__).parent / "ui"
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


class UiFiles(StaticFiles):
    """Static files with a strict CSP (nothing but this origin: the page works offline
    and cannot load or send anything elsewhere) and no caching of stale UI code."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", _CSP.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"),
                            (b"cache-control", b"no-cache")]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def register(app: FastAPI, settings: Settings, tenant: Callable[..., TenantMemory]) -> None:
    """Add the inspector's routes and mount its static files at ``/ui``; ``tenant`` is
    the dependency that authenticates the caller and gives their ``TenantMemory``."""
    who = Depends(tenant)
    limit_q = Query(50, ge=1, le=settings.max_limit)
    offset_q = Query(0, ge=0, le=10**9)

    @app.get("/v1/users", response_model=M.UserList, tags=["inspector"],
             summary="your tenant's user ids with memory, session and agent counts")
    def users(limit: int = limit_q, offset: int = offset_q,
              t: TenantMemory = who) -> dict[str, Any]:
        rows, total = t.users(limit, offset)
        return {"total": total, "users": rows}

    @app.get("/v1/memories/{memory_id}/context", response_model=M.ContextOut, tags=["inspector"],
             summary="a memory's source turns in their conversation (neighbouring turns)")
    def context(memory_id: str, window: int = Query(2, ge=0, le=20),
                t: TenantMemory = who) -> dict[str, Any]:
        return t.context(memory_id, window)

    def entity_row(r: tuple[Any, ...]) -> dict[str, Any]:
        return {"id": r[0], "name": r[1], "key": r[2], "memories": r[3]}

    @app.get("/v1/entities", response_model=M.EntityList, tags=["inspector"],
             summary="a user's entities (people, places, things), most mentioned first")
    def entities(user_id: M.UserId, q: str | None = Query(None, max_length=200),
                 limit: int = limit_q, offset: int = offset_q,
                 t: TenantMemory = who) -> dict[str, Any]:
        rows, total = t.entities(user_id=user_id, q=q, limit=limit, offset=offset)
        return {"entities": [entity_row(r) for r in rows], "total": total}

    @app.get("/v1/entities/{entity_id}", response_model=M.EntityMemories, tags=["inspector"],
             summary="the memories that mention an entity, in time order, and related entities")
    def entity(user_id: M.UserId, entity_id: int = PathParam(ge=1, le=2**63 - 1),
               limit: int = limit_q, offset: int = offset_q,
               t: TenantMemory = who) -> dict[str, Any]:
        head, items, related = t.entity(user_id=user_id, entity_id=entity_id, limit=limit,
                                        offset=offset)
        return {"entity": entity_row(head), "memories": [i.to_dict() for i in items],
                "total": head[3], "related": [entity_row(r) for r in related]}

    app.mount("/ui", UiFiles(directory=UI_DIR, html=True), name="ui")
