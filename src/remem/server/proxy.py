"""The optional chat proxy: ``POST /v1/chat/completions``, OpenAI-compatible.

Point an OpenAI client at ``remem serve`` instead of the LLM. For each request the proxy

1. picks the memory user (header ``X-Remem-User``, else the OpenAI ``user`` field) inside
   the caller's tenant, through the caller's ``TenantMemory`` like the memory routes;
2. searches that user's memories with the last user message, packed to
   ``proxy_budget_tokens``, and injects them as one system message after the caller's
   own leading system messages;
3. forwards the request (every field but ``session_id``; ``stream`` and
   ``stream_options`` only for a stream) to ``upstream_url`` with the server's upstream
   key, never the caller's;
4. answers with the upstream's completion, plus ``X-Remem-Memories: N`` (memories
   injected) and ``X-Remem-Recorded: true|false``; with ``stream: true`` it passes the
   upstream's server-sent events through as they arrive (``upstream.py``);
5. records the last user message (its speaker: the message's ``name``, else header
   ``X-Remem-Speaker``) and the reply as two episodes of that user (session: header
   ``X-Remem-Session`` or the ``session_id`` field); a stream is recorded when it ends
   with ``[DONE]``. A failed recording is logged; the reply is returned all the same.

Errors: proxy off (no ``--upstream``) 404; a malformed message, no user, no user
message, no model 422 (all checked before the upstream is called); upstream unreachable,
5xx or 429 after retries, a rejected upstream key or a malformed reply 502
``upstream_error``; another 4xx from the upstream 400 ``upstream_rejected``; a stream
failing midway ends with an ``error`` event. Nothing is recorded unless the upstream
answered in full.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping, Sequence, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..ingest.normalise import check_id
from ..errors import InvalidInput
from . import models as M
from .errors import ApiError
from .settings import Settings
from .tenancy import TenantMemory
from .throttle import Throttle
from .upstream import Upstream, UpstreamError, open_stream

log = logging.getLogger("remem.server.proxy")
T = TypeVar("T")

MEMORY_HEADER = "Relevant memories about the user:"
QUERY_CHARS = 4000  # the search query: the first this many characters of the user message
SEARCH_LIMIT = 30  # candidates before packing to the token budget
_DROPPED = ("stream", "stream_options", "session_id")  # never forwarded upstream


class ChatRequest(BaseModel):
    """An OpenAI chat completion request; fields beyond these are forwarded as given."""

    model_config = ConfigDict(extra="allow")

    messages: list[dict[str, Any]] = Field(min_length=1, description="OpenAI chat messages")
    model: str | None = Field(None, description="default: the server's --upstream-model")
    user: str | None = Field(None, description="the memory user (or header X-Remem-User)")
    session_id: str | None = Field(None, description="session of the recorded exchange "
                                                     "(or header X-Remem-Session); not forwarded")
    stream: bool | None = Field(None, description="true: server-sent events, passed through "
                                                  "as the upstream sends them")


# -- pure helpers --------------------------------------------------------------------
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
SPEAKER_HEADER = "x-remem-speaker"  # the speaker name when the user message has no `name`


def check_messages(messages: Sequence[Any]) -> None:
    """Every message is an object with a known role and string (or content-part list)
    content; an assistant message may have tool calls instead. ``InvalidInput`` naming
    the first bad one otherwise."""
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, Mapping):
            raise InvalidInput(f"{where} must be an object with role and content")
        role = m.get("role")
        if role not in ROLES:
            raise InvalidInput(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
        name = m.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 256):
            raise InvalidInput(f"{where}.name must be a string of at most 256 characters")
        content = m.get("content")
        if content is None:
            if role == "assistant" and (m.get("tool_calls") or m.get("function_call")):
                continue
            raise InvalidInput(f"{where}.content is missing")
        if isinstance(content, list):
            if not all(isinstance(p, Mapping) and isinstance(p.get("type"), str) for p in content):
                raise InvalidInput(f"{where}.content parts must be objects with a type")
        elif not isinstance(content, str):
            raise InvalidInput(f"{where}.content must be a string or a list of content parts")


def speaker(message_name: str | None, header: str | None) -> str | None:
    """Who said the user message: its ``name``, else the ``X-Remem-Speaker`` header."""
    for value in (message_name, header):
        if isinstance(value, str) and value.strip():
            return value.strip()[:256]
    return None


def message_text(message: Mapping[str, Any], what: str) -> str:
    """The text of a message: its ``content`` string, or its text parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content
                         if isinstance(p, dict) and isinstance(p.get("text"), str))
    raise InvalidInput(f"{what}.content must be a string or a list of content parts")


def last_user_message(messages: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """The text and speaker ``name`` of the last ``user`` message with text."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") == "user":
            text = message_text(m, f"messages[{i}]")
            if text.strip():
                name = m.get("name")
                return text, name if isinstance(name, str) and name.strip() else None
    raise InvalidInput("messages must contain a user message with text (the memory query)")


def with_memories(messages: Sequence[dict[str, Any]], context: str) -> list[dict[str, Any]]:
    """``messages`` with one system message of ``context`` after the leading system (or
    developer) messages; unchanged when ``context`` is empty."""
    if not context.strip():
        return list(messages)
    at = 0
    while at < len(messages) and messages[at].get("role") in ("system", "developer"):
        at += 1
    note = {"role": "system", "content": f"{MEMORY_HEADER}\n{context}"}
    return [*messages[:at], note, *messages[at:]]


def as_completion(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """The upstream's completion with the fields every OpenAI client expects."""
    out = dict(payload)
    out.setdefault("id", f"chatcmpl-remem-{uuid.uuid4().hex}")
    out.setdefault("object", "chat.completion")
    out.setdefault("created", int(time.time()))
    out.setdefault("model", model)
    return out


# -- the route -----------------------------------------------------------------------
_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {"model": M.Error} for s in (400, 401, 403, 404, 413, 422, 429, 502, 503)}


def register(app: FastAPI, settings: Settings, tenant: Callable[..., TenantMemory]) -> None:
    """Add POST /v1/chat/completions; it answers 404 unless ``settings.upstream_url``.

    The upstream's slow work (the call, a stream's reads) runs on the proxy's own bounded
    pool (``proxy_workers`` threads), never on the pool the memory routes, MCP and the
    inspector share; each tenant has at most ``proxy_concurrency`` proxy calls in flight
    and ``proxy_rate`` per second (429 with Retry-After past either)."""
    upstream = Upstream(settings.upstream_url, settings.upstream_key, settings.upstream_timeout,
                        settings.upstream_retries) if settings.upstream_url else None
    pool = ThreadPoolExecutor(settings.proxy_workers, thread_name_prefix="remem-upstream") \
        if upstream is not None else None
    throttle = Throttle("chat proxy", concurrency=settings.proxy_concurrency,
                        rate=settings.proxy_rate)

    async def slow(fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    @app.post("/v1/chat/completions", tags=["proxy"], responses=_RESPONSES,
              summary="OpenAI-compatible chat with the user's memories (needs --upstream)")
    async def chat(body: ChatRequest, request: Request,
                   t: TenantMemory = Depends(tenant)) -> Any:
        if upstream is None:
            raise ApiError(404, "not_found", "the chat proxy is off: start remem serve with "
                           "--upstream URL (an OpenAI-compatible base URL such as "
                           "https://api.openai.com/v1; key in REMEM_UPSTREAM_KEY)")
        check_messages(body.messages)
        user = request.headers.get("x-remem-user") or body.user
        if not user:
            raise ApiError(422, "invalid_input", "no memory user: send the OpenAI \"user\" "
                           "field or an X-Remem-User header")
        user = t.check_user(user, "user")
        session = request.headers.get("x-remem-session") or body.session_id
        check_id(session, "session_id", required=False)
        model = body.model or settings.upstream_model
        if not model:
            raise ApiError(422, "invalid_input", "no model: send \"model\" (or start remem "
                           "serve with --upstream-model NAME)")
        query, name = last_user_message(body.messages)
        name = speaker(name, request.headers.get(SPEAKER_HEADER))

        slot = throttle.slot(t.principal.tenant or "")
        slot.__enter__()  # 429 here, before any work
        try:
            hits = await run_in_threadpool(lambda: t.search(
                query[:QUERY_CHARS], user_id=user, limit=SEARCH_LIMIT,
                budget_tokens=settings.proxy_budget_tokens))
            forward = {k: v for k, v in body.model_dump(exclude_unset=True).items()
                       if k not in _DROPPED}
            forward["model"] = model
            forward["messages"] = with_memories(body.messages, hits.context)
            n = len(hits) if hits.context.strip() else 0

            def record(text: Any) -> bool:
                return _record(t, user, session, query, name, text, model)

            if body.stream:
                response = await _relay(upstream, forward, body, model, n, record, slow, pool,
                                        slot)
                slot = None  # released when the stream ends
                return response
            try:
                payload = await slow(upstream.complete, forward)
            except UpstreamError as exc:
                raise ApiError(exc.status, exc.type, str(exc)) from None
            reply = payload["choices"][0]["message"].get("content")
            recorded = await run_in_threadpool(record, reply)
            return JSONResponse(as_completion(payload, model), headers={
                "X-Remem-Memories": str(n), "X-Remem-Recorded": "true" if recorded else "false"})
        finally:
            if slot is not None:
                slot.__exit__(None, None, None)


async def _relay(upstream: Upstream, forward: dict[str, Any], body: ChatRequest, model: str,
                 n: int, record: Callable[[str], bool], slow: Any, slow_pool: Any,
                 slot: Any) -> StreamingResponse:
    """The upstream's events as they come (each read on the proxy's pool); the exchange
    recorded once the stream is done; the tenant's slot released when it ends."""
    forward["stream"] = True
    options = (body.model_extra or {}).get("stream_options")
    if options is not None:
        forward["stream_options"] = options  # e.g. {"include_usage": true}
    try:
        stream = await slow(open_stream, upstream, forward)
    except UpstreamError as exc:
        raise ApiError(exc.status, exc.type, str(exc)) from None

    lock = threading.Lock()
    finished: list[bool] = []

    def finish() -> None:  # record once, when the stream ended with [DONE]
        with lock:
            if finished or not stream.complete:
                return
            finished.append(True)
        if not record(stream.text):
            log.info("chat proxy: stream of model %r not recorded (no text reply)", model)

    chunks = iter(stream)
    reading = threading.Lock()

    def step() -> bytes | None:
        """The next chunk (on the proxy's pool); at the end, the exchange is recorded in
        the same call, so a caller cancelled meanwhile does not lose it."""
        with reading:
            chunk = next(chunks, None)
        if chunk is None:
            finish()
        return chunk

    def close() -> None:
        with reading:
            chunks.close()  # type: ignore[attr-defined]

    async def events() -> Any:
        last = b""
        try:
            while (chunk := await slow(step)) is not None:
                last = chunk
                yield chunk
        finally:
            if not finished:
                # the client hung up: after [DONE], finish and record on the pool;
                # midway, close the upstream connection (nothing is recorded)
                slow_pool.submit(step if b"data: [DONE]" in last else close)
            slot.__exit__(None, None, None)

    return StreamingResponse(events(), media_type="text/event-stream", headers={
        "X-Remem-Memories": str(n), "Cache-Control": "no-cache"})


def _record(t: TenantMemory, user: str, session: str | None, query: str, name: str | None,
            reply: Any, model: str) -> bool:
    """Store the exchange as two episodes (one transaction). Only a text reply is recorded:
    a tool-call step is recorded when its final answer comes. Never raises."""
    if not isinstance(reply, str) or not reply.strip():
        return False
    user_turn: dict[str, Any] = {"role": "user", "content": query}
    if name is not None:
        user_turn["name"] = name
    try:
        t.add([user_turn, {"role": "assistant", "content": reply}], user_id=user,
              session_id=session, metadata={"via": "chat-proxy", "model": model[:200]})
        return True
    except Exception as exc:  # the reply is already paid for: never lose it
        log.error("chat proxy: recording the exchange of user %r (tenant %r) failed (%s: %s); "
                  "the reply was returned unrecorded", user, t.principal.tenant,
                  type(exc).__name__, exc)
        return False
