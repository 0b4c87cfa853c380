"""The chat proxy's streaming half and its request checks.

``stream: true`` (what most chat UIs and the official ``openai`` client send): the proxy
opens the upstream's server-sent-event stream (retrying connection errors, 429 and 5xx
like a plain request, but only before the first byte), then passes each event to the
caller as it arrives while collecting the reply's text. The exchange is recorded when
the stream ends with ``data: [DONE]``; if the upstream fails or stalls midway, the caller
gets an ``error`` event (the ``openai`` client raises it) and nothing is recorded.

``check_messages`` validates every caller message before anything is sent upstream.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from ..errors import InvalidInput

if TYPE_CHECKING:
    from .proxy import Upstream

log = logging.getLogger("remem.server.proxy")

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
SPEAKER_HEADER = "x-remem-speaker"  # the speaker name when the user message has no `name`
MAX_EVENT_BYTES = 1 << 20  # one SSE event from the upstream, at most


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


class Stream:
    """An open upstream stream. Iterate it for the caller's SSE bytes; afterwards
    ``complete`` tells whether it ended with ``[DONE]`` and ``text`` holds the reply."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self.conn, self.resp = conn, resp
        self.parts: list[str] = []
        self.complete = False
        self.failed: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def _note(self, data: str) -> None:
        try:
            chunk = json.loads(data)
            delta = chunk["choices"][0].get("delta") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return
        if isinstance(delta.get("content"), str):
            self.parts.append(delta["content"])

    def __iter__(self) -> Iterator[bytes]:
        try:
            if "text/event-stream" not in (self.resp.getheader("Content-Type") or ""):
                yield from self._whole()  # an upstream that ignored "stream": one chunk
                return
            event: list[bytes] = []
            size = 0
            while True:
                line = self.resp.readline(MAX_EVENT_BYTES + 1)
                if not line:
                    raise ConnectionError("the upstream closed the stream before [DONE]")
                size += len(line)
                if size > MAX_EVENT_BYTES:
                    raise ValueError("an upstream event is larger than 1 MiB")
                event.append(line)
                if line.strip():
                    continue
                body = b"".join(event)
                event, size = [], 0
                done = False
                for raw in body.splitlines():
                    if raw.startswith(b"data:"):
                        data = raw[5:].strip().decode("utf-8", "replace")
                        if data == "[DONE]":
                            done = True
                        else:
                            self._note(data)
                yield body
                if done:
                    self.complete = True
                    return
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.failed = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning("chat proxy: the upstream stream failed midway: %s", self.failed)
            yield _event({"error": {"type": "upstream_error", "message":
                                    f"the upstream LLM failed midway: {self.failed}"}})
        finally:
            self.conn.close()

    def _whole(self) -> Iterator[bytes]:
        from .proxy import _parse

        payload = _parse(self.resp.read())
        message = payload["choices"][0]["message"]
        content = message.get("content")
        if isinstance(content, str):
            self.parts.append(content)
        chunk = {"id": payload.get("id", "chatcmpl-remem"), "object": "chat.completion.chunk",
                 "created": payload.get("created", int(time.time())),
                 "model": payload.get("model", ""), "choices": [{
                     "index": 0, "delta": {k: v for k, v in message.items() if v is not None},
                     "finish_reason": payload["choices"][0].get("finish_reason", "stop")}]}
        yield _event(chunk)
        yield b"data: [DONE]\n\n"
        self.complete = True


def _event(obj: Any) -> bytes:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()


def open_stream(up: "Upstream", body: Mapping[str, Any]) -> Stream:
    """POST ``body`` (with ``stream: true``) and return the open stream once the upstream
    answers 200; before that, failures are retried and then raised as ``UpstreamError``
    (so the caller still gets a plain JSON error with its status)."""
    from .proxy import UpstreamError

    data = json.dumps(body, ensure_ascii=False).encode()
    url = urllib.parse.urlsplit(up.url.rstrip("/") + "/chat/completions")
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if up.key:
        headers["Authorization"] = f"Bearer {up.key}"
    cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    last = ""
    for attempt in range(up.retries + 1):
        conn = cls(url.netloc, timeout=up.timeout)
        try:
            conn.request("POST", url.path + (f"?{url.query}" if url.query else ""), body=data,
                         headers=headers)
            resp = conn.getresponse()
        except (http.client.HTTPException, OSError) as exc:
            conn.close()
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if resp.status < 300:
                return Stream(conn, resp)
            detail = resp.read(300).decode("utf-8", "replace")
            conn.close()
            if resp.status in (401, 403):
                raise UpstreamError(f"the upstream rejected this server's credentials (HTTP "
                                    f"{resp.status}); check the key in REMEM_UPSTREAM_KEY")
            if 400 <= resp.status < 500 and resp.status != 429:
                raise UpstreamError(f"the upstream rejected the request (HTTP {resp.status}): "
                                    f"{detail}", 400, "upstream_rejected")
            last = f"HTTP {resp.status}: {detail}"
        log.warning("chat proxy: upstream stream attempt %d failed: %s", attempt + 1, last)
        if attempt < up.retries:
            time.sleep(up.backoff * 2**attempt)
    raise UpstreamError(f"the upstream LLM failed after {up.retries + 1} attempt(s): {last}")
