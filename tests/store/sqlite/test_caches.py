"""The SQLite store's in-memory search caches (BM25 index, vectors, scope size, entity
counts, speakers, parsed records) are brought up to date incrementally after adds and rebuilt
after changes, also when another connection (another process) writes: a long-lived
reader must always see exactly what a fresh one sees."""

from __future__ import annotations

import numpy as np
import pytest

from remem import HashingEmbedder, InvalidInput, Memory
from remem.search.terms import terms_of
from remem.types import Scope


def snapshot(m: Memory, user: str = "ana") -> dict:  # noqa: ANN001
    s = m.store
    ids, matrix = s.vectors(Scope(user), m.embedder.name)
    order = np.argsort(ids)
    return {"size": s.scope_size(user), "speakers": sorted(s.speakers(user)),
            "entities": dict(sorted(s.entity_stats(user).items())),
            "ids": sorted(ids), "matrix": np.round(matrix[order], 6).tolist(),
            "lexical": {q: sorted((i, round(v, 9)) for i, v in s.lexical(Scope(user), terms_of(q), 500))
                        for q in ("Visit Porto Bruno", "Ana stayed home in Lisbon", "Carla 7")}}


def test_long_lived_reader_matches_a_fresh_one_through_adds_and_changes(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "c.db"
    emb = HashingEmbedder()
    with Memory(path, embedder=emb) as reader, Memory(path, embedder=emb) as writer:
        writer.add([{"role": "user", "name": "Ana", "content": "I met Bruno in Lisbon."}],
                   user_id="ana")
        reader.search("Bruno", user_id="ana")  # builds every cache
        for i in range(150):  # many small adds from the other connection: incremental path
            who = ["Ana", "Max", f"Guest{i % 7}"][i % 3]
            writer.add([{"role": "user", "name": who, "id": f"t{i}",
                         "content": f"Visit {i}: {who} went to Porto with Bruno and Carla."}],
                       user_id="ana")
            if i % 10 == 0:
                hits = reader.search(f"Visit {i} Porto", user_id="ana", limit=50)
                assert any(f"Visit {i}:" in h.text for h in hits)  # the newest add is found
        with Memory(path, embedder=emb) as fresh:
            assert snapshot(reader) == snapshot(fresh)
        assert "Guest6" in reader.store.speakers("ana")
        assert reader.store.entity_stats("ana")["bruno"][1] == 151
        # a change (not an add) from the other connection: everything recomputed
        victim = next(h for h in reader.search("Visit 3:", user_id="ana") if "Visit 3:" in h.text)
        writer.delete(victim.id)
        archived = next(h.id for h in reader.search("Visit 4:", user_id="ana")
                        if "Visit 4:" in h.text)
        writer.archive(archived)
        with Memory(path, embedder=emb) as fresh:
            assert snapshot(reader) == snapshot(fresh)
        assert victim.id not in {h.id for h in reader.search("Visit 3 Porto", user_id="ana",
                                                             limit=100)}
        # records cached before an update are not served stale
        target = next(h for h in reader.search("Visit 5:", user_id="ana") if "Visit 5:" in h.text)
        writer.update(target.id, "Visit 5: Ana stayed home in Lisbon.")
        again = {h.id: h.text for h in reader.search("Visit 5", user_id="ana", limit=100)}
        assert again.get(target.id) == "Visit 5: Ana stayed home in Lisbon."
        with Memory(path, embedder=emb) as fresh:
            assert snapshot(reader) == snapshot(fresh)
        # restored from the archive: back in every index
        writer.restore(archived)
        assert any(h.text.startswith("Visit 4:") for h in reader.search("Visit 4 Porto",
                                                                       user_id="ana"))
        with Memory(path, embedder=emb) as fresh:
            assert snapshot(reader) == snapshot(fresh)
        # many removals at once: the reader's index is rebuilt rather than patched
        for item in writer.get_all(user_id="ana", limit=1000)[:80]:
            writer.delete(item.id)
        with Memory(path, embedder=emb) as fresh:
            assert snapshot(reader) == snapshot(fresh)
        assert reader.store._lexicon("ana").index.dead == 0


def test_least_recently_searched_users_leave_the_cache_beyond_its_budget(tmp_path) -> None:  # noqa: ANN001
    from remem.store.sqlite import SQLiteStore

    with Memory(store=SQLiteStore(tmp_path / "b.db", cache_memories=25),
                embedder=HashingEmbedder()) as m:
        for user in ("ana", "bob", "cy"):
            m.add([f"{user} note {i} about rivers" for i in range(10)], user_id=user)
        for user in ("ana", "bob"):
            assert m.search("rivers", user_id=user)
        assert set(m.store._lexicons) == {"ana", "bob"}
        m.search("rivers", user_id="cy")  # 3 x 10 > 25: ana (least recent) goes
        assert set(m.store._lexicons) == set(m.store._cache) == {"bob", "cy"}
        hits = m.search("note 3 rivers", user_id="ana")  # rebuilt on demand, same answers
        assert hits and all(h.text.startswith("ana note") for h in hits)
        assert set(m.store._lexicons) == {"ana", "cy"}
    with pytest.raises(InvalidInput, match="cache_memories"):
        SQLiteStore(tmp_path / "c.db", cache_memories=-1)


def test_a_users_caches_read_only_that_users_rows(tmp_path) -> None:  # noqa: ANN001
    """In a file shared by many users, building a user's caches (first search) and
    bringing them up to date (after other users' adds) reads that user's rows through an
    index, never a walk over the memories table: in a 1M-memory file a user's first
    search once read the whole table for its vectors (~245 ms)."""
    import sqlite3

    path = tmp_path / "many.db"
    emb = HashingEmbedder()
    with Memory(path, embedder=emb) as m:
        for u in range(5):
            m.add([{"name": "Ana", "content": f"user {u} note {i} about Lisbon and Bruno"}
                   for i in range(40)], user_id=f"u{u}")
        statements: list[str] = []
        m.store._db.set_trace_callback(statements.append)
        m.search("Lisbon Bruno", user_id="u3")  # builds every cache of u3
        for u in range(5):  # other users' rows above u3's marks
            m.add([{"name": "Ana", "content": f"later note about Porto from {u}"}], user_id=f"u{u}")
        hits = m.search("Porto", user_id="u3")  # brings them up to date
        m.store._db.set_trace_callback(None)
    assert any("Porto" in h.text for h in hits)
    db = sqlite3.connect(path)
    reads = [s for s in dict.fromkeys(statements) if s.lstrip().upper().startswith("SELECT")
             and " memories" in s and "user_id='u3'" in s]
    assert any("rowid >" in s for s in reads), "the update path was not exercised"
    for s in reads:
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + s)]
        on_memories = [p for p in plan if p.split()[:2] in (["SCAN", "m"], ["SEARCH", "m"],
                                                            ["SCAN", "memories"],
                                                            ["SEARCH", "memories"])]
        # the user's index range, or single rows found from the user's entities; a rowid
        # range over every user's rows ("PRIMARY KEY (rowid>?)") or a scan fails
        assert on_memories and all("(user_id=?" in p or p.endswith("(rowid=?)")
                                   for p in on_memories), (s, plan)
