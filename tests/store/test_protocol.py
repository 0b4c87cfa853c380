"""Rules of the store seam (``remem.store.protocol``), checked on every backend by calling
the store itself: what the ``Memory`` tests cannot see (entity rows, history details,
exact return values)."""

from __future__ import annotations

import dataclasses
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


def test_backends_implement_the_protocol(store: Any) -> None:
    """Every method of every role, with the protocol's parameters (names and kinds)."""
    import inspect

    from remem.store.protocol import CandidateStore, InspectStore, RecordStore

    for role in (RecordStore, CandidateStore, InspectStore):
        for name, fn in vars(role).items():
            if name.startswith("_") or not callable(fn):
                continue
            want = [(p.name, p.kind) for p in inspect.signature(fn).parameters.values()][1:]
            got = [(p.name, p.kind) for p in inspect.signature(getattr(store, name)).parameters.values()]
            assert got == want, f"{type(store).__name__}.{name}"
    assert isinstance(store.path, str)


def test_lexical_and_doc_freqs(store: Any) -> None:
    from remem.search.terms import terms_of

    scope = Scope("ana")
    _add(store, scope, {str(i): (f"common words {'zebra' if i == 3 else 'x'} {i}", ())
                        for i in range(6)})
    hits = store.lexical(scope, terms_of("zebra"), 5)
    assert [i for i, _ in hits] == ["m-3"] and hits[0][1] > 0
    assert store.lexical(scope, terms_of("zebra"), 5, allowed={"m-1"}) == []
    assert store.lexical(Scope("bob"), terms_of("zebra"), 5) == []
    assert len(store.lexical(scope, terms_of("common"), 3)) == 3
    n, dfs = store.doc_freqs(scope, ["common", "zebra"])
    assert (n, dfs) in ((6, {"common": 6, "zebra": 1}), (0, {}))  # (0, {}): no statistics


def test_fetch_is_ordered_and_confined_to_the_user(store: Any) -> None:
    _add(store, Scope("ana"), {"1": ("one", ()), "2": ("two", ())})
    _add(store, Scope("bob"), {"3": ("three", ())})
    assert [r.id for r in store.fetch(["m-2", "m-x", "m-1", "m-3"])] == ["m-2", "m-1", "m-3"]
    assert [r.id for r in store.fetch(["m-3", "m-1"], "ana")] == ["m-1"]
    assert store.fetch([]) == []


def test_lifecycle_writes_and_their_history(store: Any) -> None:
    scope = Scope("ana")
    _add(store, scope, {"1": ("Ana lives in Lisbon", ()), "2": ("Ana lives in Porto", ()),
                        "3": ("Ana lives in Porto now", ())})
    assert store.set_status(["m-1", "m-1", "m-x"], "archived", reason="old") == ["m-1"]
    assert store.set_status(["m-1"], "archived") == []
    assert store.count(scope) == 2 and store.get("m-1").status == "archived"
    assert store.set_status(["m-1"], "active") == ["m-1"]
    kept = store.merge("m-3", ["m-2", "m-x"])
    assert kept is not None and kept.source_ids == ("s-3", "s-2") and store.get("m-2") is None
    old, new = store.supersede("m-1", "m-3", at=1.8e9)
    assert old.superseded_by == "m-3" and old.valid_to == 1.8e9 and new.valid_from == 1.8e9
    events = [(h.event, h.detail) for h in store.history("m-1")]
    assert events[:3] == [("ADD", {}), ("ARCHIVE", {"reason": "old"}), ("RESTORE", {})]
    assert events[3] == ("SUPERSEDE", {"superseded_by": "m-3", "valid_to": 1.8e9})
    assert store.history("m-2")[-1].detail == {"into": "m-3", "source_ids": ["s-2"]}
    store.record_access({"m-3": (2, 1.9e9)})
    assert (store.get("m-3").access_count, store.get("m-3").last_access) == (2, 1.9e9)
    assert store.user_ids() == ["ana"]


def test_export_import_round_trip_between_backends(store: Any, tmp_path: Any) -> None:
    from remem.store.sqlite import SQLiteStore

    _add(store, Scope("ana", session_id="s"), {"1": ("Lisbon trip", ("Lisbon",)),
                                              "2": ("dog", ())})
    store.delete("m-2", actor="test", detail={"why": "x"})
    records = list(store.export_records("ana"))
    assert [r["kind"] for r in records] == ["episode", "episode", "memory", "history",
                                            "history", "history"]
    other = SQLiteStore(tmp_path / "copy.db")
    try:
        assert other.import_records(records) == {"episodes": 2, "memories": 1, "history": 3,
                                                 "skipped": 0}
        assert other.import_records(records)["skipped"] == 6
        back = list(other.export_records("ana"))
        # SQLite keeps int8 vectors: the same up to rounding, exact from an SQLite export
        strip = [{k: v for k, v in r.items() if k != "embedding"} for r in back]
        assert strip == [{k: v for k, v in r.items() if k != "embedding"} for r in records]
        if isinstance(store, SQLiteStore):
            assert back == records
        assert set(other.entity_stats("ana")) == {"lisbon"}
    finally:
        other.close()


def test_filter_ids(store: Any) -> None:
    scope = Scope("ana")
    eps = [_episode(str(i), scope, f"t{i}", i) for i in range(3)]
    mems = [dataclasses.replace(_memory(str(i), scope, f"t{i}"), metadata=md)
            for i, md in enumerate([{"flag": True, "n": 1}, {"flag": False}, {"tag": "a"}])]
    store.add(eps, mems, None, "test-model")
    assert store.filter_ids(scope, {"flag": True}) == {"m-0"}
    assert store.filter_ids(scope, {"flag": 0}) == {"m-1"}
    assert store.filter_ids(scope, {"tag": ["a", "b"], "type": "turn"}) == {"m-2"}
    assert store.filter_ids(Scope("bob"), {"tag": "a"}) == set()
