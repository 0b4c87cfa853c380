"""A store written by an older remem opens, migrates and keeps everything: here a schema-3
store (float16 vectors inside the memories table) moving to schema 4 (int8 vectors in
their own table)."""

from __future__ import annotations

import io
import json
import sqlite3

import numpy as np

from remem import HashingEmbedder, Memory
from remem.store import _sqlite_schema


def test_schema_3_store_migrates_to_separate_int8_vectors(tmp_path) -> None:  # noqa: ANN001
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
        db.execute("UPDATE remem_meta SET value='3' WHERE key='schema_version'")
    with Memory(path, embedder=emb) as m:  # opens at schema 3, migrates to the latest
        with sqlite3.connect(path) as db:
            version = int(db.execute("SELECT value FROM remem_meta WHERE key='schema_version'")
                          .fetchone()[0])
            cols = [r[1] for r in db.execute("PRAGMA table_info(memories)")]
            n_vectors = db.execute("SELECT count(*) FROM vectors").fetchone()[0]
        assert version == len(_sqlite_schema.MIGRATIONS) and "embedding" not in cols
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
