"""``AsyncMemory``: the embedded ``Memory`` for asyncio apps (FastAPI, agent loops).

Every call runs the same ``Memory`` method on a worker thread of the AsyncMemory's own
pool, so the event loop never waits for SQLite, PostgreSQL or the embedding model. The
engine is the one ``Memory`` shares across threads (as ``remem serve`` does): concurrent
awaits keep its guarantees (one transaction per add, caller-id dedup, scoped reads).

    >>> async with AsyncMemory("memory.db") as m:
    ...     await m.add("I moved to Lisbon in May", user_id="ana")
    ...     hits = await m.search("where does Ana live?", user_id="ana")
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, Callable, Mapping, Sequence, TypeVar

from .errors import InvalidInput
from .memory import Memory
from .types import (AddResult, Answer, HistoryEntry, MaintainReport, MemoryItem,
                    SearchResult)

__all__ = ["AsyncMemory"]

T = TypeVar("T")


class AsyncMemory:
    """``Memory`` with coroutine methods. Give the ``Memory`` arguments (``path``,
    ``embedder=``, ``store=``, ...) or an open ``memory=`` to share. ``workers`` threads
    run the calls (searches run in parallel; SQLite serialises the writes itself)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 memory: Memory | None = None, workers: int = 4, **kwargs: Any) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
            raise InvalidInput("workers must be an int 1..64")
        if memory is not None and (path is not None or kwargs):
            raise InvalidInput("give either memory= or the Memory arguments, not both")
        self._own = memory is None
        self.memory = memory if memory is not None else Memory(path, **kwargs)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="remem-async")

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def aclose(self) -> None:
        """Wait for running calls, then close the Memory (if this object opened it)."""
        await asyncio.get_running_loop().run_in_executor(None, self._close)

    def _close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._own:
            self.memory.close()

    async def __aenter__(self) -> "AsyncMemory":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def add(self, messages: str | Sequence[Mapping[str, Any] | str], *, user_id: str,
                  agent_id: str | None = None, session_id: str | None = None,
                  timestamp: Any = None, metadata: Mapping[str, Any] | None = None) -> AddResult:
        """``Memory.add``."""
        return await self._call(self.memory.add, messages, user_id=user_id, agent_id=agent_id,
                                session_id=session_id, timestamp=timestamp, metadata=metadata)

    async def search(self, query: str, *, user_id: str, agent_id: str | None = None,
                     session_id: str | None = None, limit: int = 10,
                     filters: Mapping[str, Any] | None = None,
                     budget_tokens: int | None = None, as_of: Any = None) -> SearchResult:
        """``Memory.search``."""
        return await self._call(self.memory.search, query, user_id=user_id, agent_id=agent_id,
                                session_id=session_id, limit=limit, filters=filters,
                                budget_tokens=budget_tokens, as_of=as_of)

    async def get(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        return await self._call(self.memory.get, memory_id, user_id=user_id)

    async def get_all(self, *, user_id: str, agent_id: str | None = None,
                      session_id: str | None = None, limit: int = 100, offset: int = 0,
                      type: str | Sequence[str] | None = None,
                      status: str = "active") -> list[MemoryItem]:
        return await self._call(self.memory.get_all, user_id=user_id, agent_id=agent_id,
                                session_id=session_id, limit=limit, offset=offset,
                                type=type, status=status)

    async def count(self, *, user_id: str, agent_id: str | None = None,
                    session_id: str | None = None, type: str | Sequence[str] | None = None,
                    status: str = "active") -> int:
        return await self._call(self.memory.count, user_id=user_id, agent_id=agent_id,
                                session_id=session_id, type=type, status=status)

    async def update(self, memory_id: str, text: str, *,
                     user_id: str | None = None) -> MemoryItem:
        return await self._call(self.memory.update, memory_id, text, user_id=user_id)

    async def delete(self, memory_id: str, *, user_id: str | None = None) -> None:
        await self._call(self.memory.delete, memory_id, user_id=user_id)

    async def delete_all(self, *, user_id: str, agent_id: str | None = None,
                         session_id: str | None = None) -> int:
        return await self._call(self.memory.delete_all, user_id=user_id, agent_id=agent_id,
                                session_id=session_id)

    async def forget_user(self, user_id: str, *, actor: str = "api") -> dict[str, int]:
        return await self._call(self.memory.forget_user, user_id, actor=actor)

    async def history(self, memory_id: str, *,
                      user_id: str | None = None) -> list[HistoryEntry]:
        return await self._call(self.memory.history, memory_id, user_id=user_id)

    async def archive(self, memory_id: str, *, user_id: str | None = None,
                      reason: str | None = None) -> MemoryItem:
        return await self._call(self.memory.archive, memory_id, user_id=user_id, reason=reason)

    async def restore(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        return await self._call(self.memory.restore, memory_id, user_id=user_id)

    async def supersede(self, old_id: str, new_id: str, *, user_id: str | None = None,
                        at: Any = None) -> MemoryItem:
        return await self._call(self.memory.supersede, old_id, new_id, user_id=user_id, at=at)

    async def summaries(self, *, user_id: str, kind: str = "summary",
                        session_id: str | None = None) -> list[MemoryItem]:
        return await self._call(self.memory.summaries, user_id=user_id, kind=kind,
                                session_id=session_id)

    async def maintain(self, user_id: str | None = None, *, config: Any = None,
                       now: Any = None) -> MaintainReport:
        return await self._call(self.memory.maintain, user_id, config=config, now=now)

    async def answer(self, question: str, *, user_id: str, llm: Any,
                     agent_id: str | None = None, session_id: str | None = None,
                     budget_tokens: int = 1500) -> Answer:
        return await self._call(self.memory.answer, question, user_id=user_id, llm=llm,
                                agent_id=agent_id, session_id=session_id,
                                budget_tokens=budget_tokens)

    async def export(self, path: str | os.PathLike[str] | IO[str], *,
                     user_id: str | None = None) -> dict[str, int]:
        return await self._call(self.memory.export, path, user_id=user_id)

    async def import_(self, path: str | os.PathLike[str] | IO[str], *,
                      progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        return await self._call(self.memory.import_, path, progress=progress)
