"""The store contract: every test here runs against each backend through the public
``Memory`` API. PostgreSQL is one real server (pgserver: PostgreSQL 16 + pgvector) per
test session, with a fresh database per test. If it cannot start, the tests FAIL."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from remem import HashingEmbedder, Memory

BACKENDS = ["sqlite", "postgres"]
_counter = itertools.count()


# pg_server (one PostgreSQL server per test session) is in tests/conftest.py, shared
# with tests/test_docs_run.py


def new_pg_database(srv: Any) -> str:
    """A fresh, empty database on ``srv``; returns its DSN."""
    import psycopg

    name = f"remem_t{next(_counter)}"
    with warnings.catch_warnings():  # platformdirs, as above
        warnings.simplefilter("ignore")
        admin, dsn = srv.get_uri(), srv.get_uri(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return dsn


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a SQLite file path or a PostgreSQL DSN (fresh per test)."""
    if request.param == "sqlite":
        return str(tmp_path / "m.db")
    return new_pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[..., Memory]]:
    """Factory for ``Memory`` objects on the test's store (closed at teardown)."""
    opened: list[Memory] = []

    def factory(**kw: Any) -> Memory:
        kw.setdefault("embedder", HashingEmbedder())
        m = Memory(store_url, **kw)
        opened.append(m)
        return m

    yield factory
    for m in opened:
        m.close()


@pytest.fixture
def mem(open_store: Callable[..., Memory]) -> Memory:
    return open_store()


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    """A backend itself (no ``Memory`` around it), fresh per test: the seam
    ``remem.store.protocol`` describes."""
    if store_url.startswith("postgresql://"):
        from remem.store.postgres import PostgresStore

        st: Any = PostgresStore(store_url)
    else:
        from remem.store.sqlite import SQLiteStore

        st = SQLiteStore(store_url)
    yield st
    st.close()
