"""The same scenarios against ``Memory(path)``, ``AsyncMemory``, ``Client`` and
``AsyncClient`` (a real ``remem serve`` on 127.0.0.1): code written against ``Memory``
runs unchanged against a server, with the same values and the same errors."""

from __future__ import annotations

import io
import json as json_module
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from remem import ForgetPolicy, MaintainConfig
from remem.llm import Completion

from remem import (AddResult, HistoryEntry, Hit, InvalidInput, MemoryItem, NotFound,
                   SearchResult)

from conftest import conversation


def uid() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"


def test_add_then_search_finds_the_turn_with_provenance(api: Any) -> None:
    user = uid()
    res = api.add(conversation("c"), user_id=user, session_id="s1", metadata={"src": "chat"})
    assert isinstance(res, AddResult)
    assert len(res.episode_ids) == 5 and len(res.memory_ids) >= 5 and res.skipped == 0
    hits = api.search("which rescue dog did Ana adopt?", user_id=user, limit=3)
    assert isinstance(hits, SearchResult) and isinstance(hits[0], Hit)
    top = hits[0]
    assert "Pimenta" in top.text and top.source_ids == ("c3",)
    assert top.speaker == "Ana" and top.user_id == user and top.session_id == "s1"
    assert top.metadata == {"src": "chat"} and top.type == "turn"
    assert top.event_time == datetime(2024, 5, 2, 9, 0, tzinfo=timezone.utc)
    assert top.created_at.tzinfo is not None and top.score > 0 and top.explain
    assert "Pimenta" in hits.context and hits.budget_tokens is None
    packed = api.search("which rescue dog did Ana adopt?", user_id=user, budget_tokens=30)
    assert packed.budget_tokens == 30 and len(packed) <= len(hits)


def test_readding_the_same_ids_is_a_no_op(api: Any) -> None:
    user = uid()
    first = api.add(conversation("r"), user_id=user)
    again = api.add(conversation("r"), user_id=user)
    assert again.skipped == 5 and again.memory_ids == ()
    assert again.episode_ids == first.episode_ids  # the stored turns, not new ones
    assert len([i for i in api.get_all(user_id=user) if i.type == "turn"]) == 5


def test_get_update_history_delete(api: Any) -> None:
    user = uid()
    api.add(conversation("g"), user_id=user, timestamp="2024-05-01T00:00:00Z")
    items = api.get_all(user_id=user, limit=100)
    assert all(isinstance(i, MemoryItem) for i in items)
    assert api.count(user_id=user) == len(items)
    turn = next(i for i in items if i.source_ids == ("g4",))
    assert api.get(turn.id) == turn and api.get(turn.id, user_id=user) == turn
    with pytest.raises(NotFound):
        api.get(turn.id, user_id=uid())
    new = api.update(turn.id, "I am allergic to cats, shellfish and peanuts.")
    assert new.text.endswith("peanuts.") and new.id == turn.id and new.updated_at >= turn.updated_at
    assert "peanuts" in api.search("peanut allergy", user_id=user, limit=1)[0].text
    api.delete(turn.id, user_id=user)
    with pytest.raises(NotFound):
        api.get(turn.id)
    with pytest.raises(KeyError):  # NotFound is a KeyError too, on every face
        api.delete(turn.id)
    hist = api.history(turn.id, user_id=user)
    assert all(isinstance(h, HistoryEntry) for h in hist)
    assert [h.event for h in hist] == ["ADD", "UPDATE", "DELETE"]
    assert hist[1].old_text == "I am allergic to cats and shellfish." and hist[0].user_id == user
    assert isinstance(hist[0].at, datetime)
    with pytest.raises(NotFound):
        api.history(turn.id, user_id=uid())


def test_scopes_are_separate(api: Any) -> None:
    a, b = uid(), uid()
    api.add("I play the cello in an orchestra.", user_id=a, agent_id="coach")
    api.add("I play the drums in a punk band.", user_id=b)
    assert [h.user_id for h in api.search("what instrument?", user_id=b)] == [b]
    assert api.search("what instrument?", user_id=a, agent_id="other") == []
    assert len(api.search("what instrument?", user_id=a, agent_id="coach")) == 1
    assert api.delete_all(user_id=a) == 1 and api.count(user_id=a) == 0
    assert api.count(user_id=b) == 1


@pytest.mark.parametrize("call", [
    lambda m: m.add("", user_id="u"),
    lambda m: m.add("hi", user_id=""),
    lambda m: m.add("hi", user_id="u", timestamp="not a time"),
    lambda m: m.add([{"role": "wizard", "content": "hi"}], user_id="u"),
    lambda m: m.search("x", user_id="u", limit=0),
    lambda m: m.search("", user_id="u"),
    lambda m: m.get_all(user_id="u", limit=0),
    lambda m: m.summaries(user_id="u", kind="poem"),
], ids=["empty-text", "empty-user", "bad-time", "bad-role", "limit-0", "empty-query",
        "list-limit-0", "bad-kind"])
def test_invalid_input_is_the_same_error(api: Any, call: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        call(api)
    assert isinstance(err.value, ValueError) and str(err.value)


def test_missing_ids_are_not_found(api: Any) -> None:
    for call in (lambda: api.get("nope"), lambda: api.update("nope", "text"),
                 lambda: api.delete("nope"), lambda: api.history("nope"),
                 lambda: api.archive("nope"), lambda: api.restore("nope")):
        with pytest.raises(NotFound):
            call()


def test_archive_restore_supersede_as_of(api: Any) -> None:
    user = uid()
    old = api.add("I live in Porto.", user_id=user, timestamp="2023-01-01T00:00:00Z").memory_ids[0]
    new = api.add("I live in Lisbon now.", user_id=user,
                  timestamp="2024-06-01T00:00:00Z").memory_ids[0]
    assert api.archive(old, user_id=user, reason="stale").status == "archived"
    assert [h.id for h in api.search("where do I live", user_id=user)] == [new]
    assert api.restore(old).status == "active"
    gone = api.supersede(old, new, user_id=user)
    assert gone.superseded_by == new and gone.valid_to is not None
    assert [h.id for h in api.search("where do I live", user_id=user)] == [new]
    then = api.search("where do I live", user_id=user, as_of=datetime(2023, 6, 1))
    assert [h.id for h in then] == [old]
    assert [h.event for h in api.history(old)][-1] == "SUPERSEDE"


def test_export_then_import_restores_a_user(api: Any) -> None:
    user = uid()
    api.add(conversation("x"), user_id=user)
    before = sorted(i.text for i in api.get_all(user_id=user, type="all"))
    buf = io.StringIO()
    n = api.export(buf, user_id=user)
    assert sum(n.values()) == len(buf.getvalue().splitlines()) - 1  # records, not the header
    assert n["memories"] == len(before) and n["episodes"] == 5 and n["history"] >= len(before)
    api.delete_all(user_id=user)
    assert api.count(user_id=user) == 0
    buf.seek(0)
    counts = api.import_(buf)
    assert counts["memories"] == len(before)
    assert sorted(i.text for i in api.get_all(user_id=user, type="all")) == before


def test_maintain_and_summaries(api: Any) -> None:
    user = uid()
    api.add(conversation("m") * 1, user_id=user, session_id="s")
    report = api.maintain(user)
    assert report.users == 1 and not report.errors
    forget = MaintainConfig(dedupe=False, forget=ForgetPolicy(half_life_days=1, min_age_days=0))
    assert not api.maintain(user, config=forget).errors
    assert all(isinstance(s, MemoryItem) for s in api.summaries(user_id=user))


class QuotingLLM:
    """An LLM plug-in answering with the first memory of its prompt, citing it."""

    name = "quoting"

    def complete(self, messages: Any, *, json: bool = False, max_tokens: Any = None) -> Completion:
        prompt = messages[-1]["content"]
        first = next(line for line in prompt.splitlines() if line.startswith("[1]"))
        return Completion(text=json_module.dumps({"answer": first[4:].strip(), "sources": [1]}))


def test_answer_cites_the_callers_turn_ids(api: Any) -> None:
    user = uid()
    api.add(conversation("a"), user_id=user)
    a = api.answer("which rescue dog did Ana adopt?", user_id=user, llm=QuotingLLM())
    assert a.text and a.error is None and a.source_ids and "Pimenta" in a.context


def test_forget_user_is_the_same_everywhere(api: Any) -> None:
    """Issue 15, item 4: the erasure through every kind of object."""
    user = uid()
    api.add("my secret is plum", user_id=user)
    api.add("and kiwi", user_id=user, session_id="s")
    counts = api.forget_user(user)
    assert counts["memories"] == 2 and counts["episodes"] == 2
    assert api.get_all(user_id=user) == [] and api.count(user_id=user) == 0
    assert api.forget_user(user)["memories"] == 0
    with pytest.raises(InvalidInput):
        api.forget_user("")
