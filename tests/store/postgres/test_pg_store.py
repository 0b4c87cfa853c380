"""PostgreSQL-only parts of the store: the HNSW path, helpers, failure translation."""

from __future__ import annotations

from typing import Any

import pytest

import remem.store.postgres.search as pg
from remem import HashingEmbedder, Memory, StoreError
from remem.store.postgres import PostgresStore, redact
from remem.search.terms import terms_of
from remem.types import Scope

from ..conftest import new_pg_database


def test_hnsw_path_agrees_with_the_exact_scan(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with Memory(new_pg_database(pg_server), embedder=HashingEmbedder()) as m:
        for u in range(3):
            m.add([{"content": f"user {u} note {i} about topic {i % 7}"} for i in range(40)],
                  user_id=f"u{u}")
        qv = m.embedder.embed(["note 5 about topic 5"])[0]
        exact = m.store.dense(Scope("u1"), qv, m.embedder.name, 5)
        monkeypatch.setattr(pg, "_EXACT_MAX", 0)
        ann = m.store.dense(Scope("u1"), qv, m.embedder.name, 5)
        assert ann[0] == exact[0] and len(ann) == 5
        assert {r.scope.user_id for r in m.store.fetch([i for i, _ in ann])} == {"u1"}


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open store postgresql://u:\\*\\*\\*@"):
        PostgresStore("postgresql://u:pw@127.0.0.1:1/nope", timeout=2)


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://remem:s3cret@db:5432/remem") == "postgresql://remem:***@db:5432/remem"
    assert redact("postgresql:///remem?host=/tmp") == "postgresql:///remem?host=/tmp"


def test_bench_scale_on_postgres(pg_server: Any) -> None:
    """``remem bench scale --store DSN``: sizes come from the tables themselves."""
    from remem.bench import scale

    dsn = new_pg_database(pg_server)
    result = scale.run(lambda: Memory(dsn, embedder=HashingEmbedder()), sizes=[40, 80],
                       queries=3, batch=20)
    a, b = result["points"]
    assert a["wal_bytes"] is None and 0 < a["store_bytes"] <= b["store_bytes"]
    assert b["bytes_per_memory"] > 0 and b["memories"] >= 80
    assert "-" in scale.format_plain(result)  # no WAL column value on PostgreSQL


def test_rows_with_vectors_stay_out_of_toast(pg_server: Any) -> None:
    """Migration 3: a memory with its vector fits in the heap row (no TOAST reads when a
    scope's vectors are scanned)."""
    import random

    rng = random.Random(0)
    text = " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7))
                    for _ in range(150))  # ~1.2 kB that does not compress
    with Memory(new_pg_database(pg_server), embedder=HashingEmbedder()) as m:
        m.add([{"content": text}], user_id="u")
        opts, toast = m.store._q("SELECT c.reloptions, pg_relation_size(c.reltoastrelid) "
                                 "FROM pg_class c WHERE c.relname = 'memories'")[0]
        assert any(o.startswith("toast_tuple_target=") for o in opts) and toast == 0
        assert m.search(text[:40], user_id="u")[0].text == text
