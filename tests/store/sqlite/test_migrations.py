"""A store written by an older remem opens, migrates and keeps everything: a schema-3 store
(float16 vectors inside the memories table) moving to schema 4 (int8 vectors in their own
table), and a schema-4 store (FTS5 lexical index) moving to schema 5 (lexical search in
memory, no FTS table, no scope-key column) -- also on SQLite without DROP COLUMN."""

from __future__ import annotations

import io
import json
import sqlite3

import numpy as np
import pytest

from remem import HashingEmbedder, Memory
from remem.store.sqlite import schema as _sqlite_schema


def _add_fts(db: sqlite3.Connection) -> None:
    """Put back what schema 4 had for lexical search: the scope-key column, the FTS5 table
    (filled) and its triggers."""
    db.execute("ALTER TABLE memories ADD COLUMN scope_key TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE memories ADD COLUMN content_hash TEXT NOT NULL DEFAULT ''")
    db.execute("UPDATE memories SET scope_key = 'u' || hex(user_id)")
    db.execute("CREATE VIRTUAL TABLE memories_fts USING fts5(scope_key, text, keys, "
               "content='memories', content_rowid='rowid', "
               "tokenize='porter unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')")
    db.execute("CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN INSERT INTO "
               "memories_fts(rowid, scope_key, text, keys) VALUES (new.rowid, new.scope_key, "
               "new.text, new.keys); END")
    db.execute("CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN INSERT INTO "
               "memories_fts(memories_fts, rowid, scope_key, text, keys) VALUES ('delete', "
               "old.rowid, old.scope_key, old.text, old.keys); END")


@pytest.mark.parametrize("drop_column", [True, False])
def test_schema_4_store_migrates_to_in_memory_lexical_search(tmp_path, monkeypatch,  # noqa: ANN001
                                                             drop_column: bool) -> None:
    path = tmp_path / "old.db"
    emb = HashingEmbedder()
    with Memory(path, embedder=emb) as m:
        m.add([{"role": "user", "name": "Ana", "id": "t1", "content": "I adopted a dog named Pimenta."},
               {"role": "user", "name": "Max", "id": "t2", "content": "We went hiking in Sintra."}],
              user_id="ana", session_id="s1")
        m.add("Bob likes sailing.", user_id="bob")
        before = {u: [(h.id, h.text) for h in m.search("dog hiking sailing", user_id=u)]
                  for u in ("ana", "bob")}
    with sqlite3.connect(path) as db:
        _add_fts(db)
        db.execute("UPDATE remem_meta SET value='4' WHERE key='schema_version'")
        n_memories = db.execute("SELECT count(*) FROM memories").fetchone()[0]
    if not drop_column:  # take the path for SQLite < 3.35 (the table is copied)
        monkeypatch.setattr(_sqlite_schema.sqlite3, "sqlite_version_info", (3, 34, 1))
    with Memory(path, embedder=emb) as m:
        with sqlite3.connect(path) as db:
            cols = [r[1] for r in db.execute("PRAGMA table_info(memories)")]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_schema")}
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("SELECT count(*) FROM memories").fetchone()[0] == n_memories
        assert not {"scope_key", "content_hash"} & set(cols)
        assert not {t for t in tables if "fts" in t}
        assert {"memories_scope", "memories_ad_vectors", "memories_ad_entities"} <= tables
        assert {u: [(h.id, h.text) for h in m.search("dog hiking sailing", user_id=u)]
                for u in ("ana", "bob")} == before
        gone = before["ana"][0][0]
        m.delete(gone)  # triggers survived the copy: the vector and entity rows go too
        m.add("Ana also adopted a cat.", user_id="ana")
        hits = [h.text for h in m.search("adopted", user_id="ana")]
        assert "Ana also adopted a cat." in hits and gone not in {h.id for h in m.search(
            "dog hiking sailing", user_id="ana")}
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM vectors WHERE memory_rowid NOT IN "
                              "(SELECT rowid FROM memories)").fetchone()[0] == 0


@pytest.mark.parametrize("drop_column", [True, False])
def test_schema_3_store_migrates_to_separate_int8_vectors(tmp_path, monkeypatch,  # noqa: ANN001
                                                         drop_column: bool) -> None:
    path = tmp_path / "old.db"
    emb = HashingEmbedder()
    with Memory(path, embedder=emb) as m:  # write with today's code, then rewind the schema
        m.add([{"role": "user", "name": "Ana", "id": "t1", "content": "I adopted a dog named Pimenta."},
               {"role": "user", "name": "Max", "id": "t2", "content": "We went hiking in Sintra."}],
              user_id="ana")
        before = {h.id: h.text for h in m.search("dog Pimenta", user_id="ana")}
        buf = io.StringIO()
        m.export(buf)
    exported = {r["id"]: r["embedding"] for r in map(json.loads, buf.getvalue().splitlines()[1:])
                if r["kind"] == "memory"}
    with sqlite3.connect(path) as db:  # what schema 3 looked like: float16 blobs in memories
        db.execute("ALTER TABLE memories ADD COLUMN embedding BLOB")
        for rowid, data in db.execute("SELECT memory_rowid, data FROM vectors").fetchall():
            scale = np.frombuffer(data, np.float32, count=1)[0]
            vec = (np.frombuffer(data, np.int8, offset=4).astype(np.float32) * scale)
            db.execute("UPDATE memories SET embedding=? WHERE rowid=?",
                       (vec.astype(np.float16).tobytes(), rowid))
        db.execute("DROP TRIGGER memories_ad_vectors")
        db.execute("DROP TABLE vectors")
        _add_fts(db)
        db.execute("UPDATE remem_meta SET value='3' WHERE key='schema_version'")
    if not drop_column:  # SQLite < 3.35: migrations 4 and 5 copy the table instead
        monkeypatch.setattr(_sqlite_schema.sqlite3, "sqlite_version_info", (3, 34, 1))
    with Memory(path, embedder=emb) as m:  # opens at schema 3, migrates to the latest
        with sqlite3.connect(path) as db:
            version = int(db.execute("SELECT value FROM remem_meta WHERE key='schema_version'")
                          .fetchone()[0])
            cols = [r[1] for r in db.execute("PRAGMA table_info(memories)")]
            n_vectors = db.execute("SELECT count(*) FROM vectors").fetchone()[0]
        assert version == len(_sqlite_schema.MIGRATIONS) and "embedding" not in cols
        assert "scope_key" not in cols and "content_hash" not in cols
        assert n_vectors == len(exported)
        assert {h.id: h.text for h in m.search("dog Pimenta", user_id="ana")} == before
        buf = io.StringIO()
        m.export(buf)
        again = {r["id"]: r["embedding"] for r in map(json.loads, buf.getvalue().splitlines()[1:])
                 if r["kind"] == "memory"}
        assert again == exported  # the same vectors, bit for bit, through the migration
        m.delete(next(iter(before)))  # the delete trigger cleans the new table too
        with sqlite3.connect(path) as db:
            left = db.execute("SELECT count(*) FROM vectors").fetchone()[0]
            rows = db.execute("SELECT count(*) FROM memories").fetchone()[0]
            orphans = db.execute("SELECT count(*) FROM vectors WHERE memory_rowid NOT IN "
                                 "(SELECT rowid FROM memories)").fetchone()[0]
        assert left == rows < n_vectors and orphans == 0
