"""The shared SQL's pure parts (``remem.store.sql``) and the PostgreSQL dialect."""

from __future__ import annotations

import pytest

from remem.errors import InvalidInput
from remem.store.postgres.store import DIALECT as PG
from remem.store.sql import check_filters, chunks, scope_sql
from remem.store.sqlite.store import DIALECT as SQLITE
from remem.types import Scope


def test_scope_sql() -> None:
    assert scope_sql(Scope("u")) == ("user_id = ?", ["u"])
    assert scope_sql(Scope("u", "a", "s"), "m") == (
        "m.user_id = ? AND m.agent_id = ? AND m.session_id = ?", ["u", "a", "s"])


def test_dialects_translate_the_shared_sql() -> None:
    sql = "SELECT rowid FROM memory_entities WHERE memory_rowid = ? AND k LIKE '%x'"
    assert SQLITE.sql(sql) == sql
    assert PG.sql(sql) == "SELECT rid FROM memory_entities WHERE memory_rid = %s AND k LIKE '%%x'"
    assert SQLITE.in_list("id", ["a", "b"]) == ("id IN (?,?)", ["a", "b"])
    assert PG.in_list("id", ["a", "b"]) == ("id = ANY(?)", [["a", "b"]])
    assert PG.metadata_filter("flag", [1]) == ("metadata -> ? = ANY(?::jsonb[])",
                                               ["flag", ["1", "true"]])


def test_chunks() -> None:
    assert [len(c) for c in chunks(range(1201))] == [500, 500, 201]
    assert list(chunks([])) == []


def test_check_filters() -> None:
    assert check_filters({"type": "fact", "flag": True, "n": [1, False]}) == {
        "type": "fact", "flag": 1, "n": [1, 0]}
    for bad in ({"bad key": 1}, {"k": []}, {"k": {"x": 1}}, {"k": float("nan")}, {"k": 2**64}):
        with pytest.raises(InvalidInput):
            check_filters(bad)
