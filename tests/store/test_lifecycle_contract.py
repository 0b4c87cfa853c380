"""The memory lifecycle contract, through the public ``Memory`` API, on every backend:
archive/restore, supersede and ``search(as_of=...)``, maintenance (near-duplicate merge,
summaries, profiles, forgetting), access counts, and lifecycle state moving between
backends by export/import."""

from __future__ import annotations

import base64
import io
import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from remem import HashingEmbedder, InvalidInput, Memory, NotFound
from remem.config import ForgetPolicy, MaintainConfig

from .conftest import new_pg_database

Open = Callable[..., Memory]
DAY = 86400.0
T0 = datetime(2023, 3, 1, 10, 0, tzinfo=timezone.utc).timestamp()
ONLY_DEDUPE = MaintainConfig(summaries=False, profiles=False)

CHAT = [
    ("Ana", "I finally adopted a border collie and named her Pimenta."),
    ("Max", "That is wonderful, how old is Pimenta?"),
    ("Ana", "Pimenta is two years old and loves the beach in Cascais."),
    ("Max", "I went hiking in Sintra with my sister last weekend."),
    ("Ana", "Sintra is beautiful, did you see the Pena palace?"),
    ("Max", "Yes, and we had pastries in Sintra afterwards."),
]


def add_chat(m: Memory, user: str = "ana", session: str = "s1", when: float = T0,
             ids: bool = True) -> list[str]:
    msgs = [{"role": "user", "name": who, "content": text,
             **({"id": f"{session}-{i}"} if ids else {})} for i, (who, text) in enumerate(CHAT)]
    return list(m.add(msgs, user_id=user, session_id=session, timestamp=when).memory_ids)


def turns(m: Memory, user: str = "ana") -> list[Any]:
    return [i for i in m.get_all(user_id=user, limit=1000) if i.type == "turn"]


def events(m: Memory, memory_id: str) -> list[str]:
    return [h.event for h in m.history(memory_id)]


def export(m: Memory, user_id: str | None = None) -> list[dict[str, Any]]:
    buf = io.StringIO()
    m.export(buf, user_id=user_id)
    return [json.loads(line) for line in buf.getvalue().splitlines()[1:]]


def without_vector(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "embedding"}


def vector(r: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(r["embedding"]), np.float16).astype(np.float32)


def search_ids(m: Memory, query: str, **kw: Any) -> set[str]:
    return {h.id for h in m.search(query, **kw)}


# -- archive / restore ---------------------------------------------------------------
def test_archive_restore(mem: Memory) -> None:
    add_chat(mem)
    target = next(h for h in mem.search("border collie Pimenta", user_id="ana")
                  if "adopted" in h.text)
    count = mem.count(user_id="ana")
    item = mem.archive(target.id, user_id="ana", reason="user asked")
    assert item.status == "archived" and mem.get(target.id).status == "archived"  # kept
    assert target.id not in search_ids(mem, "border collie Pimenta", user_id="ana")
    assert target.id not in {i.id for i in mem.get_all(user_id="ana", limit=1000)}
    assert mem.count(user_id="ana") == count - 1
    hist = mem.history(target.id)
    assert [h.event for h in hist] == ["ADD", "ARCHIVE"]
    assert hist[-1].detail == {"reason": "user asked"} and hist[-1].actor == "api"
    assert hist[-1].old_text == hist[-1].new_text == target.text
    mem.archive(target.id, user_id="ana")  # already archived: no second entry
    assert events(mem, target.id) == ["ADD", "ARCHIVE"]
    assert mem.restore(target.id, user_id="ana").status == "active"
    assert target.id in search_ids(mem, "border collie Pimenta", user_id="ana")
    assert mem.count(user_id="ana") == count
    assert events(mem, target.id) == ["ADD", "ARCHIVE", "RESTORE"]
    assert mem.history(target.id)[-1].detail == {}
    with pytest.raises(NotFound):
        mem.archive(target.id, user_id="bob")
    with pytest.raises(InvalidInput):
        mem.store.set_status([target.id], "deleted")


# -- supersede and time travel -------------------------------------------------------
def test_supersede_and_as_of(mem: Memory) -> None:
    old = mem.add("I live in Lisbon near the river", user_id="ana",
                  timestamp="2023-01-10T09:00:00Z").memory_ids[0]
    new = mem.add("I live in Porto now, near the river", user_id="ana",
                  timestamp="2024-06-01T09:00:00Z").memory_ids[0]
    bob = mem.add("I live in Faro near the river", user_id="bob").memory_ids[0]
    q = "where do I live river"
    assert {old, new} <= search_ids(mem, q, user_id="ana")
    item = mem.supersede(old, new, user_id="ana")
    switch = datetime(2024, 6, 1, 9, tzinfo=timezone.utc)
    assert item.superseded_by == new and item.valid_to == switch
    assert mem.get(new).valid_from == switch and mem.get(new).superseded_by is None
    now = search_ids(mem, q, user_id="ana")
    assert new in now and old not in now
    then = search_ids(mem, q, user_id="ana", as_of="2023-06-01")
    assert old in then and new not in then
    later = search_ids(mem, q, user_id="ana", as_of=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert new in later and old not in later
    h_old, h_new = mem.history(old)[-1], mem.history(new)[-1]
    assert h_old.event == h_new.event == "SUPERSEDE"
    assert h_old.detail == {"superseded_by": new, "valid_to": switch.timestamp()}
    assert h_new.detail == {"supersedes": old, "valid_from": switch.timestamp()}
    with pytest.raises(InvalidInput, match="already superseded"):
        mem.supersede(old, new, user_id="ana")
    with pytest.raises(InvalidInput, match="itself"):
        mem.supersede(new, new, user_id="ana")
    with pytest.raises(InvalidInput, match="one user"):
        mem.supersede(new, bob)
    assert events(mem, old) == ["ADD", "SUPERSEDE"] and events(mem, bob) == ["ADD"]
    assert mem.get(bob).valid_to is None


def test_supersede_at_an_explicit_time(mem: Memory) -> None:
    old = mem.add("My favourite band is Radiohead", user_id="ana",
                  timestamp="2020-01-01T00:00:00Z").memory_ids[0]
    new = mem.add("My favourite band is Portishead", user_id="ana",
                  timestamp="2024-01-01T00:00:00Z").memory_ids[0]
    mem.supersede(old, new, user_id="ana", at="2022-01-01T00:00:00Z")
    q = "favourite band"
    assert search_ids(mem, q, user_id="ana", as_of="2021-06-01") == {old}
    assert search_ids(mem, q, user_id="ana", as_of="2023-06-01") == {new}


# -- maintenance: merge --------------------------------------------------------------
def test_maintain_merges_a_conversation_ingested_twice(mem: Memory) -> None:
    add_chat(mem, ids=False)
    add_chat(mem, ids=False, when=T0 + 3600)  # the same conversation ingested twice
    bob_ids = add_chat(mem, user="bob", ids=False)  # another user's copy stays apart
    before = turns(mem)
    assert len(before) == 12 and len({s for i in before for s in i.source_ids}) == 12
    episodes = sum(r["kind"] == "episode" for r in export(mem))
    report = mem.maintain(config=ONLY_DEDUPE)
    assert report.merged == 6 and report.users == 2 and not report.errors
    kept = turns(mem)
    assert len(kept) == 6
    assert all(len(i.source_ids) == 2 for i in kept)  # provenance union of both copies
    assert {s for i in kept for s in i.source_ids} == {s for i in before for s in i.source_ids}
    assert sum(r["kind"] == "episode" for r in export(mem)) == episodes  # raw turns kept
    for item in kept:
        merged = mem.history(item.id)[-1]
        assert merged.event == "MERGE" and merged.actor == "maintain"
        assert len(merged.detail["merged"]) == 1 and len(merged.detail["source_ids"]) == 1
        gone = merged.detail["merged"][0]
        dropped = mem.history(gone)
        assert [h.event for h in dropped] == ["ADD", "MERGE"]
        assert dropped[-1].detail["into"] == item.id and dropped[-1].new_text is None
        assert dropped[-1].detail["source_ids"] == merged.detail["source_ids"]
        with pytest.raises(NotFound):
            mem.get(gone)
    # bob's identical copy is untouched
    assert sorted(i.id for i in turns(mem, "bob")) == sorted(
        i for i in bob_ids if mem.get(i).type == "turn")
    assert all(events(mem, i) == ["ADD"] for i in bob_ids)
    hits = mem.search("border collie Pimenta", user_id="ana")
    assert hits and len(hits[0].source_ids) == 2
    assert mem.maintain(config=ONLY_DEDUPE).merged == 0  # nothing left to merge


def test_merge_store_semantics(mem: Memory) -> None:
    """The store's merge directly: idempotent, one user only, None for a missing keep."""
    a = add_chat(mem, ids=False)
    b = add_chat(mem, ids=False, when=T0 + 60)
    other = add_chat(mem, user="bob", ids=False)
    store = mem.store
    rec = store.merge(a[0], [b[0], b[0], a[0], "nope"], actor="test")
    assert rec is not None and rec.id == a[0] and len(rec.source_ids) == 2
    assert len(rec.episode_ids) == 2
    assert store.merge(a[0], [b[0]]) == rec  # already folded: unchanged, no new history
    assert events(mem, a[0]) == ["ADD", "MERGE"] and mem.history(a[0])[-1].actor == "test"
    assert store.merge("nope", [a[1]]) is None
    assert mem.get(a[1]).status == "active"
    with pytest.raises(InvalidInput, match="one user"):
        store.merge(a[1], [other[1]])
    assert events(mem, other[1]) == ["ADD"] and events(mem, a[1]) == ["ADD"]  # rolled back


def test_concurrent_maintain_never_merges_twice(open_store: Open) -> None:
    """Two workers maintaining the same user at once: each duplicate is folded exactly
    once (one MERGE on each side), whoever gets there first."""
    seed = open_store()
    for k in range(3):
        add_chat(seed, ids=False, when=T0 + k * 60)
    dupes = [i.id for i in turns(seed)]
    assert len(dupes) == 18
    workers = [open_store(), open_store()]
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def work(m: Memory) -> None:
        try:
            barrier.wait()
            m.maintain("ana", config=ONLY_DEDUPE)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(m,)) for m in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    kept = turns(seed)
    assert len(kept) == 6 and all(len(i.source_ids) == 3 for i in kept)
    merges = {d: [h for h in seed.history(d) if h.event == "MERGE"] for d in dupes}
    dropped = [d for d in dupes if d not in {i.id for i in kept}]
    assert len(dropped) == 12 and all(len(merges[d]) == 1 for d in dropped)
    folded = [x for i in kept for h in merges[i.id] for x in h.detail["merged"]]
    assert sorted(folded) == sorted(dropped)  # each folded once, into one memory


# -- maintenance: summaries and profiles ---------------------------------------------
def test_summaries_and_profiles(mem: Memory) -> None:
    add_chat(mem, session="s1")
    add_chat(mem, session="s2", when=T0 + 7 * DAY)
    keep_all = MaintainConfig(dedupe=False)
    report = mem.maintain("ana", config=keep_all)
    assert report.summaries == 2 and report.profiles >= 2
    sums = mem.summaries(user_id="ana")
    assert [s.session_id for s in sums] == ["s1", "s2"]
    assert all(s.type == "summary" and s.text.startswith("Summary of 6 turns") for s in sums)
    assert set(sums[0].source_ids) <= {f"s1-{i}" for i in range(6)} and sums[0].source_ids
    assert [s.id for s in mem.summaries(user_id="ana", session_id="s2")] == [sums[1].id]
    profiles = {p.metadata["profile_of"]: p for p in mem.summaries(user_id="ana", kind="profile")}
    assert {"sintra", "pimenta"} <= set(profiles) and "Sintra" in profiles["sintra"].text
    assert mem.history(sums[0].id)[0].actor == "maintain" and events(mem, sums[0].id) == ["ADD"]
    assert mem.summaries(user_id="bob") == []
    assert all(h.type == "turn" for h in mem.search("Sintra Pena palace", user_id="ana", limit=50))
    again = mem.maintain("ana", config=keep_all)
    assert again.summaries == 0 and again.profiles == 0
    mem.add([{"role": "user", "name": "Max", "content": "Sintra again next month?", "id": "s1-9"}],
            user_id="ana", session_id="s1", timestamp=T0 + DAY)
    assert mem.maintain("ana", config=keep_all).summaries == 1
    fresh = mem.summaries(user_id="ana", session_id="s1")
    assert len(fresh) == 1 and fresh[0].text.startswith("Summary of 7 turns")
    assert mem.history(sums[0].id)[-1].event == "DELETE"
    assert mem.history(sums[0].id)[-1].detail == {"replaced_by": fresh[0].id}
    with pytest.raises(InvalidInput):
        mem.summaries(user_id="ana", kind="turn")


# -- access counts and forgetting ----------------------------------------------------
def test_searches_are_counted_as_accesses(open_store: Open) -> None:
    m = open_store()
    ids = add_chat(m)
    hiking = next(i for i in ids if "hiking" in m.get(i).text)
    for _ in range(5):
        assert m.search("hiking in Sintra with my sister", user_id="ana", limit=1)[0].id == hiking
    m.close()  # flushes the pending access counts
    rows = {r["id"]: r for r in export(open_store()) if r["kind"] == "memory"}
    assert rows[hiking]["access_count"] == 5 and rows[hiking]["last_access"] > T0
    assert all(r["access_count"] == 0 and r["last_access"] is None
               for i, r in rows.items() if i != hiking and r["type"] == "turn")
    assert all(h["event"] == "ADD" for h in export(open_store()) if h["kind"] == "history")


def test_forgetting_archives_then_hard_deletes(mem: Memory) -> None:
    old = add_chat(mem, session="old", when=T0)
    new = add_chat(mem, session="new", when=T0 + 400 * DAY)
    now = T0 + 401 * DAY
    hiking = next(i for i in old if "hiking" in mem.get(i).text)
    for _ in range(30):  # accessed often: strong enough to stay
        mem.search("hiking in Sintra with my sister", user_id="ana", session_id="old", limit=1)
    policy = ForgetPolicy(half_life_days=60, threshold=0.1, min_age_days=30)
    soft = MaintainConfig(summaries=False, profiles=False, dedupe=False, forget=policy)
    report = mem.maintain("ana", config=soft, now=now)
    old_turns = [i for i in old if mem.get(i).type == "turn"]
    assert report.archived == len(old_turns) - 1 and report.deleted == 0
    assert mem.get(hiking).status == "active"
    assert all(mem.get(i).status == "active" for i in new)
    faded = [i for i in old_turns if i != hiking]
    assert all(mem.get(i).status == "archived" for i in faded)
    h = mem.history(faded[0])[-1]
    assert h.event == "ARCHIVE" and h.actor == "maintain" and "retention" in h.detail["reason"]
    assert not set(faded) & search_ids(mem, "Pena palace Pimenta Sintra", user_id="ana", limit=100)
    assert mem.maintain("ana", config=soft, now=now).archived == 0  # archived stay put
    mem.restore(faded[0])
    hard = ForgetPolicy(half_life_days=60, threshold=0.1, min_age_days=30, hard_delete=True)
    report = mem.maintain("ana", config=MaintainConfig(summaries=False, profiles=False,
                                                       dedupe=False, forget=hard), now=now)
    assert report.deleted == 1 and report.archived == 0  # only the restored one was active
    with pytest.raises(NotFound):
        mem.get(faded[0])
    last = mem.history(faded[0])[-1]
    assert last.event == "DELETE" and last.actor == "maintain" and "retention" in last.detail["reason"]
    assert mem.get(faded[1]).status == "archived"
    assert mem.get(hiking).status == "active"


# -- export / import between backends ------------------------------------------------
@pytest.fixture
def other_url(store_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store on the other backend."""
    if store_url.startswith("postgres"):
        return str(tmp_path / "other.db")
    return new_pg_database(request.getfixturevalue("pg_server"))


def test_lifecycle_state_moves_between_backends(mem: Memory, other_url: str) -> None:
    ids = add_chat(mem)
    add_chat(mem, session="s2", ids=False, when=T0 + 60)
    mem.archive(ids[0], reason="stale")
    mem.supersede(ids[1], ids[2])
    # s2 folds into s1, except the copies of the archived and the superseded turn
    # summaries quote at most 2 turns here, so the short session gets one
    assert mem.maintain("ana", config=MaintainConfig(profiles=False, summary_turns=2)).merged == 4
    assert mem.summaries(user_id="ana")
    buf = io.StringIO()
    mem.export(buf)
    with Memory(other_url, embedder=HashingEmbedder()) as other:
        stats = other.import_(io.StringIO(buf.getvalue()))
        assert stats["memories"] > 0 and stats["history"] > 0
        # same records, same order, lifecycle fields too; vectors agree to the precision
        # of the store that keeps fewer bits (SQLite: int8)
        a, b = export(other), export(mem)
        assert [without_vector(r) for r in a] == [without_vector(r) for r in b]
        for ra, rb in zip(a, b):
            if ra.get("embedding") or rb.get("embedding"):
                va, vb = vector(ra), vector(rb)
                assert float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb)) > 0.999
        assert other.get(ids[0]).status == "archived"
        assert other.history(ids[0])[-1].detail == {"reason": "stale"}
        assert other.get(ids[1]).superseded_by == ids[2]
        assert other.get(ids[1]).valid_to == mem.get(ids[1]).valid_to
        sup = [h for h in other.history(ids[2]) if h.event == "SUPERSEDE"]
        assert len(sup) == 1 and sup[0].detail["supersedes"] == ids[1]
        assert [s.id for s in other.summaries(user_id="ana")] == \
            [s.id for s in mem.summaries(user_id="ana")]
        q = "how old is Pimenta"
        assert ids[1] not in search_ids(other, q, user_id="ana")
        assert search_ids(other, q, user_id="ana") == search_ids(mem, q, user_id="ana")
        merged = [i for i in turns(other) if len(i.source_ids) == 2]
        assert [i.id for i in merged] == [i.id for i in turns(mem) if len(i.source_ids) == 2]
        assert len(merged) == 4 and "MERGE" in events(other, merged[0].id)
        assert other.maintain("ana", config=MaintainConfig(profiles=False)).merged == 0
