"""``remem copy`` moves a whole store SQLite -> PostgreSQL -> SQLite without loss."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import conversation

from remem import HashingEmbedder, Memory
from remem.cli.copy import open_store
from remem.cli import main

from .conftest import new_pg_database


def _records(target: str) -> list[dict[str, Any]]:
    store = open_store(target)
    try:
        return list(store.export_records(None))
    finally:
        store.close()


def test_copy_round_trip_sqlite_postgres_sqlite(tmp_path: Path, pg_server: Any, capsys: Any) -> None:
    src, back = str(tmp_path / "src.db"), str(tmp_path / "back.db")
    with Memory(src, embedder=HashingEmbedder()) as m:
        m.add(conversation(), user_id="ana", session_id="s1", metadata={"b": 1, "a": [True, None]})
        m.add(conversation("x"), user_id="bob", agent_id="helper")
        mid = m.add("Bob collects vinyl jazz records", user_id="bob").memory_ids[0]
        m.update(mid, "Bob collects rare vinyl jazz records", user_id="bob")
        m.delete(m.get_all(user_id="ana")[0].id)
    dsn = new_pg_database(pg_server)
    assert main(["copy", src, dsn, "--chunk", "7"]) == 0
    stats = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert stats["episodes"] == 11 and stats["skipped"] == 0 and stats["memories"] > 10
    assert main(["copy", dsn, back]) == 0
    original = _records(src)
    assert _records(dsn) == original  # vectors (base64 float16) included
    assert _records(back) == original
    assert main(["copy", src, dsn]) == 0  # re-running skips everything
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["episodes"] == 0
    with Memory(dsn, embedder=HashingEmbedder()) as m:
        assert m.search("rescue dog Pimenta", user_id="ana")[0].source_ids == ("t3",)
        assert [h.event for h in m.history(mid)] == ["ADD", "UPDATE"]


def test_copy_rejects_a_missing_source(tmp_path: Path, capsys: Any) -> None:
    assert main(["copy", str(tmp_path / "nope.db"), str(tmp_path / "dst.db")]) == 1
    assert "no store" in capsys.readouterr().err
