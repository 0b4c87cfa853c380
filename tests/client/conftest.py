"""Fixtures: one real ``remem serve`` on 127.0.0.1 (API keys on, hashing embedder) for
the session and a tenant key for it; ``api``: the same scenarios against ``Memory(path)``,
``AsyncMemory``, ``Client`` and ``AsyncClient``. Async objects are driven through
``Blocking``, which runs each coroutine to completion on the object's own event loop."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any, Iterator

import pytest

import remem
from remem import HashingEmbedder, Memory

from server.kit import Server, serving


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("client-serve")) as s:
        yield s


@pytest.fixture(scope="session")
def api_key(server: Server) -> str:
    return str(server.create_key("--tenant", "clients")["key"])


class Blocking:
    """An async remem object with its coroutine methods called like sync ones."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.target, self.loop = target, loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.target, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.loop.run_until_complete(attr(*args, **kwargs))

        return call


KINDS = ("memory", "async_memory", "client", "async_client")


@pytest.fixture(params=KINDS)
def api(request: pytest.FixtureRequest, tmp_path: Path, server: Server,
        api_key: str) -> Iterator[Any]:
    """One of the four faces of the ``Memory`` API (each on its own empty store or user
    space: tests use their own user ids on the shared server)."""
    kind = request.param
    if kind == "memory":
        m = Memory(tmp_path / "m.db", embedder=HashingEmbedder())
        yield m
        m.close()
    elif kind == "client":
        with remem.Client(server.url, api_key=api_key) as c:
            yield c
    else:
        loop = asyncio.new_event_loop()
        if kind == "async_memory":
            target: Any = remem.AsyncMemory(tmp_path / "m.db", embedder=HashingEmbedder())
        else:
            target = remem.AsyncClient(server.url, api_key=api_key)
        try:
            yield Blocking(target, loop)
        finally:
            loop.run_until_complete(target.aclose())
            loop.close()
