"""Rules of the store seam (``remem.store.protocol``), checked on every backend by calling
the store itself: what the ``Memory`` tests cannot see (entity rows, history details,
exact return values)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from remem.types import Episode, MemoryRecord, Scope

DIM = 8


def _episode(i: str, scope: Scope, text: str, seq: int = 0) -> Episode:
    return Episode(id=f"e-{i}", scope=scope, role="user", content=text, name="Ana",
                   source_id=f"s-{i}", timestamp=1.7e9 + seq, seq=seq)


def _memory(i: str, scope: Scope, text: str, *, entities: tuple[str, ...] = (),
            type: str = "turn", episode: str | None = None) -> MemoryRecord:
    now = time.time()
    return MemoryRecord(id=f"m-{i}", scope=scope, text=text, type=type,
                        source_ids=(f"s-{i}",), episode_ids=(episode or f"e-{i}",),
                        created_at=now, updated_at=now, event_time=1.7e9, speaker="Ana",
                        entities=entities)


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _add(store: Any, scope: Scope, texts: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    eps = [_episode(i, scope, t, n) for n, (i, (t, _)) in enumerate(texts.items())]
    mems = [_memory(i, scope, t, entities=e) for i, (t, e) in texts.items()]
    store.add(eps, mems, _vectors(len(mems)), "test-model")


def test_delete_scope_removes_the_users_entities(store: Any) -> None:
    ana, bob = Scope("ana", session_id="s1"), Scope("bob")
    _add(store, ana, {"1": ("Lisbon trip with Max", ("Lisbon", "Max"))})
    _add(store, Scope("ana", session_id="s2"), {"2": ("Max again", ("Max",))})
    _add(store, bob, {"3": ("Bob in Lisbon", ("Lisbon",))})
    ids = {k: i for k, (i, _) in store.entity_stats("ana").items()}
    assert set(ids) == {"lisbon", "max"}

    # a session goes: the entity only it mentioned goes with it, the shared one stays
    assert store.delete_scope(ana) == 1
    assert store.entity_detail("ana", ids["lisbon"], 10, 0) is None
    assert store.entity_detail("ana", ids["max"], 10, 0) is not None
    # the whole user goes: none of the user's entities is left; other users keep theirs
    assert store.delete_scope(Scope("ana")) == 1
    assert store.entity_detail("ana", ids["max"], 10, 0) is None
    assert store.entity_list("ana", None, 10, 0) == ([], 0)
    assert set(store.entity_stats("bob")) == {"lisbon"}
