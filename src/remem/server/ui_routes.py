"""The web inspector: static files at ``/ui`` and the few read routes its views need that
the memory routes cannot serve (the engine has no "list users", no turn context beyond
one episode, no entity listing).

    GET /v1/users                          the tenant's user ids with counts
    GET /v1/memories/{id}/context          a memory's source turns among their neighbours
    GET /v1/entities?user_id=              a user's entities with mention counts
    GET /v1/entities/{entity_id}?user_id=  the memories that mention one entity

Everything here is read-only SQL over the store file through its own read-only
connection (as ``tenancy.Owners`` reads history), always confined to the caller's tenant
prefix; ids of other tenants answer 404. The static files hold no data and need no key:
the page asks for one and sends it as ``Authorization: Bearer`` on every call.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from fastapi import Depends, FastAPI, Path as PathParam, Query
from pydantic import BaseModel
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from .._entities import normalise as entity_key
from ..errors import NotFound, StoreError
from ..memory import MemoryItem
from ..store.sqlite import SQLiteStore
from . import models as M
from .settings import Settings
from .tenancy import Owners, Principal

if TYPE_CHECKING:
    from ..memory import Memory

UI_DIR = Path(__file__).parent / "ui"
MAX_SOURCES = 50  # episodes of one memory shown in context (segments have many)
MAX_SPAN = 200  # turns between a memory's first and last source episode in one session
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


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
    memories: list[M.MemoryOut]
    total: int
    related: list[EntityOut]


class _Reader:
    """Read-only queries over the SQLite store file (or, for ``:memory:``, the store's
    own connection under its lock). Other stores: every query is a ``StoreError``."""

    def __init__(self, memory: "Memory") -> None:
        store = memory.store
        self._db: sqlite3.Connection | None = None
        self._lock: Any = threading.Lock()
        self._own = False
        if not isinstance(store, SQLiteStore):
            return
        if store.path == ":memory:":
            self._db, self._lock = store._db, store._lock
        else:
            self._db = sqlite3.connect(f"{Path(store.path).resolve().as_uri()}?mode=ro",
                                       uri=True, timeout=30.0, check_same_thread=False,
                                       isolation_level=None)
            self._own = True

    def close(self) -> None:
        if self._own and self._db is not None:
            with self._lock:
                self._db.close()

    def q(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        if self._db is None:
            raise StoreError("the inspector's users, entities and context views need the "
                             "SQLite store")
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"inspector query failed: {exc}") from exc


def _prefix_range(prefix: str) -> tuple[str, list[str]]:
    """SQL on ``user_id`` matching ids that start with ``prefix`` (an index range)."""
    if not prefix:
        return "1", []
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return "user_id >= ? AND user_id < ?", [prefix, upper]


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


def register(app: FastAPI, memory: "Memory", settings: Settings, owners: Owners,
             tenant: Callable[..., Principal]) -> None:
    """Add the inspector's routes and mount its static files at ``/ui``."""
    who = Depends(tenant)
    reader = _Reader(memory)
    inner_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        try:
            async with inner_lifespan(a) as state:
                yield state
        finally:
            reader.close()

    app.router.lifespan_context = lifespan
    limit_q = Query(50, ge=1, le=settings.max_limit)
    offset_q = Query(0, ge=0, le=10**9)

    @app.get("/v1/users", response_model=UserList, tags=["inspector"],
             summary="your tenant's user ids with memory, session and agent counts")
    def users(limit: int = limit_q, offset: int = offset_q, p: Principal = who) -> dict[str, Any]:
        where, args = _prefix_range(p.prefix)
        rows = reader.q(
            "SELECT user_id, count(*), count(DISTINCT NULLIF(session_id, '')), "
            "count(DISTINCT NULLIF(agent_id, '')), "
            "min(COALESCE(event_time, created_at)), max(COALESCE(event_time, created_at)) "
            f"FROM memories WHERE {where} AND status='active' GROUP BY user_id "
            "ORDER BY user_id LIMIT ? OFFSET ?", [*args, limit, offset])
        total = reader.q(f"SELECT count(DISTINCT user_id) FROM memories WHERE {where} "
                         "AND status='active'", args)[0][0]
        return {"total": total, "users": [
            {"user_id": p.outer(u), "memories": n, "sessions": s, "agents": a,
             "first": lo, "last": hi} for u, n, s, a, lo, hi in rows]}

    @app.get("/v1/memories/{memory_id}/context", response_model=ContextOut, tags=["inspector"],
             summary="a memory's source turns in their conversation (neighbouring turns)")
    def context(memory_id: str, window: int = Query(2, ge=0, le=20),
                p: Principal = who) -> dict[str, Any]:
        owner = owners.check_memory(p, memory_id)
        rec = memory.store.get(memory_id)
        if rec is None or rec.scope.user_id != owner:
            raise NotFound(f"no memory with id {memory_id!r} (deleted memories keep only "
                           "their history)")
        eps = list(rec.episode_ids[:MAX_SOURCES])
        cols = "rowid, id, agent_id, session_id, source_id, role, name, content, timestamp"
        found = reader.q(f"SELECT {cols} FROM episodes WHERE user_id=? AND id IN "
                         f"({','.join('?' * len(eps))})", [owner, *eps]) if eps else []
        groups: dict[tuple[str, str], list[int]] = {}
        for row in found:
            groups.setdefault((row[2], row[3]), []).append(row[0])
        sources = []
        for (agent, session), rowids in sorted(groups.items(), key=lambda g: min(g[1])):
            lo, hi = min(rowids), max(rowids)
            scope_sql = "user_id=? AND agent_id=? AND session_id=?"
            sargs = [owner, agent, session]
            before = reader.q(f"SELECT {cols} FROM episodes WHERE {scope_sql} AND rowid < ? "
                              "ORDER BY rowid DESC LIMIT ?", [*sargs, lo, window + 1])
            span = reader.q(f"SELECT {cols} FROM episodes WHERE {scope_sql} AND rowid BETWEEN "
                            "? AND ? ORDER BY rowid LIMIT ?", [*sargs, lo, hi, MAX_SPAN])
            after = reader.q(f"SELECT {cols} FROM episodes WHERE {scope_sql} AND rowid > ? "
                             "ORDER BY rowid LIMIT ?", [*sargs, span[-1][0], window + 1])
            rows = before[:window][::-1] + span + after[:window]
            turn_of = memory.store.turns_of([r[1] for r in rows])
            sources.append({
                "agent_id": agent or None, "session_id": session or None,
                "more_before": len(before) > window, "more_after": len(after) > window,
                "turns": [{"episode_id": r[1], "source_id": r[4], "role": r[5], "name": r[6],
                           "content": r[7], "timestamp": r[8], "memory_id": turn_of.get(r[1]),
                           "is_source": r[1] in rec.episode_ids} for r in rows]})
        return {"memory_id": rec.id, "entities": list(rec.entities),
                "dates": [list(d) for d in rec.dates], "episode_ids": list(rec.episode_ids),
                "sources": sources}

    count_sql = ("SELECT e.id, e.name, e.key, count(*) AS n FROM entities e "
                 "JOIN memory_entities me ON me.entity_id = e.id "
                 "JOIN memories m ON m.rowid = me.memory_rowid AND m.status = 'active' ")

    def entity_row(r: tuple[Any, ...]) -> dict[str, Any]:
        return {"id": r[0], "name": r[1], "key": r[2], "memories": r[3]}

    @app.get("/v1/entities", response_model=EntityList, tags=["inspector"],
             summary="a user's entities (people, places, things), most mentioned first")
    def entities(user_id: M.UserId, q: str | None = Query(None, max_length=200),
                 limit: int = limit_q, offset: int = offset_q,
                 p: Principal = who) -> dict[str, Any]:
        where, args = "e.user_id = ?", [p.inner(user_id)]
        if q:
            key = entity_key(q).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where += " AND e.key LIKE ? ESCAPE '\\'"
            args.append(f"%{key}%")
        rows = reader.q(f"{count_sql} WHERE {where} GROUP BY e.id ORDER BY n DESC, e.key "
                        "LIMIT ? OFFSET ?", [*args, limit, offset])
        total = reader.q(f"SELECT count(*) FROM ({count_sql} WHERE {where} GROUP BY e.id)",
                         args)[0][0]
        return {"entities": [entity_row(r) for r in rows], "total": total}

    @app.get("/v1/entities/{entity_id}", response_model=EntityMemories, tags=["inspector"],
             summary="the memories that mention an entity, in time order, and related entities")
    def entity(user_id: M.UserId, entity_id: int = PathParam(ge=1, le=2**63 - 1),
               limit: int = limit_q, offset: int = offset_q,
               p: Principal = who) -> dict[str, Any]:
        uid = p.inner(user_id)
        head = reader.q("SELECT e.id, e.name, e.key, count(m.rowid) FROM entities e "
                        "LEFT JOIN memory_entities me ON me.entity_id = e.id "
                        "LEFT JOIN memories m ON m.rowid = me.memory_rowid AND m.status='active' "
                        "WHERE e.id = ? AND e.user_id = ? GROUP BY e.id", [entity_id, uid])
        if not head:
            raise NotFound(f"no entity with id {entity_id} for this user")
        ids = [r[0] for r in reader.q(
            "SELECT m.id FROM memory_entities me JOIN memories m ON m.rowid = me.memory_rowid "
            "WHERE me.entity_id = ? AND m.user_id = ? AND m.status = 'active' "
            "ORDER BY COALESCE(m.event_time, m.created_at), m.rowid LIMIT ? OFFSET ?",
            [entity_id, uid, limit, offset])]
        related = reader.q(
            f"{count_sql.replace('count(*)', 'count(DISTINCT m.rowid)')} "
            "JOIN memory_entities me2 ON me2.memory_rowid = me.memory_rowid "
            "AND me2.entity_id = ? WHERE e.user_id = ? AND e.id != ? "
            "GROUP BY e.id ORDER BY n DESC, e.key LIMIT 12", [entity_id, uid, entity_id])
        items = [p.outer_dict(MemoryItem.from_record(m).to_dict())
                 for m in memory.store.fetch(ids, uid)]
        return {"entity": entity_row(head[0]), "memories": items, "total": head[0][3],
                "related": [entity_row(r) for r in related]}

    app.mount("/ui", UiFiles(directory=UI_DIR, html=True), name="ui")
