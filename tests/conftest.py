"""Shared fixtures: a real SQLite store on a temp file with the real hashing embedder, and
one real PostgreSQL server per test session (``pg_server``; tests/store/conftest.py makes
databases on it)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest

from remem import HashingEmbedder, Memory


def conversation(prefix: str = "t", *, speaker: str = "Ana", other: str = "Max") -> list[dict[str, Any]]:
    """A small, lexically distinctive conversation with caller ids ``{prefix}1..{prefix}5``."""
    return [
        {"role": "user", "name": speaker, "id": f"{prefix}1",
         "content": "I just moved to Lisbon for a job at a robotics startup.",
         "timestamp": "2024-05-01T10:00:00Z"},
        {"role": "assistant", "name": other, "id": f"{prefix}2",
         "content": "Congratulations! How is the apartment hunt going?",
         "timestamp": "2024-05-01T10:01:00Z"},
        {"role": "user", "name": speaker, "id": f"{prefix}3",
         "content": "I adopted a rescue dog called Pimenta last weekend.",
         "timestamp": "2024-05-02T09:00:00Z"},
        {"role": "user", "name": speaker, "id": f"{prefix}4",
         "content": "I am allergic to cats and shellfish.",
         "timestamp": "2024-05-03T09:00:00Z"},
        {"role": "assistant", "name": other, "id": f"{prefix}5",
         "content": "Noted: no seafood restaurants in my suggestions.",
         "timestamp": "2024-05-03T09:01:00Z"},
    ]


@pytest.fixture
def make_conversation():
    """The ``conversation`` helper, as a fixture for tests that prefer injection."""
    return conversation


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "m.db"


@pytest.fixture
def mem(db_path: Path) -> Iterator[Memory]:
    m = Memory(db_path, embedder=HashingEmbedder())
    try:
        yield m
    finally:
        m.close()


@pytest.fixture
def open_memory(tmp_path: Path) -> Iterator[Any]:
    """Factory for extra ``Memory`` objects (closed at teardown)."""
    opened: list[Memory] = []

    def factory(path: Path | str | None = None, **kw: Any) -> Memory:
        kw.setdefault("embedder", HashingEmbedder())
        m = Memory(tmp_path / "m.db" if path is None else path, **kw)
        opened.append(m)
        return m

    yield factory
    for m in opened:
        m.close()


def turn_items(m: Memory, **scope: Any) -> list[Any]:
    """A scope's memories of type "turn" (one per stored message), in event-time order.
    Other derived memory types (e.g. multi-turn segments) are left out."""
    return [i for i in m.get_all(limit=100_000, **scope) if i.type == "turn"]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One PostgreSQL server for the session (no skip: a missing server is a failure)."""
    datadir = tmp_path_factory.mktemp("pg") / "data"
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

        srv = pgserver.get_server(datadir, cleanup_mode="delete")
    try:
        yield srv
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            srv.cleanup()
