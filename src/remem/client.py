"""``Client`` and ``AsyncClient``: the ``Memory`` API over a ``remem serve`` server.

Same method names, arguments, return types (``Hit``, ``SearchResult``, ``MemoryItem``,
``HistoryEntry``, ``AddResult``) and errors (``NotFound``, ``InvalidInput``, ...) as
``Memory``, so code written against ``Memory`` runs unchanged against a server:

    >>> m = remem.Client("http://127.0.0.1:8420", api_key="rk_...")
    >>> m.add("I moved to Lisbon in May", user_id="ana")
    >>> m.search("where does Ana live?", user_id="ana")[0].text

Sync and async share everything but I/O: ``_Base`` turns each call into a ``_Call``
(method, path, body, how to read the answer, whether it may be retried) and maps error
answers onto the ``RememError`` tree; ``Client`` and ``AsyncClient`` only send it.

Retries: a request that never reached the server (connection refused or timed out while
connecting) is retried for every call; a read (get, list, search, history, summaries,
export) is also retried after a read timeout, a dropped connection, 429, 502, 503 and
504. Writes are sent once past that point: a lost answer must not add twice.
One ``httpx`` connection pool per client (keep-alive): create one client and reuse it.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Sequence

import httpx

from ._wire import (_add_result, _body, _error, _history, _id, _int, _item, _json,
                    _maintain_config, _messages, _nothing, _one_item, _params, _retry_after,
                    _search_result, _time, _write_export)
from .errors import InvalidInput, RemoteError
from .types import (AddResult, Answer, HistoryEntry, MaintainReport, MemoryItem,
                    SearchResult)

__all__ = ["AsyncClient", "Client"]

_RETRY_STATUS = frozenset({429, 502, 503, 504})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _types(type_: Any) -> Any:
    """``get_all``'s ``type`` as a query parameter (a list joined with commas)."""
    if type_ is None or isinstance(type_, str):
        return type_
    return ",".join(type_) if isinstance(type_, (list, tuple)) else type_


@dataclass(frozen=True)
class _Call:
    """One request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], Any]
    params: Mapping[str, Any] | None = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    read: bool = False  # safe to send again after it may have reached the server


class _Base:
    """Everything but sending: arguments to ``_Call``, answers to values, retries."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 60.0,
                 retries: int = 2, headers: Mapping[str, str] | None = None) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput(f"url must be an http:// or https:// URL, got {url!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise InvalidInput("retries must be an int 0..10")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InvalidInput("timeout must be a positive number of seconds")
        api_key = api_key if api_key is not None else os.environ.get("REMEM_API_KEY")
        self.url = url.rstrip("/")
        self.retries = retries
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._headers = {"Accept": "application/json", "User-Agent": "remem-client",
                         **(headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _delay(self, call: _Call, attempt: int, response: httpx.Response | None = None,
               exc: Exception | None = None) -> float | None:
        """Seconds to wait before sending ``call`` again, or None: do not."""
        if attempt >= self.retries:
            return None
        if exc is not None:
            if not (isinstance(exc, _NEVER_SENT) or (call.read and isinstance(exc, httpx.TransportError))):
                return None
        elif response is None or not call.read or response.status_code not in _RETRY_STATUS:
            return None
        wait = _retry_after(response)
        return wait if wait is not None else min(0.1 * 2 ** attempt, 2.0)

    def _finish(self, call: _Call, r: httpx.Response) -> Any:
        if r.is_success:
            return call.parse(r)
        raise _error(r)

    def _failed(self, call: _Call, exc: Exception) -> RemoteError:
        if isinstance(exc, httpx.TimeoutException):
            return RemoteError(f"{call.method} {call.path}: the server did not answer in time ({exc})")
        return RemoteError(f"{call.method} {call.path}: cannot reach {self.url} ({exc})")

    # -- one _Call per Memory method --------------------------------------------------
    def _add(self, messages: Any, user_id: Any, agent_id: Any, session_id: Any,
             timestamp: Any, metadata: Any) -> _Call:
        return _Call("POST", "/v1/memories", _add_result, content=_body(
            messages=_messages(messages), user_id=user_id, agent_id=agent_id,
            session_id=session_id, timestamp=_time(timestamp), metadata=metadata))

    def _search(self, query: Any, user_id: Any, agent_id: Any, session_id: Any, limit: Any,
                filters: Any, budget_tokens: Any, as_of: Any) -> _Call:
        return _Call("POST", "/v1/search", _search_result, read=True, content=_body(
            query=query, user_id=user_id, agent_id=agent_id, session_id=session_id,
            limit=limit, filters=filters, budget_tokens=budget_tokens, as_of=_time(as_of)))

    def _get(self, memory_id: str, user_id: Any) -> _Call:
        return _Call("GET", f"/v1/memories/{_id(memory_id)}", _one_item,
                     params=_params(user_id=user_id), read=True)

    def _get_all(self, user_id: Any, agent_id: Any, session_id: Any, limit: Any,
                 offset: Any, type_: Any = None, status: Any = "active") -> _Call:
        _int(limit, "limit", 1)
        _int(offset, "offset", 0)
        return _Call("GET", "/v1/memories", lambda r: [_item(d) for d in r.json()["memories"]],
                     params=_params(user_id=user_id, agent_id=agent_id, session_id=session_id,
                                    limit=limit, offset=offset, type=_types(type_),
                                    status=status), read=True)

    def _count(self, user_id: Any, agent_id: Any, session_id: Any, type_: Any = None,
               status: Any = "active") -> _Call:
        return _Call("GET", "/v1/memories", lambda r: int(r.json()["total"]), read=True,
                     params=_params(user_id=user_id, agent_id=agent_id,
                                    session_id=session_id, limit=1, type=_types(type_),
                                    status=status))

    def _update(self, memory_id: str, text: Any, user_id: Any) -> _Call:
        return _Call("PATCH", f"/v1/memories/{_id(memory_id)}", _one_item,
                     content=_body(text=text, user_id=user_id))

    def _delete(self, memory_id: str, user_id: Any) -> _Call:
        return _Call("DELETE", f"/v1/memories/{_id(memory_id)}", _nothing,
                     params=_params(user_id=user_id))

    def _delete_all(self, user_id: Any, agent_id: Any, session_id: Any) -> _Call:
        return _Call("DELETE", "/v1/memories", lambda r: int(r.json()["deleted"]),
                     params=_params(user_id=user_id, agent_id=agent_id, session_id=session_id))

    def _forget_user(self, user_id: Any) -> _Call:
        return _Call("DELETE", f"/v1/users/{_id(user_id)}",
                     lambda r: {k: int(v) for k, v in r.json().items() if k != "user_id"})

    def _history(self, memory_id: str, user_id: Any) -> _Call:
        return _Call("GET", f"/v1/memories/{_id(memory_id)}/history",
                     lambda r: [_history(d) for d in r.json()["history"]],
                     params=_params(user_id=user_id), read=True)

    def _archive(self, memory_id: str, user_id: Any, reason: Any) -> _Call:
        return _Call("POST", f"/v1/memories/{_id(memory_id)}/archive", _one_item,
                     content=_body(user_id=user_id, reason=reason))

    def _restore(self, memory_id: str, user_id: Any) -> _Call:
        return _Call("POST", f"/v1/memories/{_id(memory_id)}/restore", _one_item,
                     content=_body(user_id=user_id))

    def _supersede(self, old_id: str, new_id: str, user_id: Any, at: Any) -> _Call:
        return _Call("POST", f"/v1/memories/{_id(old_id)}/supersede", _one_item,
                     content=_body(by=new_id, user_id=user_id, at=_time(at)))

    def _summaries(self, user_id: Any, kind: Any, session_id: Any) -> _Call:
        return _Call("GET", "/v1/summaries", lambda r: [_item(d) for d in r.json()["summaries"]],
                     params=_params(user_id=user_id, kind=kind, session_id=session_id), read=True)

    def _maintain(self, user_id: Any, config: Any, now: Any) -> _Call:
        if now is not None:
            raise InvalidInput("maintain(now=...) is not available over the server")
        body: dict[str, Any] = {"user_id": user_id}
        if config is not None:
            body.update(_maintain_config(config))

        def parse(r: httpx.Response) -> MaintainReport:
            return MaintainReport(**r.json())

        return _Call("POST", "/v1/maintain", parse, content=_body(**body))

    def _export(self, user_id: Any) -> _Call:
        if user_id is None:
            raise InvalidInput("user_id is required: the server exports one user at a time")
        return _Call("GET", "/v1/export", lambda r: r.text, params={"user_id": user_id},
                     read=True, headers={"Accept": "application/x-ndjson"})

    def _import(self, path: Any) -> _Call:
        if isinstance(path, (str, os.PathLike)):
            data = Path(path).read_bytes()
        else:
            text = path.read()
            data = text.encode("utf-8") if isinstance(text, str) else text
        return _Call("POST", "/v1/import", _json, content=data,
                     headers={"Content-Type": "application/x-ndjson"})


class Client(_Base):
    """The ``Memory`` API over HTTP. ``api_key`` defaults to ``$REMEM_API_KEY``;
    ``timeout`` is seconds per attempt; ``retries`` extra attempts (see module doc).
    ``transport`` is any ``httpx`` transport (e.g. ``httpx.ASGITransport``-like, for tests).
    Use as a context manager or call ``close()``."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 60.0,
                 retries: int = 2, headers: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(url, api_key, timeout=timeout, retries=retries, headers=headers)
        self._http = httpx.Client(base_url=self.url, headers=self._headers,
                                  timeout=self._timeout, transport=transport)

    def _run(self, call: _Call) -> Any:
        attempt = 0
        while True:
            response, error = None, None
            try:
                response = self._http.request(call.method, call.path, params=call.params,
                                              content=call.content, headers=call.headers)
            except httpx.TransportError as exc:
                error = exc
            delay = self._delay(call, attempt, response, error)
            if delay is None:
                if error is not None:
                    raise self._failed(call, error) from error
                return self._finish(call, response)  # type: ignore[arg-type]
            attempt += 1
            time.sleep(delay)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, messages: str | Sequence[Mapping[str, Any] | str], *, user_id: str,
            agent_id: str | None = None, session_id: str | None = None,
            timestamp: Any = None, metadata: Mapping[str, Any] | None = None) -> AddResult:
        """``Memory.add`` on the server."""
        return self._run(self._add(messages, user_id, agent_id, session_id, timestamp, metadata))

    def search(self, query: str, *, user_id: str, agent_id: str | None = None,
               session_id: str | None = None, limit: int = 10,
               filters: Mapping[str, Any] | None = None, budget_tokens: int | None = None,
               as_of: Any = None) -> SearchResult:
        """``Memory.search`` on the server."""
        return self._run(self._search(query, user_id, agent_id, session_id, limit, filters,
                                      budget_tokens, as_of))

    def get(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        return self._run(self._get(memory_id, user_id))

    def get_all(self, *, user_id: str, agent_id: str | None = None,
                session_id: str | None = None, limit: int = 100, offset: int = 0,
                type: str | Sequence[str] | None = None,
                status: str = "active") -> list[MemoryItem]:
        return self._run(self._get_all(user_id, agent_id, session_id, limit, offset, type,
                                       status))

    def count(self, *, user_id: str, agent_id: str | None = None,
              session_id: str | None = None, type: str | Sequence[str] | None = None,
              status: str = "active") -> int:
        return self._run(self._count(user_id, agent_id, session_id, type, status))

    def update(self, memory_id: str, text: str, *, user_id: str | None = None) -> MemoryItem:
        return self._run(self._update(memory_id, text, user_id))

    def delete(self, memory_id: str, *, user_id: str | None = None) -> None:
        self._run(self._delete(memory_id, user_id))

    def delete_all(self, *, user_id: str, agent_id: str | None = None,
                   session_id: str | None = None) -> int:
        return self._run(self._delete_all(user_id, agent_id, session_id))

    def forget_user(self, user_id: str) -> dict[str, int]:
        """Erase everything of a user (``DELETE /v1/users/{user_id}``); rows per table."""
        return self._run(self._forget_user(user_id))

    def history(self, memory_id: str, *, user_id: str | None = None) -> list[HistoryEntry]:
        return self._run(self._history(memory_id, user_id))

    def archive(self, memory_id: str, *, user_id: str | None = None,
                reason: str | None = None) -> MemoryItem:
        return self._run(self._archive(memory_id, user_id, reason))

    def restore(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        return self._run(self._restore(memory_id, user_id))

    def supersede(self, old_id: str, new_id: str, *, user_id: str | None = None,
                  at: Any = None) -> MemoryItem:
        return self._run(self._supersede(old_id, new_id, user_id, at))

    def summaries(self, *, user_id: str, kind: str = "summary",
                  session_id: str | None = None) -> list[MemoryItem]:
        return self._run(self._summaries(user_id, kind, session_id))

    def maintain(self, user_id: str | None = None, *, config: Any = None,
                 now: Any = None) -> MaintainReport:
        return self._run(self._maintain(user_id, config, now))

    def answer(self, question: str, *, user_id: str, llm: Any, agent_id: str | None = None,
               session_id: str | None = None, budget_tokens: int = 1500) -> Answer:
        """``Memory.answer``: the server retrieves, ``llm`` (yours, called from here)
        answers citing the caller's turn ids."""
        from .answer import answer

        result = self.search(question, user_id=user_id, agent_id=agent_id,
                             session_id=session_id, limit=50, budget_tokens=budget_tokens)
        return answer(question, result, llm=llm)

    def export(self, path: str | os.PathLike[str] | IO[str], *,
               user_id: str | None = None) -> dict[str, int]:
        """One user's export (the server needs ``user_id``); returns the counts."""
        return _write_export(path, self._run(self._export(user_id)))

    def import_(self, path: str | os.PathLike[str] | IO[str], *,
                progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """``Memory.import_`` into the caller's tenant (``progress`` is not reported)."""
        return self._run(self._import(path))


class AsyncClient(_Base):
    """``Client`` for asyncio: the same methods, as coroutines. Use as an async context
    manager or ``await client.aclose()``."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 60.0,
                 retries: int = 2, headers: Mapping[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(url, api_key, timeout=timeout, retries=retries, headers=headers)
        self._http = httpx.AsyncClient(base_url=self.url, headers=self._headers,
                                       timeout=self._timeout, transport=transport)

    async def _run(self, call: _Call) -> Any:
        attempt = 0
        while True:
            response, error = None, None
            try:
                response = await self._http.request(call.method, call.path, params=call.params,
                                                    content=call.content, headers=call.headers)
            except httpx.TransportError as exc:
                error = exc
            delay = self._delay(call, attempt, response, error)
            if delay is None:
                if error is not None:
                    raise self._failed(call, error) from error
                return self._finish(call, response)  # type: ignore[arg-type]
            attempt += 1
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def add(self, messages: str | Sequence[Mapping[str, Any] | str], *, user_id: str,
                  agent_id: str | None = None, session_id: str | None = None,
                  timestamp: Any = None, metadata: Mapping[str, Any] | None = None) -> AddResult:
        return await self._run(self._add(messages, user_id, agent_id, session_id, timestamp,
                                         metadata))

    async def search(self, query: str, *, user_id: str, agent_id: str | None = None,
                     session_id: str | None = None, limit: int = 10,
                     filters: Mapping[str, Any] | None = None,
                     budget_tokens: int | None = None, as_of: Any = None) -> SearchResult:
        return await self._run(self._search(query, user_id, agent_id, session_id, limit,
                                            filters, budget_tokens, as_of))

    async def get(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        return await self._run(self._get(memory_id, user_id))

    async def get_all(self, *, user_id: str, agent_id: str | None = None,
                session_id: str | None = None, limit: int = 100, offset: int = 0,
                type: str | Sequence[str] | None = None,
                status: str = "active") -> list[MemoryItem]:
        return await self._run(self._get_all(user_id, agent_id, session_id, limit, offset, type,
                                       status))

    async def count(self, *, user_id: str, agent_id: str | None = None,
              session_id: str | None = None, type: str | Sequence[str] | None = None,
              status: str = "active") -> int:
        return await self._run(self._count(user_id, agent_id, session_id, type, status))

    async def update(self, memory_id: str, text: str, *,
                     user_id: str | None = None) -> MemoryItem:
        return await self._run(self._update(memory_id, text, user_id))

    async def delete(self, memory_id: str, *, user_id: str | None = None) -> None:
        await self._run(self._delete(memory_id, user_id))

    async def delete_all(self, *, user_id: str, agent_id: str | None = None,
                         session_id: str | None = None) -> int:
        return await self._run(self._delete_all(user_id, agent_id, session_id))

    async def forget_user(self, user_id: str) -> dict[str, int]:
        """Erase everything of a user (``DELETE /v1/users/{user_id}``); rows per table."""
        return await self._run(self._forget_user(user_id))

    async def history(self, memory_id: str, *,
                      user_id: str | None = None) -> list[HistoryEntry]:
        return await self._run(self._history(memory_id, user_id))

    async def archive(self, memory_id: str, *, user_id: str | None = None,
                      reason: str | None = None) -> MemoryItem:
        return await self._run(self._archive(memory_id, user_id, reason))

    async def restore(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        return await self._run(self._restore(memory_id, user_id))

    async def supersede(self, old_id: str, new_id: str, *, user_id: str | None = None,
                        at: Any = None) -> MemoryItem:
        return await self._run(self._supersede(old_id, new_id, user_id, at))

    async def summaries(self, *, user_id: str, kind: str = "summary",
                        session_id: str | None = None) -> list[MemoryItem]:
        return await self._run(self._summaries(user_id, kind, session_id))

    async def maintain(self, user_id: str | None = None, *, config: Any = None,
                       now: Any = None) -> MaintainReport:
        return await self._run(self._maintain(user_id, config, now))

    async def answer(self, question: str, *, user_id: str, llm: Any,
                     agent_id: str | None = None, session_id: str | None = None,
                     budget_tokens: int = 1500) -> Answer:
        """``Memory.answer``: retrieval on the server, ``llm`` on a worker thread here."""
        from .answer import answer

        result = await self.search(question, user_id=user_id, agent_id=agent_id,
                                   session_id=session_id, limit=50, budget_tokens=budget_tokens)
        return await asyncio.to_thread(answer, question, result, llm=llm)

    async def export(self, path: str | os.PathLike[str] | IO[str], *,
                     user_id: str | None = None) -> dict[str, int]:
        return _write_export(path, await self._run(self._export(user_id)))

    async def import_(self, path: str | os.PathLike[str] | IO[str], *,
                      progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        return await self._run(self._import(path))
