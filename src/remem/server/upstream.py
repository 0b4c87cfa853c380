"""The chat proxy's upstream: an OpenAI-compatible ``/chat/completions``, plain
(``Upstream.complete``) or streamed (``open_stream``). Standard library only.

Streaming: ``open_stream`` retries connection errors, 429 and 5xx like a plain request,
but only before the first byte; ``Stream`` then yields the upstream's server-sent events
as they arrive while collecting the reply's text. ``Stream.complete`` is True once the
upstream sent ``data: [DONE]``; if it fails or stalls midway, the caller gets an
``error`` event (the ``openai`` client raises it) and ``complete`` stays False. An
upstream that ignored ``stream`` (a plain JSON completion) becomes one chunk.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

log = logging.getLogger("remem.server.proxy")

MAX_EVENT_BYTES = 1 << 20  # one SSE event from the upstream, at most


class UpstreamError(Exception):
    """The upstream LLM failed; ``status`` and ``type`` are what the caller gets."""

    def __init__(self, message: str, status: int = 502, type_: str = "upstream_error") -> None:
        super().__init__(message)
        self.status, self.type = status, type_


@dataclass(frozen=True)
class Upstream:
    """``POST {url}/chat/completions``, retrying connection errors, timeouts, 429 and 5xx
    with exponential backoff. Standard library only."""

    url: str
    key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    retries: int = 2
    backoff: float = 0.5

    def complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        data = json.dumps(body, ensure_ascii=False).encode()
        last = ""
        for attempt in range(self.retries + 1):
            try:
                status, raw = self._post(data)
            except (http.client.HTTPException, OSError) as exc:  # refused, reset, timeout
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if status < 300:
                    return _parse(raw)
                _log_body(status, raw[:300])
                if status in (401, 403):
                    raise UpstreamError(f"the upstream rejected this server's credentials (HTTP "
                                        f"{status}); check the key in REMEM_UPSTREAM_KEY")
                if 400 <= status < 500 and status != 429:
                    raise UpstreamError(f"the upstream rejected the request (HTTP {status}; "
                                        "its answer is in the server log)", 400,
                                        "upstream_rejected")
                last = f"HTTP {status}"
            log.warning("chat proxy: upstream attempt %d failed: %s", attempt + 1, last)
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise UpstreamError(f"the upstream LLM failed after {self.retries + 1} attempt(s): {last}")

    def _post(self, data: bytes) -> tuple[int, bytes]:
        """One POST; the connection is always closed."""
        url = urllib.parse.urlsplit(self.url.rstrip("/") + "/chat/completions")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = cls(url.netloc, timeout=self.timeout)
        try:
            conn.request("POST", url.path + (f"?{url.query}" if url.query else ""), body=data,
                         headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def _log_body(status: int, body: bytes) -> None:
    """An upstream's error body goes to the server log only: it may name the upstream
    account (organisation, quota, key prefix), which callers must not see."""
    log.warning("chat proxy: upstream answered HTTP %d: %s", status,
                body.decode("utf-8", "replace").replace("\n", " "))


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise UpstreamError(f"the upstream returned malformed JSON: {exc}") from None
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not (isinstance(choices, list) and choices and isinstance(choices[0], dict)
            and isinstance(choices[0].get("message"), dict)):
        raise UpstreamError("the upstream returned no choices[0].message: not a chat completion")
    return payload  # type: ignore[no-any-return]


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


def open_stream(up: Upstream, body: Mapping[str, Any]) -> Stream:
    """POST ``body`` (with ``stream: true``) and return the open stream once the upstream
    answers 200; before that, failures are retried and then raised as ``UpstreamError``
    (so the caller still gets a plain JSON error with its status)."""
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
            _log_body(resp.status, resp.read(300))
            conn.close()
            if resp.status in (401, 403):
                raise UpstreamError(f"the upstream rejected this server's credentials (HTTP "
                                    f"{resp.status}); check the key in REMEM_UPSTREAM_KEY")
            if 400 <= resp.status < 500 and resp.status != 429:
                raise UpstreamError(f"the upstream rejected the request (HTTP {resp.status}; "
                                    "its answer is in the server log)", 400, "upstream_rejected")
            last = f"HTTP {resp.status}"
        log.warning("chat proxy: upstream stream attempt %d failed: %s", attempt + 1, last)
        if attempt < up.retries:
            time.sleep(up.backoff * 2**attempt)
    raise UpstreamError(f"the upstream LLM failed after {up.retries + 1} attempt(s): {last}")
