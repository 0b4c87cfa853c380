"""``create_app(memory, settings)``: the REST API (and the MCP HTTP transport at /mcp).

No global state: everything a route needs is closed over here. Errors always have the
shape ``{"error": {"type": ..., "message": ...}}``:

    ApiError                       its own status (401 unauthorized, 403 forbidden, ...)
    request validation (pydantic)  422 invalid_input
    InvalidInput                   422 invalid_input  (ImportFormatError: import_format)
    UnicodeError (lone surrogate)  422 invalid_input
    NotFound                       404 not_found      (also another tenant's ids)
    body over the cap              413 payload_too_large
    StoreError / EmbedderError     503 store_unavailable / embedder_unavailable
    chat proxy: upstream failed    502 upstream_error (4xx of the upstream: 400 upstream_rejected)
    other RememError               400 bad_request
    anything else                  500 internal (a bug: logged with its traceback)
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import (EmbedderError, ImportFormatError, InvalidInput, NotFound, RememError,
                      StoreError)
from . import models as M, ui_routes
from .auth import KeyStore, check_tenant, key_store_for
from .settings import Settings
from .tenancy import Owners, Principal
from .upkeep import Upkeep, register as upkeep_routes, schedule_config

if TYPE_CHECKING:
    from ..memory import Memory

log = logging.getLogger("remem.server")

_HTTP_TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "invalid_input", 503: "unavailable"}

_PATTERN_MESSAGES = {
    "user_id": "must not contain control characters or '::' (the tenant separator)",
    "tenant": "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'",
}


class ApiError(Exception):
    """An error response decided by the server layer itself."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


def error_response(status: int, type_: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "message": message}}, status_code=status,
                        headers=headers)


def _classify(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, ImportFormatError):
        return 422, "import_format"
    if isinstance(exc, (InvalidInput, UnicodeError)):
        return 422, "invalid_input"
    if isinstance(exc, NotFound):
        return 404, "not_found"
    if isinstance(exc, StoreError):
        return 503, "store_unavailable"
    if isinstance(exc, EmbedderError):
        return 503, "embedder_unavailable"
    return 400, "bad_request"


def _install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.type, exc.message, headers)

    async def remem_error(_: Request, exc: Exception) -> JSONResponse:
        status, type_ = _classify(exc)
        message = str(exc) if not isinstance(exc, UnicodeError) else \
            "text must be valid Unicode (no lone surrogates)"
        return error_response(status, type_, message)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            msg = err.get("msg", "invalid")
            if err.get("type") == "string_pattern_mismatch":
                msg = _PATTERN_MESSAGES.get(loc.rsplit(".", 1)[-1],
                                            "must not contain control characters")
            parts.append(f"{loc}: {msg}")
        return error_response(422, "invalid_input", "; ".join(parts) or "invalid request")

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, _HTTP_TYPES.get(exc.status_code, "error"),
                              message, dict(exc.headers or {}))

    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=exc)
        return error_response(500, "internal", "internal server error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RememError, remem_error)
    app.add_exception_handler(UnicodeError, remem_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)


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
    store: in its SQLite file, or in its PostgreSQL database). The caller keeps ownership of ``memory``; the app closes only what it
    opened."""
    settings = settings or Settings()
    own_keys = keys is None and settings.auth
    if own_keys:
        keys = key_store_for(memory.store)
    owners = Owners(memory)
    upkeep = Upkeep(memory, settings.maintain_every,
                    schedule_config(settings.maintain_forget_days))
    mcp_app = None
    if settings.mcp:
        from .mcp import http_app

        mcp_app = http_app(memory, settings, keys)

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
            owners.close()
            if own_keys and keys is not None:
                keys.close()

    app = FastAPI(
        title="remem", version=__version__, lifespan=lifespan,
        description="Long-term memory for LLM agents. Every memory route needs "
                    "`Authorization: Bearer <key>` (create one with `remem keys create "
                    "--tenant T`) unless the server runs with `--no-auth`. Errors are "
                    '`{"error": {"type", "message"}}`.')
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, cap=settings.max_body_bytes,
                       caps={"/v1/import": settings.max_import_bytes})
    bearer = HTTPBearer(auto_error=False, description="an API key from `remem keys create`")

    def principal(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
        if not settings.auth:
            return Principal(None)
        if creds is None:
            raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'")
        assert keys is not None
        rec = keys.verify(creds.credentials)
        if rec is None:
            raise ApiError(401, "unauthorized", "invalid or revoked API key")
        return Principal(rec.tenant, rec.id, rec.admin)

    def tenant(p: Principal = Depends(principal)) -> Principal:
        if p.admin:
            raise ApiError(403, "forbidden", "admin keys manage keys only; use a tenant key")
        return p

    def admin(p: Principal = Depends(principal)) -> KeyStore:
        if not settings.auth or keys is None:
            raise ApiError(403, "forbidden", "keys are disabled: the server runs with --no-auth")
        if not p.admin:
            raise ApiError(403, "forbidden", "managing keys needs an admin key")
        return keys

    from .routes import ERRORS, register

    register(app, memory, settings, owners, tenant)
    # POST /v1/maintain, GET /v1/maintain/status: tenant keys, admin keys or --no-auth
    upkeep_routes(app, upkeep, principal, lambda msg: ApiError(403, "forbidden", msg), ERRORS)
    from . import proxy

    proxy.register(app, memory, settings, tenant)  # POST /v1/chat/completions (--upstream)
    ui_routes.register(app, memory, settings, owners, tenant)  # the web inspector at /ui
    _key_routes(app, admin)
    _health_routes(app, memory, keys)
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


def _health_routes(app: FastAPI, memory: "Memory", keys: KeyStore | None) -> None:
    @app.get("/healthz", response_model=M.Status, tags=["health"], summary="the process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=M.Status, tags=["health"],
             summary="the store (and key table) answer queries",
             responses={503: {"model": M.Error}})
    def readyz() -> Any:
        try:
            memory.count(user_id="readyz")
            if keys is not None:
                keys.list(tenant="readyz")
        except RememError as exc:
            return error_response(503, "unavailable", f"not ready: {exc}")
        return {"status": "ready"}
