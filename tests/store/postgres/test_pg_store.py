"""PostgreSQL-only parts of the store: stored vectors, helpers, failure translation."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from remem import HashingEmbedder, Memory, StoreError
from remem.store.postgres import PostgresStore, redact
from remem.search.terms import terms_of
from remem.store.dense import decode_int8, encode_int8, on_grid
from remem.types import Scope

from ..conftest import new_pg_database


def test_vectors_are_stored_on_the_int8_grid(pg_server: Any) -> None:
    """PostgreSQL stores (and ranks) the values SQLite's int8 codes decode to."""
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((50, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rows[3] = 0.0
    assert np.array_equal(on_grid(rows), np.stack([decode_int8(encode_int8(r)) for r in rows]))
    with Memory(new_pg_database(pg_server), embedder=HashingEmbedder()) as m:
        m.add([{"content": "a note about topic five"}], user_id="u")
        ids, matrix = m.store.vectors(Scope("u"), m.embedder.name)
        v = m.embedder.embed(["a note about topic five"])[0]
        assert np.array_equal(matrix[0], decode_int8(encode_int8(v)))
        assert m.store._q("SELECT count(*) FROM vector_indexes")[0][0] == 0


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


def test_access_counts_live_in_their_own_table(pg_server: Any) -> None:
    """``record_access`` writes ``memory_access``, not ``memories`` (whose wide rows made
    nearly every counter update non-HOT); reads and merges see the sum."""
    with Memory(new_pg_database(pg_server), embedder=HashingEmbedder()) as m:
        ids = m.add([{"content": "alpha note"}, {"content": "beta note"}], user_id="u").memory_ids
        m.store.record_access({ids[0]: (3, 100.0), ids[1]: (1, 50.0)})
        m.store.record_access({ids[0]: (2, 90.0)})
        raw = dict(m.store._q("SELECT id, access_count FROM memories"))
        assert raw[ids[0]] == raw[ids[1]] == 0
        a = m.store.get(ids[0])
        assert a is not None and (a.access_count, a.last_access) == (5, 100.0)
        kept = m.store.merge(ids[0], [ids[1]])
        assert kept is not None and (kept.access_count, kept.last_access) == (6, 100.0)
        assert m.store._q("SELECT count(*) FROM memory_access")[0][0] == 0
        m.store.record_access({ids[0]: (1, 200.0)})
        b = m.store.get(ids[0])
        assert b is not None and (b.access_count, b.last_access) == (7, 200.0)


def test_turns_of_in_a_search_follows_changes_by_another_worker(pg_server: Any) -> None:
    """Inside a search, ``turns_of`` keeps the searched user's answers until one of the
    user's memories changes: after archives, restores, deletes and adds through another
    worker it answers what the query answers, also for other users' episodes."""
    from remem.store.sql import SQLStore

    dsn = new_pg_database(pg_server)
    with Memory(dsn, embedder=HashingEmbedder()) as a, \
            Memory(dsn, embedder=HashingEmbedder()) as b:
        def turns(user: str, n: int, start: int = 0) -> tuple[list[str], list[str]]:
            res = b.add([{"role": "user", "content": f"turn {i} about the garden"}
                         for i in range(start, start + n)], user_id=user, session_id="s")
            return list(res.episode_ids), list(res.memory_ids)

        eps, mids = turns("u", 6)
        other, theirs = turns("v", 2)

        def check() -> None:
            asked = eps + other + ["no-such-episode"]
            with a.store.pinned("u"):
                got = a.store.turns_of(asked)
                again = a.store.turns_of(asked)  # from the cache
            assert got == again == SQLStore.turns_of(a.store, asked)

        check()
        b.archive(mids[0], user_id="u")
        check()
        b.archive(theirs[0], user_id="v")  # another user's change: u's version stays
        check()
        b.restore(mids[0], user_id="u")
        b.delete(mids[1], user_id="u")
        check()
        more, _ = turns("u", 2, 10)
        eps += more
        check()


def test_batched_writes_leave_what_sqlite_leaves(pg_server: Any, tmp_path: Any) -> None:
    """History rows and entity links go as one statement per write on PostgreSQL
    (``postgres.batch``): the history, in order, and the entity counts after adds, an
    update that changes who is mentioned, a merge, a supersede and a scope delete equal
    SQLite's."""
    import io
    import json

    def story(m: Memory) -> tuple[list[Any], list[Any]]:
        m.add([{"role": "user", "name": "Ana", "content": f"Ana went to {where} with {who}"}
               for who, where in [("Bruno", "Lisbon"), ("Chiara", "Porto"),
                                  ("Bruno", "Madrid"), ("Dmitri", "Rome")]],
              user_id="u", session_id="s1")
        m.add("Ana met Chiara in Paris", user_id="u", session_id="s2")
        ids = [r.id for r in sorted(m.store.list(Scope("u"), limit=50, offset=0, types=None),
                                    key=lambda r: r.text)]
        texts = {r.id: r.text for r in m.store.list(Scope("u"), limit=50, offset=0, types=None)}
        first = {t: i for i, t in texts.items()}
        m.update(first["Ana went to Lisbon with Bruno"], "Ana went to Lisbon with Ottoline")
        m.store.merge(first["Ana went to Porto with Chiara"], [first["Ana met Chiara in Paris"]])
        m.supersede(first["Ana went to Madrid with Bruno"], first["Ana went to Rome with Dmitri"])
        m.delete_all(user_id="u", session_id="s2")
        buf = io.StringIO()
        m.export(buf, user_id="u")
        by_id = {i: texts.get(i, "?") for i in ids}
        history = [(by_id.get(r["memory_id"], "?"), r["event"], r["old_text"], r["new_text"])
                   for r in map(json.loads, buf.getvalue().splitlines())
                   if r["kind"] == "history"]
        stats = sorted((k, n) for k, (_, n) in m.store.entity_stats("u").items())
        return history, stats

    with Memory(str(tmp_path / "m.db"), embedder=HashingEmbedder()) as lite, \
            Memory(new_pg_database(pg_server), embedder=HashingEmbedder()) as pg:
        expected = story(lite)
        assert story(pg) == expected
        assert ("ottoline", 1) in expected[1] and ("bruno", 1) in expected[1]
        assert len(expected[0]) > 10


def test_cache_reads_take_the_users_rows_only(pg_server: Any) -> None:
    """The search caches read a user's rows, whole or above a row id mark, through
    ``memories_user_rid`` also in the generic plan of a prepared statement (where
    ``rid > $n`` used to be ANDed in from the primary key: the row ids of every user)."""
    from remem.store.postgres import lexical, search

    dsn = new_pg_database(pg_server)
    with Memory(dsn, embedder=HashingEmbedder()) as m:
        for u in range(40):
            m.add([{"role": "user", "content": f"note {i} of user {u} about the garden"}
                   for i in range(50)], user_id=f"u{u}")
        with m.store._conn() as conn:
            conn.execute("ANALYZE memories")
            conn.execute("SET plan_cache_mode = force_generic_plan")
            for i, (sql, args) in enumerate([
                    (search._ROWS, ["u7", m.embedder.name, 0]),  # a first build
                    (search._ROWS, ["u7", m.embedder.name, 10**6]),  # rows added since
                    (lexical._ROWS.format(" AND rid > %s"), ["u7", 10**6])]):
                n = iter(range(1, 10))
                conn.execute(f"PREPARE q{i} AS " + re.sub("%s", lambda _: f"${next(n)}", sql))
                literal = ", ".join(repr(a) if isinstance(a, int) else f"'{a}'" for a in args)
                plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN EXECUTE q{i}({literal})"))
                assert "memories_user_rid" in plan and "memories_pkey" not in plan, plan
            conn.execute("DEALLOCATE ALL")
            conn.execute("RESET plan_cache_mode")
