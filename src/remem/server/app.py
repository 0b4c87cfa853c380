"""``create_app(memory, settings)``: the REST API, the web inspector at /ui and the MCP
HTTP transport at /mcp, wired together.

No global state: everything a route needs is closed over here. Two dependencies give a
route what it may use: ``principal`` (``auth.authenticate`` on the request's
``Authorization`` header, the same check /mcp runs) and ``tenant`` (the caller's
``TenantMemory``: the only way a route reaches memories). Errors: ``errors.py``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterator

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..errors import RememError
from . import apidocs, inspector, models as M, proxy, routes
from .auth import KeyStore, authenticate, check_tenant, key_store_for
from .errors import ApiError, error_response, forbidden, install_error_handlers
from .settings import Settings
from .tenancy import Principal, TenantMemory
from .throttle import Throttle
from .upkeep import Upkeep, register as upkeep_routes, schedule_config

if TYPE_CHECKING:
    from ..memory import Memory

__all__ = ["ApiError", "create_app", "error_response"]


class BodyLimit:
    """ASGI middleware: reads the request body (at most ``cap`` bytes, per path) before
    the app does, answering 413 past it, then replays it to the app."""

    def __init__(self, app: Any, cap: int, caps: dict[str, int]) -> None:
        self.app, self.cap, self.caps = app, cap, caps

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.caps.get(scope["path"], self.cap)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > cap:
                await self._too_large(scope, receive, send, cap)
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(message, receive), send)
                return
            body += message.get("body", b"")
            if len(body) > cap:
                await self._too_large(scope, receive, send, cap)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay({"type": "http.request", "body": bytes(body),
                                       "more_body": False}, receive), send)

    @staticmethod
    async def _too_large(scope: Any, receive: Any, send: Any, cap: int) -> None:
        response = error_response(413, "payload_too_large",
                                  f"request body is larger than {cap} bytes")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _replay(first: dict[str, Any], receive: Callable[[], Awaitable[Any]]) -> Any:
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return first
        return await receive()

    return replay


def create_app(memory: "Memory", settings: Settings | None = None, *,
               keys: KeyStore | None = None) -> FastAPI:
    """The ASGI app serving ``memory``. With ``settings.auth`` (the default) every memory
    route needs a tenant API key from ``keys`` (default: the ``api_keys`` table next to the
    store: in its SQLite file, or in its PostgreSQL database). The caller keeps ownership
    of ``memory``; the app closes only what it opened."""
    settings = settings or Settings()
    own_keys = keys is None and settings.auth
    if own_keys:
        keys = key_store_for(memory.store)
    checked = keys if settings.auth else None  # None: --no-auth, no key is checked
    server = TenantMemory(memory, Principal(None))  # the server's own view: every user
    upkeep = Upkeep(server, settings.maintain_every,
                    schedule_config(settings.maintain_forget_days))

    def view(p: Principal) -> TenantMemory:
        return TenantMemory(memory, p)  # 403 for an admin key

    mcp_app = None
    if settings.mcp:
        from .mcp import http_app

        mcp_app = http_app(view, settings, checked)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        upkeep.start()
        try:
            if mcp_app is not None:
                async with mcp_app.lifespan():
                    yield
            else:
                yield
        finally:
            await run_in_threadpool(upkeep.stop)
            if own_keys and keys is not None:
                keys.close()

    app = FastAPI(
        title="remem", version=__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None,  # /docs from the package (apidocs): no CDN
        description="Long-term memory for LLM agents. Every memory route needs "
                    "`Authorization: Bearer <key>` (create one with `remem keys create "
                    "--tenant T`) unless the server runs with `--no-auth`. Errors are "
                    '`{"error": {"type", "message"}}`.')
    install_error_handlers(app)
    app.add_middleware(BodyLimit, cap=settings.max_body_bytes,
                       caps={"/v1/import": settings.max_import_bytes})
    # declares the scheme in OpenAPI (the "Authorize" button at /docs); authenticate()
    # reads the header itself, as it does for /mcp
    bearer = HTTPBearer(auto_error=False, description="an API key from `remem keys create`")

    limiter = Throttle("", rate=settings.rate_limit)  # --rate-limit (off at 0)
    # --tenant-concurrency: a tenant's requests in flight, so one tenant cannot hold every
    # thread of the pool the routes share (its requests past it get 429)
    inflight = Throttle("concurrent", concurrency=settings.tenant_concurrency)

    def principal(request: Request, _: Any = Depends(bearer)) -> Principal:
        p = authenticate(request.headers.get("authorization"), checked)
        if not p.admin:
            limiter.take(p.tenant or "")
        return p

    def tenant(p: Principal = Depends(principal)) -> Iterator[TenantMemory]:
        memories = view(p)  # 403 for an admin key, before a slot is taken
        with inflight.slot(p.tenant or ""):
            yield memories

    def admin(p: Principal = Depends(principal)) -> KeyStore:
        if checked is None:
            raise forbidden("keys are disabled: the server runs with --no-auth")
        if not p.admin:
            raise forbidden("managing keys needs an admin key")
        return checked

    routes.register(app, settings, tenant)
    routes.register_erasure(app, principal, view)  # DELETE /v1/users/{id}: tenant or admin
    # POST /v1/maintain, GET /v1/maintain/status: tenant keys, admin keys or --no-auth
    upkeep_routes(app, upkeep, principal, view, routes.ERRORS)
    proxy.register(app, settings, tenant)  # POST /v1/chat/completions (--upstream)
    apidocs.register(app)  # Swagger UI at /docs, offline
    inspector.register(app, settings, tenant)  # the web inspector at /ui
    _key_routes(app, admin)
    _health_routes(app, server, checked)
    if mcp_app is not None:
        app.router.routes.extend(mcp_app.routes)
    return app


def _key_routes(app: FastAPI, admin: Callable[..., KeyStore]) -> None:
    @app.post("/v1/keys", response_model=M.KeyCreated, status_code=201, tags=["keys"],
              summary="create an API key (admin)")
    def create_key(body: M.KeyCreate, ks: KeyStore = Depends(admin)) -> dict[str, Any]:
        rec, secret = ks.create(tenant=body.tenant, admin=body.admin, name=body.name)
        return {**rec.to_dict(), "key": secret}

    @app.get("/v1/keys", response_model=M.KeyList, tags=["keys"], summary="list API keys (admin)")
    def list_keys(tenant: str | None = None, ks: KeyStore = Depends(admin)) -> dict[str, Any]:
        if tenant is not None:
            check_tenant(tenant)
        return {"keys": [k.to_dict() for k in ks.list(tenant)]}

    @app.delete("/v1/keys/{key_id}", response_model=M.KeyOut, tags=["keys"],
                summary="revoke an API key (admin)")
    def revoke_key(key_id: str, ks: KeyStore = Depends(admin)) -> dict[str, Any]:
        return ks.revoke(key_id).to_dict()


def _health_routes(app: FastAPI, server: TenantMemory, keys: KeyStore | None) -> None:
    @app.get("/healthz", response_model=M.Status, tags=["health"], summary="the process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=M.Status, tags=["health"],
             summary="the store (and key table) answer queries",
             responses={503: {"model": M.Error}})
    def readyz() -> Any:
        try:
            server.count(user_id="readyz")
            if keys is not None:
                keys.list(tenant="readyz")
        except RememError as exc:
            return error_response(503, "unavailable", f"not ready: {exc}")
        return {"status": "ready"}
