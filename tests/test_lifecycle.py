"""The memory lifecycle through the public API: archive/restore, supersede and time
travel, maintenance (near-duplicate merge, summaries, profiles, forgetting), each visible
in history, never touching raw episodes, never crossing users."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import datetime, timezone

import pytest

from remem import HashingEmbedder, InvalidInput, Memory, NotFound
from remem.search.terms import terms_of
from remem.types import Scope
from remem.cli import main
from remem.config import ForgetPolicy, MaintainConfig
from remem.maintain import central_rows, jaccard, near_duplicate_groups, retention, word_set

DAY = 86400.0
T0 = datetime(2023, 3, 1, 10, 0, tzinfo=timezone.utc).timestamp()

CHAT = [
    ("Ana", "I finally adopted a border collie and named her Pimenta."),
    ("Max", "That is wonderful, how old is Pimenta?"),
    ("Ana", "Pimenta is two years old and loves the beach in Cascais."),
    ("Max", "I went hiking in Sintra with my sister last weekend."),
    ("Ana", "Sintra is beautiful, did you see the Pena palace?"),
    ("Max", "Yes, and we had pastries in Sintra afterwards."),
]


@pytest.fixture()
def mem(tmp_path):  # noqa: ANN001, ANN201
    with Memory(tmp_path / "m.db", embedder=HashingEmbedder()) as m:
        yield m


def add_chat(m: Memory, user: str = "ana", session: str = "s1", when: float = T0,
             ids: bool = True) -> list[str]:
    msgs = [{"role": "user", "name": who, "content": text, **({"id": f"{session}-{i}"} if ids else {})}
            for i, (who, text) in enumerate(CHAT)]
    return list(m.add(msgs, user_id=user, session_id=session, timestamp=when).memory_ids)


def turns(m: Memory, user: str = "ana") -> list:  # noqa: ANN001
    return [i for i in m.get_all(user_id=user, limit=1000) if i.type == "turn"]


def events(m: Memory, memory_id: str) -> list[str]:
    return [h.event for h in m.history(memory_id)]


# -- pure parts ----------------------------------------------------------------------
def test_pure_scoring_parts() -> None:
    assert jaccard(word_set("I love the beach"), word_set("i love the BEACH!")) == 1.0
    assert jaccard(word_set("a b"), word_set("c d")) == 0.0
    assert retention(0, 0, 0.5, 30) == 1.0
    assert retention(30, 0, 0.5, 30) == pytest.approx(0.5)
    assert retention(30, 10, 0.5, 30) > retention(30, 0, 0.5, 30)  # accesses strengthen
    assert retention(30, 0, 1.0, 30) > retention(30, 0, 0.0, 30)  # so does importance
    m = HashingEmbedder().embed(["the beach in Cascais", "the beach in Cascais!",
                                 "quantum chromodynamics lecture", "the beach in Cascais"])
    groups = near_duplicate_groups(m, ["the beach in Cascais", "the beach in Cascais!",
                                       "quantum chromodynamics lecture", "the beach in Cascais"],
                                   ["a", "a", "a", "b"], cosine=0.9, overlap=0.8)
    assert groups == [[0, 1]]  # row 3 has another kind (e.g. another speaker)
    assert central_rows(m, 2) == sorted(central_rows(m, 2)) and len(central_rows(m, 2)) == 2
    assert central_rows(m[:0], 3) == []


# -- archive / restore ---------------------------------------------------------------
def test_archive_hides_from_search_and_restore_brings_back(mem) -> None:  # noqa: ANN001
    add_chat(mem)
    target = next(h for h in mem.search("border collie Pimenta", user_id="ana")
                  if "adopted" in h.text)
    item = mem.archive(target.id, user_id="ana", reason="user asked")
    assert item.status == "archived"
    assert target.id not in {h.id for h in mem.search("border collie Pimenta", user_id="ana")}
    assert mem.get(target.id).status == "archived"  # kept
    assert target.id not in {i.id for i in mem.get_all(user_id="ana")}
    hist = mem.history(target.id)
    assert hist[-1].event == "ARCHIVE" and hist[-1].detail == {"reason": "user asked"}
    assert mem.restore(target.id, user_id="ana").status == "active"
    assert target.id in {h.id for h in mem.search("border collie Pimenta", user_id="ana")}
    assert events(mem, target.id)[-2:] == ["ARCHIVE", "RESTORE"]


def test_lifecycle_calls_are_confined_to_the_user(mem) -> None:  # noqa: ANN001
    ids = add_chat(mem)
    other = add_chat(mem, user="bob")
    with pytest.raises(NotFound):
        mem.archive(ids[0], user_id="bob")
    with pytest.raises(NotFound):
        mem.supersede(ids[0], other[0], user_id="ana")
    with pytest.raises(InvalidInput):  # without user_id: still one user per supersede
        mem.supersede(ids[0], other[0])
    assert mem.get(ids[0]).status == "active" and mem.get(ids[0]).valid_to is None
    assert events(mem, ids[0]) == ["ADD"]


# -- supersede and time travel -------------------------------------------------------
def test_supersede_links_both_and_as_of_travels_in_time(mem) -> None:  # noqa: ANN001
    old = mem.add("I live in Lisbon near the river", user_id="ana",
                  timestamp="2023-01-10T09:00:00Z").memory_ids[0]
    new = mem.add("I live in Porto now, near the river", user_id="ana",
                  timestamp="2024-06-01T09:00:00Z").memory_ids[0]
    before = {h.id for h in mem.search("where do I live river", user_id="ana")}
    assert {old, new} <= before
    item = mem.supersede(old, new, user_id="ana")
    assert item.superseded_by == new
    assert item.valid_to == datetime(2024, 6, 1, 9, tzinfo=timezone.utc)
    assert mem.get(new).valid_from == item.valid_to
    now = {h.id for h in mem.search("where do I live river", user_id="ana")}
    assert new in now and old not in now  # current memories only
    then = {h.id for h in mem.search("where do I live river", user_id="ana",
                                     as_of="2023-06-01")}
    assert old in then and new not in then  # what was valid then
    later = {h.id for h in mem.search("where do I live river", user_id="ana",
                                      as_of=datetime(2025, 1, 1, tzinfo=timezone.utc))}
    assert new in later and old not in later
    assert mem.history(old)[-1].detail["superseded_by"] == new
    assert mem.history(new)[-1].detail["supersedes"] == old
    with pytest.raises(InvalidInput, match="already superseded"):
        mem.supersede(old, new, user_id="ana")
    with pytest.raises(InvalidInput, match="itself"):
        mem.supersede(new, new, user_id="ana")
    with pytest.raises(InvalidInput):
        mem.search("river", user_id="ana", as_of="not a time")


# -- maintenance ---------------------------------------------------------------------
def test_maintain_merges_duplicated_input_and_keeps_every_episode(mem, tmp_path) -> None:  # noqa: ANN001
    add_chat(mem, ids=False)
    add_chat(mem, ids=False, when=T0 + 3600)  # the same conversation ingested twice
    add_chat(mem, user="bob", ids=False)  # another user's copy must stay apart
    assert len(turns(mem)) == 12
    db = sqlite3.connect(tmp_path / "m.db")
    episodes = db.execute("SELECT count(*) FROM episodes").fetchone()[0]
    words = " ".join(text for _, text in CHAT)
    lexical_before = {i for i, _ in mem.store.lexical(Scope("ana"), terms_of(words), 100)}
    assert len(lexical_before) >= 12  # both copies' turns (and their segments) match
    report = mem.maintain(config=MaintainConfig(summaries=False, profiles=False))
    assert report.merged == 6 and report.users == 2 and not report.errors
    kept = turns(mem)
    assert len(kept) == 6 and len(turns(mem, "bob")) == 6
    assert all(len(i.source_ids) == 2 for i in kept)  # provenance union of both copies
    assert db.execute("SELECT count(*) FROM episodes").fetchone()[0] == episodes  # raw kept
    gone = {i for i, _ in mem.store.lexical(Scope("ana"), terms_of(words), 100)}
    assert lexical_before - gone == set(lexical_before) - {i.id for i in kept} - {
        i.id for i in mem.get_all(user_id="ana", limit=1000, type="all") if i.type != "turn"}
    assert len(lexical_before - gone) == 6  # the merged copies left the lexical index
    merged = mem.history(kept[0].id)[-1]
    assert merged.event == "MERGE" and merged.actor == "maintain" and len(merged.detail["merged"]) == 1
    gone = merged.detail["merged"][0]
    assert mem.history(gone)[-1].detail["into"] == kept[0].id
    with pytest.raises(NotFound):
        mem.get(gone)
    hits = mem.search("border collie Pimenta", user_id="ana")
    assert hits and len(hits[0].source_ids) == 2
    assert mem.maintain(config=MaintainConfig(summaries=False, profiles=False)).merged == 0


def test_summaries_and_profiles_are_built_refreshed_and_not_ranked(mem) -> None:  # noqa: ANN001
    add_chat(mem, session="s1")
    add_chat(mem, session="s2", when=T0 + 7 * DAY)
    keep_all = MaintainConfig(dedupe=False)  # s2 repeats s1's words: keep both sessions
    report = mem.maintain("ana", config=keep_all)
    assert report.summaries == 2 and report.profiles >= 2  # Pimenta, Sintra (>= 3 mentions)
    sums = mem.summaries(user_id="ana")
    assert [s.session_id for s in sums] == ["s1", "s2"]
    assert all(s.type == "summary" and s.text.startswith("Summary of 6 turns") for s in sums)
    assert set(sums[0].source_ids) <= {f"s1-{i}" for i in range(6)}
    profiles = {p.metadata["profile_of"]: p for p in mem.summaries(user_id="ana", kind="profile")}
    assert "sintra" in profiles and "Sintra" in profiles["sintra"].text
    assert events(mem, sums[0].id) == ["ADD"] and mem.history(sums[0].id)[0].actor == "maintain"
    assert mem.summaries(user_id="bob") == []
    # not ranked against turns by search
    assert all(h.type == "turn" for h in mem.search("Sintra Pena palace", user_id="ana", limit=50))
    # idempotent: nothing new when nothing changed
    again = mem.maintain("ana", config=keep_all)
    assert again.summaries == 0 and again.profiles == 0
    # a longer session gets a fresh summary; the old one is replaced, in history
    mem.add([{"role": "user", "name": "Max", "content": "Sintra again next month?", "id": "s1-9"}],
            user_id="ana", session_id="s1", timestamp=T0 + DAY)
    assert mem.maintain("ana", config=keep_all).summaries == 1
    fresh = mem.summaries(user_id="ana", session_id="s1")
    assert len(fresh) == 1 and fresh[0].text.startswith("Summary of 7 turns")
    assert mem.history(sums[0].id)[-1].detail == {"replaced_by": fresh[0].id}
    with pytest.raises(InvalidInput):
        mem.summaries(user_id="ana", kind="turn")


def test_forgetting_archives_faded_memories_and_access_protects(mem) -> None:  # noqa: ANN001
    old = add_chat(mem, session="old", when=T0)
    new = add_chat(mem, session="new", when=T0 + 400 * DAY)
    now = T0 + 401 * DAY
    # the old "hiking" turn is searched often: accesses make it stronger
    hiking = next(i for i in old if "hiking" in mem.get(i).text)
    for _ in range(30):
        mem.search("hiking in Sintra with my sister", user_id="ana", session_id="old", limit=1)
    policy = ForgetPolicy(half_life_days=60, threshold=0.1, min_age_days=30)
    report = mem.maintain("ana", config=MaintainConfig(summaries=False, profiles=False,
                                                       dedupe=False, forget=policy), now=now)
    old_turns = [i for i in old if mem.get(i).type == "turn"]
    assert report.archived == len(old_turns) - 1  # all old turns but the accessed one
    assert mem.get(hiking).status == "active"
    faded = next(i for i in old_turns if i != hiking)
    assert mem.get(faded).status == "archived"
    assert all(mem.get(i).status == "active" for i in new)
    h = mem.history(faded)[-1]
    assert h.event == "ARCHIVE" and h.actor == "maintain" and "retention" in h.detail["reason"]
    assert faded not in {x.id for x in mem.search("Pena palace", user_id="ana", limit=100)}
    mem.restore(faded)
    assert mem.get(faded).status == "active"
    hard = ForgetPolicy(half_life_days=60, threshold=0.1, min_age_days=30, hard_delete=True)
    report = mem.maintain("ana", config=MaintainConfig(summaries=False, profiles=False,
                                                       dedupe=False, forget=hard), now=now)
    assert report.deleted >= 1 and report.archived == 0
    with pytest.raises(NotFound):
        mem.get(faded)
    assert mem.history(faded)[-1].event == "DELETE" and mem.history(faded)[-1].actor == "maintain"
    with pytest.raises(InvalidInput):
        ForgetPolicy(threshold=1.5)


def test_lifecycle_state_survives_export_and_import(mem, tmp_path) -> None:  # noqa: ANN001
    ids = add_chat(mem)
    mem.archive(ids[0])
    mem.supersede(ids[1], ids[2])
    buf = io.StringIO()
    mem.export(buf)
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert any(r.get("detail", {}).get("superseded_by") == ids[2] for r in lines)
    with Memory(tmp_path / "copy.db", embedder=HashingEmbedder()) as other:
        other.import_(io.StringIO(buf.getvalue()))
        assert other.get(ids[0]).status == "archived"
        assert other.get(ids[1]).superseded_by == ids[2]
        assert other.history(ids[1])[-1].detail["superseded_by"] == ids[2]
        assert ids[1] not in {h.id for h in other.search("how old is Pimenta", user_id="ana")}


def test_old_exports_without_lifecycle_fields_still_import(mem, tmp_path) -> None:  # noqa: ANN001
    add_chat(mem)
    buf = io.StringIO()
    mem.export(buf)
    old = []
    for line in buf.getvalue().splitlines():
        r = json.loads(line)
        r.pop("superseded_by", None)
        r.pop("detail", None)
        old.append(json.dumps(r))
    with Memory(tmp_path / "old.db", embedder=HashingEmbedder()) as other:
        stats = other.import_(io.StringIO("\n".join(old)))
        assert stats["memories"] == len(mem.get_all(user_id="ana", limit=1000, type="all"))


def test_cli_maintain_archive_unarchive_supersede(tmp_path, capsys) -> None:  # noqa: ANN001
    db = str(tmp_path / "cli.db")
    with Memory(db, embedder=HashingEmbedder()) as m:
        add_chat(m, ids=False)
        add_chat(m, ids=False, when=T0 + 60)
        ids = [i.id for i in turns(m)]
    base = ["--db", db, "--embedder", "hashing"]
    assert main([*base, "maintain", "--user", "ana"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["merged"] == 6 and report["summaries"] == 1
    live = [i for i in ids if _exists(db, i)]
    assert len(live) == 6
    assert main([*base, "archive", live[0], "--reason", "test"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "archived"
    assert main([*base, "unarchive", live[0], "-u", "ana"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "active"
    assert main([*base, "supersede", live[1], live[2]]) == 0
    assert json.loads(capsys.readouterr().out)["superseded_by"] == live[2]
    assert main([*base, "archive", live[0], "-u", "bob"]) != 0  # not bob's
    assert main([*base, "maintain", "--hard-delete"]) != 0  # needs --forget
    capsys.readouterr()


def _exists(db: str, memory_id: str) -> bool:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT 1 FROM memories WHERE id=?", (memory_id,)).fetchone() is not None
