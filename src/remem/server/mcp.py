"""MCP server: the tools ``remember``, ``recall``, ``list`` and ``forget`` over one user's
memories, for agent clients (Claude Desktop, Cursor, any MCP host).

Two transports share the same tools:

- stdio, ``remem mcp --user U [--tenant T]``: one process per client, scoped to U (inside
  tenant T when given, i.e. the same memories a REST client of tenant T sees as U);
- streamable HTTP, mounted by ``remem serve`` at ``/mcp``: the caller's API key picks the
  tenant (``auth.authenticate``, as for REST), the ``X-Remem-User`` header picks the user
  (default: the server's ``--mcp-user``). Stateless, JSON responses.

Either way the tools act on a ``TenantMemory``, never on the ``Memory`` itself.

This module imports the MCP SDK at import time; only the server commands import it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncContextManager, Callable, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.datastructures import Headers
from starlette.routing import Route

from .. import __version__
from ..errors import RememError
from .auth import authenticate
from .errors import ApiError, api_error_response
from .models import check_time
from .tenancy import TenantMemory

if TYPE_CHECKING:
    from .auth import KeyStore
    from .settings import Settings

Scope = Callable[[Any], tuple[TenantMemory, str]]  # Context -> (the caller's view, user id)

INSTRUCTIONS = """\
remem is your long-term memory about the user you are talking with. Use `remember` to
store anything worth knowing later (facts about the user, preferences, decisions, plans,
events with their dates), one self-contained statement per call, in the user's own words
where possible. Use `recall` before answering anything that may depend on earlier
conversations; it returns the relevant memories as dated lines that fit a token budget.
Use `forget` when the user asks you to delete something, with the id from `recall` or
`list`. Memories are private to this user."""

Role = Literal["user", "assistant", "system", "tool"]


def _fail(exc: RememError) -> ToolError:
    return ToolError(str(exc))


def build(scope: Scope) -> MCPServer:
    """An MCP server whose tools act on the view and user ``scope(ctx)`` names."""
    server: MCPServer = MCPServer("remem", instructions=INSTRUCTIONS, version=__version__,
                                  log_level="WARNING")

    @server.tool(name="remember")
    def remember(ctx: Context, content: str, speaker: str | None = None, role: Role = "user",
                 session_id: str | None = None, when: str | None = None) -> dict[str, Any]:
        """Store one thing to remember about the user, verbatim.

        content: the statement, self-contained (e.g. "Ana moved to Lisbon in May 2024"
        rather than "she moved there"). speaker: who said it (a name), if known.
        role: "user" when the user said it (default), "assistant" for your own words.
        session_id: the conversation it came from, if you track conversations.
        when: when it was said or happened, ISO-8601 (e.g. "2024-05-01T10:00:00Z");
        default now. Relative dates in the content ("last Saturday") are resolved
        against it. Returns the new memory ids."""
        t, user = scope(ctx)
        msg: dict[str, Any] = {"role": role, "content": content}
        if speaker:
            msg["name"] = speaker
        try:
            r = t.add([msg], user_id=user, session_id=session_id,
                           timestamp=check_time(when, "when"))
        except RememError as exc:
            raise _fail(exc) from exc
        return {"stored": len(r.memory_ids), "memory_ids": list(r.memory_ids)}

    @server.tool(name="recall")
    def recall(ctx: Context, query: str, budget_tokens: int = 800,
               limit: int = 20) -> dict[str, Any]:
        """Find what you remember about a topic or question, before answering.

        query: a natural-language question or keywords ("where does Ana live?",
        "dietary restrictions"). budget_tokens: the most tokens the returned context may
        use (default 800). limit: the most memories to consider (default 20).
        Returns `context`: the relevant memories as dated lines in time order, ready to
        read, and `sources`: for each memory, its id (for `forget`), its source turn ids,
        when it was said and by whom. An empty context means nothing relevant is known."""
        t, user = scope(ctx)
        try:
            hits = t.search(query, user_id=user, limit=limit, budget_tokens=budget_tokens)
        except RememError as exc:
            raise _fail(exc) from exc
        return {"context": hits.context, "sources": [
            {"id": h.id, "source_ids": list(h.source_ids), "speaker": h.speaker,
             "when": h.event_time.isoformat() if h.event_time else None,
             "score": round(h.score, 4)} for h in hits]}

    @server.tool(name="list")
    def list_memories(ctx: Context, limit: int = 20, offset: int = 0,
                      status: str = "active", type: str | None = None) -> dict[str, Any]:
        """List stored memories in time order, oldest first, to browse or find an id.

        limit: how many (default 20, at most 1000); offset: how many to skip, for paging;
        status: "active" (default), "archived" (forgotten, restorable), "superseded" or
        "all"; type: memory types, comma-separated, or "all" (default: what was said).
        Returns `memories` (id, text, speaker, when) and `total`. Prefer `recall` to
        look something up; use `list` to review everything."""
        t, user = scope(ctx)
        try:
            items = t.get_all(user_id=user, limit=min(limit, 1000), offset=offset,
                              type=type, status=status)
            total = t.count(user_id=user, type=type, status=status)
        except RememError as exc:
            raise _fail(exc) from exc
        return {"total": total, "memories": [
            {"id": i.id, "text": i.text, "speaker": i.speaker,
             "when": i.event_time.isoformat() if i.event_time else None} for i in items]}

    @server.tool(name="forget")
    def forget(ctx: Context, memory_id: str) -> dict[str, Any]:
        """Delete one memory for good, by its id (from `recall` sources or `list`).

        Use it when the user asks you to forget something or a memory is wrong (then
        `remember` the correct version). The deletion is recorded in the memory's
        history. Fails if no memory of this user has that id."""
        t, user = scope(ctx)
        try:
            t.delete(memory_id, user_id=user)
        except RememError as exc:
            raise _fail(exc) from exc
        return {"forgotten": memory_id}

    return server


def run_stdio(t: TenantMemory, user: str) -> None:
    """Serve the tools over stdin/stdout for one user of ``t``, one tenant's view (blocks
    until stdin closes)."""
    t.check_user(user)
    build(lambda _ctx: (t, user)).run("stdio")


@dataclass
class HttpTransport:
    """What ``create_app`` mounts: the /mcp route and the lifespan it needs."""

    routes: list[Route]
    lifespan: Callable[[], AsyncContextManager[None]]


class _Auth:
    """ASGI wrapper: the API key picks the tenant (``authenticate``, as for REST); the
    caller's ``TenantMemory`` is stored in the scope, where the tools read it back through
    the HTTP request attached to their context."""

    def __init__(self, app: Any, tenant: Callable[[Any], TenantMemory],
                 keys: "KeyStore | None") -> None:
        self.app, self.tenant, self.keys = app, tenant, keys

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            try:
                principal = authenticate(Headers(scope=scope).get("authorization"), self.keys)
                scope["remem.memory"] = self.tenant(principal)
            except ApiError as exc:
                await api_error_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(tenant: Callable[[Any], TenantMemory], settings: "Settings",
             keys: "KeyStore | None") -> HttpTransport:
    """The streamable-HTTP transport at /mcp, behind the REST API's keys (``keys`` None:
    --no-auth); ``tenant(principal)`` is a caller's view."""

    def scope(ctx: Context) -> tuple[TenantMemory, str]:
        request = ctx.request_context.request
        t = request.scope.get("remem.memory") if request is not None else None
        if request is None or not isinstance(t, TenantMemory):
            raise ToolError("not authenticated")
        user = request.headers.get("x-remem-user") or settings.mcp_user
        try:
            return t, t.check_user(user, "X-Remem-User")
        except RememError as exc:
            raise _fail(exc) from exc

    server = build(scope)
    sub = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True,
                                     json_response=True, host=settings.host)
    route = Route("/mcp", endpoint=_Auth(sub, tenant, keys))

    @contextlib.asynccontextmanager
    async def lifespan() -> Any:
        async with server.session_manager.run():
            yield

    return HttpTransport([route], lifespan)
