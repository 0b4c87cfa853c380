"""No cold start: a large scope's search values are saved in the file and a fresh
process starts from them, brought up to date by the usual incremental path. What it
answers must equal what a store without saved values answers, after adds, updates,
deletes and archives made since the save."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remem import HashingEmbedder, Memory
from remem.search.terms import terms_of
from remem.store.lexicon import LexCache
from remem.store.sqlite import caches
from remem.types import Scope

QUERIES = ["guitar lessons", "trip to Lisbon", "dog", "birthday present for my sister"]
TOPICS = ["guitar lessons", "a trip to Lisbon", "my dog Pimenta", "a birthday present",
          "the marathon", "sourdough bread"]


def _answers(m: Memory) -> list[Any]:
    out: list[Any] = []
    for q in QUERIES:
        out.append([(h.text, round(h.score, 6)) for h in m.search(q, user_id="u", limit=8)])
        out.append(m.store.doc_freqs(Scope("u"), list(terms_of(q).terms)))
    return out


def test_saved_values_answer_like_fresh_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(caches, "SNAPSHOT_MIN", 50)
    path = tmp_path / "m.db"
    with Memory(path, embedder=HashingEmbedder()) as m:
        m.add([{"content": f"note {i} about {TOPICS[i % len(TOPICS)]}"} for i in range(120)],
              user_id="u")
        m.search("guitar", user_id="u")  # builds and saves
        kinds = {r[0] for r in m.store._q("SELECT kind FROM search_snapshots WHERE user_id='u'")}
        assert {"lexicon", "entities"} <= kinds and any(k.startswith("vectors:") for k in kinds)
        # changes after the save: the next process must see them
        ids = [r.id for r in m.get_all(user_id="u", limit=5)]
        m.update(ids[0], "a brand new note about guitar lessons in Lisbon")
        m.delete(ids[1])
        m.store.set_status([ids[2]], "archived")
        m.add([{"content": "one more note about my dog"}], user_id="u")
    loaded: list[int] = []
    real = LexCache.from_bytes
    monkeypatch.setattr(LexCache, "from_bytes", staticmethod(
        lambda b: loaded.append(1) or real(b)))
    with Memory(path, embedder=HashingEmbedder()) as m:
        warm = _answers(m)
    assert loaded, "the saved index was not used"
    with Memory(path, embedder=HashingEmbedder()) as m:
        m.store._db.execute("DELETE FROM search_snapshots")
        cold = _answers(m)
    assert warm == cold


def test_a_corrupt_snapshot_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(caches, "SNAPSHOT_MIN", 20)
    path = tmp_path / "m.db"
    with Memory(path, embedder=HashingEmbedder()) as m:
        m.add([{"content": f"note {i} about {TOPICS[i % len(TOPICS)]}"} for i in range(40)],
              user_id="u")
        before = _answers(m)
        m.store._db.execute("UPDATE search_snapshots SET data = x'00'")
    with Memory(path, embedder=HashingEmbedder()) as m:
        assert _answers(m) == before
