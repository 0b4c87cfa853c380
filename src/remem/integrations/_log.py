"""``TurnLog``: a conversation kept in remem for the chat-history adapters (LangChain
message history, OpenAI Agents session). Each entry is one remem turn in the scope
(user, agent, session): its text is searchable like any memory, and its framework-native
form rides in the metadata so it comes back exactly. Entries get strictly increasing
timestamps, which is the order they are read back in."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Any

from ..errors import NotFound

_LAST = [0.0]
_LOCK = threading.Lock()


def _tick() -> float:
    """A wall-clock time later than every earlier one in this process (1 ms steps)."""
    with _LOCK:
        _LAST[0] = max(time.time(), _LAST[0] + 0.001)
        return _LAST[0]


async def acall(memory: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """``memory.name(...)``: awaited on ``AsyncMemory``/``AsyncClient``, on a worker
    thread for ``Memory``/``Client`` (the event loop never waits for it)."""
    fn = getattr(memory, name)
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)


class TurnLog:
    """One conversation (``session_id``) of ``user_id`` in ``memory``."""

    def __init__(self, memory: Any, key: str, *, user_id: str, session_id: str,
                 agent_id: str | None = None) -> None:
        self.memory, self.key = memory, key
        self.scope = {"user_id": user_id, "agent_id": agent_id, "session_id": session_id}

    def message(self, role: str, text: str, native: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return ({"role": role, "content": text, "timestamp": _tick()}, {self.key: native})

    def rows_of(self, items: list[Any]) -> list[Any]:
        rows = [i for i in items if i.type == "turn" and self.key in i.metadata]
        return sorted(rows, key=lambda i: (i.event_time, i.created_at, i.id))

    # sync ---------------------------------------------------------------------------
    def append(self, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        for m, meta in pairs:
            self.memory.add([m], **self.scope, metadata=meta)

    def rows(self) -> list[Any]:
        out: list[Any] = []
        while True:
            page = self.memory.get_all(**self.scope, limit=1000, offset=len(out))
            out.extend(page)
            if len(page) < 1000:
                return self.rows_of(out)

    def delete(self, memory_id: str) -> None:
        try:
            self.memory.delete(memory_id)
        except NotFound:  # someone else deleted it meanwhile
            pass

    def clear(self) -> None:
        self.memory.delete_all(**self.scope)

    # async --------------------------------------------------------------------------
    async def aappend(self, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        for m, meta in pairs:
            await acall(self.memory, "add", [m], **self.scope, metadata=meta)

    async def arows(self) -> list[Any]:
        out: list[Any] = []
        while True:
            page = await acall(self.memory, "get_all", **self.scope, limit=1000, offset=len(out))
            out.extend(page)
            if len(page) < 1000:
                return self.rows_of(out)

    async def adelete(self, memory_id: str) -> None:
        try:
            await acall(self.memory, "delete", memory_id)
        except NotFound:
            pass

    async def aclear(self) -> None:
        await acall(self.memory, "delete_all", **self.scope)
