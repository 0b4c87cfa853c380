"""The engine through its public API, on a real SQLite file with the hashing embedder."""

from __future__ import annotations

import dataclasses

import importlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

import remem
from remem import (
    AddResult,
    EmbedderError,
    HashingEmbedder,
    HistoryEntry,
    Hit,
    ImportFormatError,
    InvalidInput,
    Memory,
    MemoryItem,
    MigrationError,
    NotFound,
    RememError,
    SearchConfig,
    StoreError,
)
from remem import errors as errors_module
from remem.search.packing import estimate_tokens

from conftest import conversation, turn_items


def turn_ids(m: Memory, res: AddResult) -> list[str]:
    """The turn memories (one per message) among an add's memory ids, in input order."""
    return [i for i in res.memory_ids if m.get(i).type == "turn"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# -- add / search -----------------------------------------------------------------------
def test_add_returns_ids_in_input_order(mem: Memory) -> None:
    res = mem.add(conversation(), user_id="ana")
    assert isinstance(res, AddResult)
    assert len(res.episode_ids) == 5 and len(set(res.episode_ids)) == 5
    assert len(set(res.memory_ids)) == len(res.memory_ids) >= 5
    assert res.skipped == 0
    items = {i.id: i for i in mem.get_all(user_id="ana", type="all")}
    assert set(items) == set(res.memory_ids)
    assert [items[m].source_ids for m in turn_ids(mem, res)] == [(f"t{i}",) for i in range(1, 6)]
    for m in res.memory_ids:  # every derived memory points back at the caller's turn ids
        assert set(items[m].source_ids) <= {f"t{i}" for i in range(1, 6)}
    assert res.to_dict() == {"episode_ids": list(res.episode_ids),
                             "memory_ids": list(res.memory_ids), "added": 5, "skipped": 0}


def test_add_string_uses_episode_id_as_source(mem: Memory) -> None:
    res = mem.add("I play the cello on Sundays", user_id="ana")
    item = mem.get(res.memory_ids[0])
    assert item.source_ids == (res.episode_ids[0],)
    assert item.text == "I play the cello on Sundays"
    assert item.speaker is None and item.type == "turn"


def test_search_finds_the_right_turn_with_hit_fields(mem: Memory) -> None:
    res = mem.add(conversation(), user_id="ana", agent_id="bot", session_id="s1",
                  metadata={"topic": "life"})
    assert "t3" in mem.search("rescue dog Pimenta", user_id="ana")[0].source_ids
    hits = mem.search("rescue dog Pimenta", user_id="ana", filters={"type": "turn"})
    assert hits, "expected at least one hit"
    top = hits[0]
    assert isinstance(top, Hit)
    assert top.id == turn_ids(mem, res)[2]
    assert top.text == "I adopted a rescue dog called Pimenta last weekend."
    assert top.source_ids == ("t3",)
    assert top.speaker == "Ana"
    assert top.type == "turn"
    assert top.event_time == utc(2024, 5, 2, 9, 0)
    assert top.created_at.tzinfo is not None
    assert (top.user_id, top.agent_id, top.session_id) == ("ana", "bot", "s1")
    assert top.metadata == {"topic": "life"}
    assert {"lexical", "dense", "lexical_raw", "dense_raw"} <= set(top.explain)
    parts = {k: v for k, v in top.explain.items() if not k.endswith("_raw")}
    assert top.score == pytest.approx(sum(parts.values()))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    d = top.to_dict()
    assert d["source_ids"] == ["t3"] and d["event_time"] == "2024-05-02T09:00:00+00:00"


def test_search_by_speaker_name(mem: Memory) -> None:
    mem.add([{"name": "Zed", "content": "The meeting is on Friday."},
             {"name": "Ana", "content": "The meeting moved to Monday."}], user_id="u")
    hits = mem.search("Zed", user_id="u", filters={"type": "turn"})
    assert hits[0].speaker == "Zed"
    assert "lexical" in hits[0].explain


def test_add_level_timestamp_is_the_default_event_time(mem: Memory) -> None:
    mem.add([{"content": "first"}, {"content": "second", "timestamp": "2020-01-01T00:00:00Z"}],
            user_id="u", timestamp=datetime(2023, 3, 4, 5, 6))
    items = turn_items(mem, user_id="u")
    assert [(i.text, i.event_time) for i in items] == [
        ("second", utc(2020, 1, 1)), ("first", utc(2023, 3, 4, 5, 6))]


def test_get_all_is_in_event_time_order_and_paginates(mem: Memory) -> None:
    for msg in reversed(conversation()):  # one message per add, newest first
        mem.add([msg], user_id="ana")
    items = mem.get_all(user_id="ana")
    assert [i.source_ids[0] for i in items] == ["t1", "t2", "t3", "t4", "t5"]
    assert isinstance(items[0], MemoryItem)
    assert [i.source_ids[0] for i in mem.get_all(user_id="ana", limit=2, offset=1)] == ["t2", "t3"]
    assert mem.get_all(user_id="ana", offset=10) == []
    assert mem.count(user_id="ana") == 5


def test_memory_on_in_memory_database() -> None:
    with Memory(":memory:", embedder=HashingEmbedder()) as m:
        m.add("the red bicycle is in the garage", user_id="u")
        assert m.search("bicycle", user_id="u")[0].text == "the red bicycle is in the garage"


# -- scoping ----------------------------------------------------------------------------
@pytest.fixture
def two_users(mem: Memory) -> tuple[AddResult, AddResult]:
    a = mem.add(conversation("a"), user_id="alice")
    b = mem.add([{"id": "b1", "content": "My rescue dog Pimenta loves the beach."},
                 {"id": "b2", "content": "I moved to Lisbon too."}], user_id="bob")
    return a, b


def test_search_never_crosses_users(mem: Memory, two_users: tuple[AddResult, AddResult]) -> None:
    a, b = two_users
    for q in ["rescue dog Pimenta", "Lisbon", "beach", "cats shellfish"]:
        for h in mem.search(q, user_id="bob", limit=50):
            assert h.user_id == "bob" and h.id in b.memory_ids
        for h in mem.search(q, user_id="alice", limit=50):
            assert h.user_id == "alice" and h.id in a.memory_ids
    assert mem.search("beach", user_id="carol") == []


def test_get_all_is_per_user(mem: Memory, two_users: tuple[AddResult, AddResult]) -> None:
    a, b = two_users
    assert {i.id for i in mem.get_all(user_id="alice", type="all")} == set(a.memory_ids)
    assert {i.id for i in mem.get_all(user_id="bob", type="all")} == set(b.memory_ids)
    assert mem.get_all(user_id="carol") == []


def test_get_update_delete_with_wrong_user_raise_not_found(
        mem: Memory, two_users: tuple[AddResult, AddResult]) -> None:
    _, b = two_users
    bid = b.memory_ids[0]
    with pytest.raises(NotFound):
        mem.get(bid, user_id="alice")
    with pytest.raises(NotFound):
        mem.update(bid, "hijacked", user_id="alice")
    with pytest.raises(NotFound):
        mem.delete(bid, user_id="alice")
    item = mem.get(bid, user_id="bob")
    assert item.text == "My rescue dog Pimenta loves the beach."
    assert [h.event for h in mem.history(bid)] == ["ADD"]


def test_delete_all_of_one_user_leaves_the_other(
        mem: Memory, two_users: tuple[AddResult, AddResult]) -> None:
    a, b = two_users
    assert mem.delete_all(user_id="bob") == len(b.memory_ids)
    assert mem.get_all(user_id="bob") == []
    assert mem.search("beach", user_id="bob") == []
    assert {i.id for i in mem.get_all(user_id="alice", type="all")} == set(a.memory_ids)
    assert mem.search("Pimenta", user_id="alice", filters={"type": "turn"})[0].id == turn_ids(
        mem, a)[2]


def test_agent_and_session_narrow(mem: Memory) -> None:
    x = mem.add("I like green tea", user_id="u", agent_id="a1", session_id="s1")
    y = mem.add("I like green apples", user_id="u", agent_id="a1", session_id="s2")
    z = mem.add("I like green peppers", user_id="u", agent_id="a2", session_id="s1")
    ids = lambda hits: {h.id for h in hits}  # noqa: E731
    assert ids(mem.search("green", user_id="u")) == {*x.memory_ids, *y.memory_ids, *z.memory_ids}
    assert ids(mem.search("green", user_id="u", agent_id="a1")) == {*x.memory_ids, *y.memory_ids}
    assert ids(mem.search("green", user_id="u", session_id="s1")) == {*x.memory_ids, *z.memory_ids}
    assert ids(mem.search("green", user_id="u", agent_id="a1", session_id="s1")) == set(x.memory_ids)
    assert ids(mem.search("green", user_id="u", agent_id="a3")) == set()
    assert {i.id for i in mem.get_all(user_id="u", agent_id="a2")} == set(z.memory_ids)
    assert {i.id for i in mem.get_all(user_id="u", session_id="s2")} == set(y.memory_ids)


def test_dense_only_search_respects_agent_scope(open_memory) -> None:  # noqa: ANN001
    m = open_memory(config=SearchConfig(weights={"lexical": 0.0, "dense": 1.0}))
    x = m.add("I like green tea", user_id="u", agent_id="a1")
    m.add("I like green tea", user_id="u", agent_id="a2")
    hits = m.search("green tea", user_id="u", agent_id="a1")
    assert [h.id for h in hits] == list(x.memory_ids)
    assert set(hits[0].explain) == {"dense", "dense_raw"}


def test_lexical_only_search_has_no_dense_parts(open_memory) -> None:  # noqa: ANN001
    m = open_memory(config=SearchConfig(weights={"lexical": 1.0, "dense": 0.0}, neighbour_factor=0))
    m.add(conversation(), user_id="ana")
    hits = m.search("Pimenta", user_id="ana", filters={"type": "turn"})
    assert hits[0].source_ids == ("t3",)
    for h in hits:
        assert "lexical" in h.explain and "lexical_raw" in h.explain
        assert "dense" not in h.explain and "dense_raw" not in h.explain
    # only lexical matches come back: t1 neither mentions it nor sits next to a turn that
    # does (t2 and t4 are indexed under t3's words as context keys)
    assert ("t1",) not in {h.source_ids for h in hits}


def test_adjacent_turns_join_as_neighbours_within_scope(mem: Memory) -> None:
    mem.config = dataclasses.replace(mem.config, neighbour_factor=0.5)
    mem.add(conversation("a"), user_id="alice", session_id="s1")
    mem.add(conversation("b"), user_id="bob", session_id="s1")
    mem.add([{"id": "c1", "content": "Unrelated words about a rescue dog Pimenta"}],
            user_id="alice", session_id="s2")
    hits = mem.search("robotics startup", user_id="alice", session_id="s1", limit=50,
                      filters={"type": "turn"})
    by_source = {h.source_ids[0]: h for h in hits}
    assert hits[0].source_ids == ("a1",)
    assert "neighbour" in by_source["a2"].explain  # the reply after the hit came along
    assert all(h.user_id == "alice" and h.session_id == "s1" for h in hits)


def test_search_result_is_a_list_with_context(mem: Memory) -> None:
    mem.add(conversation(), user_id="ana", session_id="s1")
    turns_only = {"type": "turn"}
    hits = mem.search("rescue dog Pimenta", user_id="ana", limit=3, filters=turns_only)
    assert isinstance(hits, list) and len(hits) == 3
    assert "[2024-05-02] Ana: I adopted a rescue dog called Pimenta last weekend." in hits.context
    assert "## session s1" in hits.context
    full = mem.search("rescue dog Pimenta", user_id="ana", limit=10, filters=turns_only)
    small = mem.search("rescue dog Pimenta", user_id="ana", limit=10, budget_tokens=60,
                       filters=turns_only)
    assert 1 <= len(small) < len(full)
    assert {h.id for h in small} <= {h.id for h in full}
    assert ("t3",) in [h.source_ids for h in small]  # the best hit fits, so it is kept
    assert estimate_tokens(small.context) <= 60 and small.budget_tokens == 60
    for h in small:
        assert h.text in small.context
    times = [h.event_time for h in small]
    assert times == sorted(times)  # laid out chronologically
    with pytest.raises(InvalidInput, match="budget_tokens"):
        mem.search("dog", user_id="ana", budget_tokens=0)


def test_delete_all_narrowed_to_a_session(mem: Memory) -> None:
    keep = mem.add("session one fact", user_id="u", session_id="s1")
    mem.add("session two fact", user_id="u", session_id="s2")
    assert mem.delete_all(user_id="u", session_id="s2") == 1
    assert [i.id for i in mem.get_all(user_id="u")] == list(keep.memory_ids)


# -- filters ----------------------------------------------------------------------------
@pytest.fixture
def filtered(mem: Memory) -> dict[str, str]:
    out = {}
    for name, meta in [("tea", {"kind": "drink", "n": 1, "flag": True}),
                       ("coffee", {"kind": "drink", "n": 2, "flag": False}),
                       ("bread", {"kind": "food", "n": 3, "my-key.x": "v"})]:
        speaker = "Ana" if name != "bread" else "Bo"
        out[name] = mem.add([{"name": speaker, "content": f"I like {name} in the morning"}],
                            user_id="u", metadata=meta).memory_ids[0]
    return out


def _ids(hits: list[Hit]) -> set[str]:
    return {h.id for h in hits}


def test_filter_by_metadata_key(mem: Memory, filtered: dict[str, str]) -> None:
    assert _ids(mem.search("morning", user_id="u", filters={"kind": "drink"})) == {
        filtered["tea"], filtered["coffee"]}
    assert _ids(mem.search("morning", user_id="u", filters={"n": 3})) == {filtered["bread"]}
    assert _ids(mem.search("morning", user_id="u", filters={"flag": True})) == {filtered["tea"]}
    assert _ids(mem.search("morning", user_id="u", filters={"my-key.x": "v"})) == {filtered["bread"]}
    assert mem.search("morning", user_id="u", filters={"kind": "nothing"}) == []


def test_filter_list_values_mean_any_of(mem: Memory, filtered: dict[str, str]) -> None:
    assert _ids(mem.search("morning", user_id="u", filters={"n": [1, 3]})) == {
        filtered["tea"], filtered["bread"]}


def test_filter_by_type_and_speaker(mem: Memory, filtered: dict[str, str]) -> None:
    assert _ids(mem.search("morning", user_id="u", filters={"type": "turn"})) == set(filtered.values())
    assert mem.search("morning", user_id="u", filters={"type": "fact"}) == []
    assert _ids(mem.search("morning", user_id="u", filters={"speaker": "Bo"})) == {filtered["bread"]}
    assert _ids(mem.search("morning", user_id="u",
                           filters={"speaker": ["Bo", "Ana"], "kind": "drink"})) == {
        filtered["tea"], filtered["coffee"]}


def test_filters_do_not_leak_across_users(mem: Memory, filtered: dict[str, str]) -> None:
    other = mem.add("I like tea in the morning", user_id="v", metadata={"kind": "drink"})
    assert _ids(mem.search("morning", user_id="v", filters={"kind": "drink"})) == set(other.memory_ids)


@pytest.mark.parametrize("filters", [
    {"bad key": 1}, {"": 1}, {"a'b": 1}, {'a"b': 1}, {"x" * 65: 1}, {"k": []}, {"k": None},
    {"k": {"nested": 1}}, {"k": [1, [2]]}, {5: 1}, "kind=drink",
])
def test_invalid_filters_rejected(mem: Memory, filtered: dict[str, str], filters: object) -> None:
    with pytest.raises(InvalidInput):
        mem.search("morning", user_id="u", filters=filters)  # type: ignore[arg-type]


# -- re-adding, atomicity ---------------------------------------------------------------
def test_readding_same_ids_and_content_is_skipped(mem: Memory) -> None:
    first = mem.add(conversation(), user_id="ana")
    again = mem.add(conversation(), user_id="ana")
    assert again.skipped == 5
    assert again.memory_ids == ()
    assert again.episode_ids == first.episode_ids
    assert mem.count(user_id="ana", type="all") == len(first.memory_ids)
    assert len(mem.search("Pimenta", user_id="ana", filters={"type": "turn"}, limit=100)) == 5


def test_readding_mixed_new_and_old_counts_only_old_as_skipped(mem: Memory) -> None:
    mem.add(conversation()[:2], user_id="ana")
    res = mem.add(conversation()[:3], user_id="ana")
    assert res.skipped == 2
    assert [mem.get(i).source_ids for i in turn_ids(mem, res)] == [("t3",)]
    assert [i.source_ids for i in turn_items(mem, user_id="ana")] == [("t1",), ("t2",), ("t3",)]


def test_same_id_in_another_session_is_a_different_turn(mem: Memory) -> None:
    mem.add([{"id": "x", "content": "hello"}], user_id="u", session_id="s1")
    res = mem.add([{"id": "x", "content": "other words"}], user_id="u", session_id="s2")
    assert res.skipped == 0 and mem.count(user_id="u") == 2


def test_same_id_different_content_rejected_and_nothing_stored(mem: Memory) -> None:
    mem.add([{"id": "x", "content": "original"}], user_id="u")
    with pytest.raises(InvalidInput, match="different content"):
        mem.add([{"id": "new1", "content": "brand new alpha"},
                 {"id": "new2", "content": "brand new beta"},
                 {"id": "x", "content": "changed"}], user_id="u")
    assert [i.text for i in mem.get_all(user_id="u")] == ["original"]
    assert mem.search("brand new alpha beta", user_id="u", limit=10)[0].text == "original"
    # the new ids were not burnt: adding them now works
    assert mem.add([{"id": "new1", "content": "brand new alpha"}], user_id="u").skipped == 0


def test_bad_third_message_stores_none(mem: Memory) -> None:
    with pytest.raises(InvalidInput, match=r"messages\[2\]"):
        mem.add([{"content": "one"}, {"content": "two"}, {"role": "robot", "content": "three"}],
                user_id="u")
    assert mem.get_all(user_id="u") == []
    assert mem.count(user_id="u") == 0


@pytest.mark.parametrize("metadata", [["a"], {"x": float("nan")}, {"x": object()}, "meta"])
def test_bad_metadata_rejected(mem: Memory, metadata: object) -> None:
    with pytest.raises(InvalidInput, match="metadata"):
        mem.add("text", user_id="u", metadata=metadata)  # type: ignore[arg-type]
    assert mem.count(user_id="u") == 0


def test_bad_timestamp_rejected(mem: Memory) -> None:
    with pytest.raises(InvalidInput, match="timestamp"):
        mem.add("text", user_id="u", timestamp="not a time")
    assert mem.count(user_id="u") == 0


# -- update / delete / history ----------------------------------------------------------
def test_update_changes_text_search_and_history(mem: Memory) -> None:
    res = mem.add([{"name": "Ana", "id": "t1", "content": "I live in Lisbon"}], user_id="ana")
    mid = res.memory_ids[0]
    before = mem.get(mid)
    item = mem.update(mid, "I live in Porto now", user_id="ana")
    assert item.text == "I live in Porto now" and mem.get(mid).text == "I live in Porto now"
    assert item.source_ids == ("t1",) and item.speaker == "Ana"
    assert item.created_at == before.created_at and item.updated_at >= before.updated_at
    assert mem.search("Porto", user_id="ana")[0].id == mid
    lex = [h for h in mem.search("Lisbon", user_id="ana") if "lexical" in h.explain]
    assert lex == []
    hist = mem.history(mid)
    assert all(isinstance(h, HistoryEntry) for h in hist)
    assert [(h.event, h.old_text, h.new_text) for h in hist] == [
        ("ADD", None, "I live in Lisbon"), ("UPDATE", "I live in Lisbon", "I live in Porto now")]
    assert hist[0].at <= hist[1].at


def test_update_rejects_bad_text_and_unknown_id(mem: Memory) -> None:
    mid = mem.add("something", user_id="u").memory_ids[0]
    with pytest.raises(InvalidInput):
        mem.update(mid, "   ")
    with pytest.raises(NotFound):
        mem.update("nope", "text")
    assert mem.get(mid).text == "something"


def test_delete_then_get_raises_and_history_shows_delete(mem: Memory) -> None:
    res = mem.add(conversation(), user_id="ana")
    mid = turn_ids(mem, res)[2]
    mem.delete(mid, user_id="ana")
    with pytest.raises(NotFound):
        mem.get(mid)
    with pytest.raises(NotFound):
        mem.delete(mid)
    assert mid not in {h.id for h in mem.search("rescue dog Pimenta", user_id="ana", limit=50)}
    # the turn is gone, and so is every segment built from its text
    assert all("Pimenta" not in i.text for i in mem.get_all(user_id="ana"))
    assert len(turn_items(mem, user_id="ana")) == 4
    assert [i.source_ids for i in turn_items(mem, user_id="ana")] == [
        ("t1",), ("t2",), ("t4",), ("t5",)]
    assert [(h.event, h.old_text, h.new_text) for h in mem.history(mid)] == [
        ("ADD", None, conversation()[2]["content"]),
        ("DELETE", conversation()[2]["content"], None)]


def test_delete_all_records_history_and_allows_readding(mem: Memory) -> None:
    res = mem.add(conversation(), user_id="ana")
    assert mem.delete_all(user_id="ana") == len(res.memory_ids)
    assert mem.delete_all(user_id="ana") == 0
    assert [h.event for h in mem.history(res.memory_ids[0])] == ["ADD", "DELETE"]
    again = mem.add(conversation(), user_id="ana")  # episodes went too: not skipped
    assert again.skipped == 0 and len(turn_items(mem, user_id="ana")) == 5


def test_history_of_unknown_id(mem: Memory) -> None:
    with pytest.raises(NotFound):
        mem.history("does-not-exist")
    with pytest.raises(InvalidInput):
        mem.history("")


@pytest.mark.parametrize("bad", ["", None, 5])
def test_bad_memory_ids(mem: Memory, bad: object) -> None:
    with pytest.raises(InvalidInput):
        mem.get(bad)  # type: ignore[arg-type]


# -- persistence, paths -----------------------------------------------------------------
def test_persistence_across_reopen(db_path: Path) -> None:
    with Memory(db_path, embedder=HashingEmbedder()) as m:
        res = m.add(conversation(), user_id="ana")
        first = turn_ids(m, res)[0]
        m.update(first, "I moved to Porto", user_id="ana")
    with Memory(db_path, embedder=HashingEmbedder()) as m:
        ids = {i.id for i in m.get_all(user_id="ana")}
        assert {i.id for i in turn_items(m, user_id="ana")} <= ids <= set(res.memory_ids)
        assert len(turn_items(m, user_id="ana")) == 5
        assert m.get(first).text == "I moved to Porto"
        assert m.search("rescue dog Pimenta", user_id="ana",
                        filters={"type": "turn"})[0].source_ids == ("t3",)
        assert [h.event for h in m.history(first)] == ["ADD", "UPDATE"]
        assert m.add(conversation(), user_id="ana").skipped == 5


def test_store_on_a_directory_path_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="directory"):
        Memory(tmp_path, embedder=HashingEmbedder())


def test_store_parent_directories_are_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "m.db"
    with Memory(target, embedder=HashingEmbedder()) as m:
        m.add("hello", user_id="u")
    assert target.is_file()


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Memory(bad, embedder=HashingEmbedder())


def test_path_and_store_together_rejected(mem: Memory, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        Memory(tmp_path / "x.db", embedder=HashingEmbedder(), store=mem.store)


def test_embedder_must_follow_the_protocol(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="embedder"):
        Memory(tmp_path / "x.db", embedder=object())  # type: ignore[arg-type]


class _WrongShape:
    name = "wrong"
    dim = 16

    def embed(self, texts: list[str]):  # noqa: ANN201
        return HashingEmbedder(dim=8).embed(texts)


class _Broken:
    name = "broken"
    dim = 8

    def embed(self, texts: list[str]):  # noqa: ANN201
        raise RuntimeError("model exploded")


@pytest.mark.parametrize("embedder, pattern", [(_WrongShape(), "shape"), (_Broken(), "exploded")])
def test_embedder_failures_become_embedder_error(tmp_path: Path, embedder: object,
                                                 pattern: str) -> None:
    with Memory(tmp_path / "e.db", embedder=embedder) as m:  # type: ignore[arg-type]
        with pytest.raises(EmbedderError, match=pattern):
            m.add("hello", user_id="u")
        assert m.count(user_id="u") == 0


# -- validation -------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [0, -1, 1001, True, 2.5, "5", None])
def test_search_limit_validation(mem: Memory, limit: object) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        mem.search("x", user_id="u", limit=limit)  # type: ignore[arg-type]


def test_search_limit_bounds_accepted_and_honoured(mem: Memory) -> None:
    mem.add(conversation(), user_id="ana")
    assert len(mem.search("Ana", user_id="ana", limit=1)) == 1
    assert len(mem.search("Ana", user_id="ana", limit=1000, filters={"type": "turn"})) == 5


@pytest.mark.parametrize("kw", [{"limit": 0}, {"limit": 100_001}, {"limit": "3"},
                                {"offset": -1}, {"offset": 1.0}])
def test_get_all_limit_and_offset_validation(mem: Memory, kw: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        mem.get_all(user_id="u", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kw", [{"limit": True}, {"offset": False}])
def test_get_all_rejects_bool_limit_and_offset(mem: Memory, kw: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        mem.get_all(user_id="u", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("user_id", [None, "", "   ", 5, b"u", "a\nb", "x" * 300])
def test_bad_user_id_rejected_everywhere(mem: Memory, user_id: object) -> None:
    with pytest.raises(InvalidInput, match="user_id"):
        mem.add("text", user_id=user_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="user_id"):
        mem.search("text", user_id=user_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="user_id"):
        mem.get_all(user_id=user_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="user_id"):
        mem.delete_all(user_id=user_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="user_id"):
        mem.count(user_id=user_id)  # type: ignore[arg-type]


def test_missing_user_id_keyword_is_a_type_error(mem: Memory) -> None:
    """``user_id`` is a required keyword: leaving it out fails before anything runs."""
    with pytest.raises(TypeError, match="user_id"):
        mem.add("text")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="user_id"):
        mem.search("text")  # type: ignore[call-arg]


@pytest.mark.parametrize("agent_id", ["", 5, "a\tb"])
def test_bad_agent_and_session_ids_rejected(mem: Memory, agent_id: object) -> None:
    with pytest.raises(InvalidInput, match="agent_id"):
        mem.add("text", user_id="u", agent_id=agent_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="session_id"):
        mem.search("text", user_id="u", session_id=agent_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("query", ["", "  ", "a\x00b", 5, None])
def test_bad_query_rejected(mem: Memory, query: object) -> None:
    with pytest.raises(InvalidInput, match="query"):
        mem.search(query, user_id="u")  # type: ignore[arg-type]


def test_punctuation_only_query_does_not_crash(mem: Memory) -> None:
    mem.add(conversation(), user_id="ana")
    hits = mem.search("?!", user_id="ana")
    assert all("lexical" not in h.explain for h in hits)


# -- errors and public surface ----------------------------------------------------------
def test_error_hierarchy() -> None:
    assert issubclass(NotFound, KeyError) and issubclass(NotFound, RememError)
    assert issubclass(InvalidInput, ValueError) and issubclass(InvalidInput, RememError)
    assert issubclass(ImportFormatError, InvalidInput)
    assert issubclass(MigrationError, StoreError) and issubclass(StoreError, RememError)
    assert issubclass(EmbedderError, RememError)
    assert str(NotFound("no memory with id 'x'")) == "no memory with id 'x'"
    err = ImportFormatError("bad", line=7)
    assert err.line == 7 and str(err) == "line 7: bad"


def test_not_found_is_catchable_as_key_error(mem: Memory) -> None:
    with pytest.raises(KeyError):
        mem.get("missing")
    with pytest.raises(ValueError):
        mem.add("", user_id="u")


def test_all_is_sorted_and_complete() -> None:
    names = remem.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(remem, name) is not None
    exported = {n for n in dir(remem) if not n.startswith("_") and n[0].isupper()}
    assert exported <= set(names), f"public names missing from __all__: {exported - set(names)}"
    errs = {n for n, v in vars(errors_module).items()
            if isinstance(v, type) and issubclass(v, RememError)}
    assert errs <= set(names)
    mod = importlib.import_module("remem")
    ns: dict[str, object] = {}
    exec("from remem import *", ns)  # noqa: S102
    assert {n for n in ns if not n.startswith("__")} == set(names)
    assert mod.__version__


# -- two Memory objects on one file -----------------------------------------------------
def test_vector_cache_sees_adds_and_deletes_by_another_instance(db_path: Path, open_memory) -> None:  # noqa: ANN001
    # dense only and no neighbour expansion: a hit can only come from the reader's vectors
    dense_only = SearchConfig(weights={"lexical": 0.0, "dense": 1.0}, neighbour_factor=0)
    reader = open_memory(db_path, config=dense_only)
    writer = open_memory(db_path)
    first = writer.add("I keep bees on my balcony", user_id="u")
    # warm the reader's vector cache
    assert [h.id for h in reader.search("bees balcony", user_id="u")] == list(first.memory_ids)
    second = writer.add("My grandmother grows tomatoes", user_id="u")
    got = {h.id for h in reader.search("grandmother tomatoes", user_id="u")}
    assert got == {*first.memory_ids, *second.memory_ids}
    top = reader.search("grandmother tomatoes", user_id="u")[0]
    assert top.id == second.memory_ids[0] and top.explain["dense_raw"] > 0.3
    writer.delete(second.memory_ids[0])
    assert [h.id for h in reader.search("grandmother tomatoes", user_id="u")] == list(first.memory_ids)
    writer.update(first.memory_ids[0], "I keep chickens in the yard")
    top = reader.search("chickens yard", user_id="u")[0]
    assert top.text == "I keep chickens in the yard"
    assert top.explain["dense_raw"] > 0.3
    writer.delete_all(user_id="u")
    assert reader.search("chickens yard", user_id="u") == []


def test_update_re_derives_resolved_dates(mem: Memory) -> None:
    mid = mem.add([{"name": "Ana", "content": "I went hiking yesterday",
                    "timestamp": "2024-05-02T10:00:00Z"}], user_id="u").memory_ids[0]
    assert mem.search("hiking", user_id="u")[0].dates == ("1 May 2024",)
    mem.update(mid, "I went hiking with Bo")
    hits = mem.search("hiking", user_id="u")
    assert hits[0].text == "I went hiking with Bo"
    assert hits[0].dates == ()
    assert "dates mentioned" not in hits.context


def test_deleted_text_is_not_returned_by_search(mem: Memory) -> None:
    res = mem.add(conversation(), user_id="ana")
    secret = conversation()[3]["content"]  # "I am allergic to cats and shellfish."
    mem.delete(turn_ids(mem, res)[3], user_id="ana")
    for q in ["allergic cats shellfish", secret]:
        for h in mem.search(q, user_id="ana", limit=100):
            assert secret not in h.text, f"deleted text came back in a {h.type} memory"
    assert all(secret not in i.text for i in mem.get_all(user_id="ana"))


def test_updated_text_replaces_the_old_in_search(mem: Memory) -> None:
    res = mem.add(conversation(), user_id="ana")
    old = conversation()[0]["content"]
    mem.update(turn_ids(mem, res)[0], "I just moved to Porto.", user_id="ana")
    for h in mem.search("Lisbon robotics startup", user_id="ana", limit=100):
        assert old not in h.text, f"old text came back in a {h.type} memory"
