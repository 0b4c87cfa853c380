"""LLM extraction (ADD / SUPERSEDE / NOOP with provenance) against a real loopback server
speaking the OpenAI protocol, including broken replies: the turns are never lost."""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterator

import pytest

from remem import HashingEmbedder, InvalidInput, Memory
from remem.ingest.facts import build_prompt, parse_facts
from remem.llm import OpenAIChat

from fakellm import FakeOpenAI

SESSION = [
    {"role": "user", "name": "Ana", "id": "a1", "content": "I live in Lisbon with my dog Pimenta."},
    {"role": "user", "name": "Max", "id": "a2", "content": "Nice! How long have you lived in Lisbon?"},
    {"role": "user", "name": "Ana", "id": "a3", "content": "Five years. I love pastel de nata."},
]


@pytest.fixture()
def fake() -> Iterator[FakeOpenAI]:
    f = FakeOpenAI()
    yield f
    f.close()


@pytest.fixture()
def mem(tmp_path, fake):  # noqa: ANN001, ANN201
    llm = OpenAIChat("test-model", base_url=fake.url, backoff=0.01, timeout=1.0, retries=1)
    with Memory(tmp_path / "m.db", embedder=HashingEmbedder(), llm=llm) as m:
        yield m


def facts(*items: dict[str, Any]) -> str:
    return json.dumps({"facts": list(items)})


def test_parse_facts_validates_every_item() -> None:
    reply = {"facts": [
        {"text": "Ana lives in Lisbon.", "type": "fact", "sources": ["T1", "T9"], "action": "ADD"},
        {"text": "Ana loves pastel de nata.", "type": "preference", "sources": ["[T3]"],
         "date": "2023-05-01", "action": "add"},
        {"text": "made up", "type": "fact", "sources": ["T7"]},  # no real source
        {"text": "Ana moved.", "type": "fact", "sources": ["T1"], "action": "SUPERSEDE",
         "replaces": "K4"},  # unknown target: just new information
        {"text": "Ana lives in Lisbon", "type": "fact", "sources": ["T1"], "action": "NOOP",
         "replaces": "K9"},  # unknown target: dropped
        {"text": "x", "type": "opinion", "sources": ["T1"]},  # unknown type
        {"text": "y", "type": "fact", "sources": ["T1"], "date": "next week"},
        "junk",
    ]}
    got, dropped = parse_facts(reply, n_turns=3, n_known=1)
    assert [f.text for f in got] == ["Ana lives in Lisbon.", "Ana loves pastel de nata.",
                                     "Ana moved.", "y"]
    assert got[0].sources == (0,) and got[1].sources == (2,) and got[1].date == "2023-05-01"
    assert got[2].action == "ADD" and got[2].replaces is None
    assert got[3].date is None  # not a date: ignored, not guessed
    assert dropped == 4
    with pytest.raises(Exception):
        parse_facts({"no": "facts"}, 3, 0)


def test_extraction_adds_facts_with_provenance_in_one_call(mem, fake) -> None:  # noqa: ANN001
    fake.script = [(200, facts(
        {"text": "Ana lives in Lisbon with her dog Pimenta.", "type": "fact",
         "sources": ["T1", "T3"], "date": None, "action": "ADD", "replaces": None},
        {"text": "Ana loves pastel de nata.", "type": "preference", "sources": ["T3"],
         "action": "ADD"},
        {"text": "Ana owns a cat.", "type": "fact", "sources": ["T42"], "action": "ADD"}), 0)]
    r = mem.add(SESSION, user_id="ana", timestamp="2023-05-08T10:00:00Z")
    assert len(fake.requests) == 1  # one call for the whole batch
    prompt = fake.requests[0]["body"]["messages"][1]["content"]
    assert "T1 [2023-05-08] Ana: I live in Lisbon" in prompt and "T3" in prompt
    assert r.llm_error is None and len(r.fact_ids) == 2  # the made-up T42 item is dropped
    first = mem.get(r.fact_ids[0])
    assert first.type == "fact" and first.source_ids == ("a1", "a3")
    assert mem.get(r.fact_ids[1]).type == "preference"
    assert mem.history(r.fact_ids[0])[0].actor == "llm"
    hits = mem.search("where does Ana live", user_id="ana")
    assert r.fact_ids[0] in {h.id for h in hits}
    assert len([i for i in mem.get_all(user_id="ana") if i.type == "turn"]) == 3  # turns kept
    assert mem.llm.usage.snapshot()["calls"] == 1


def test_supersede_and_noop_decisions_use_known_facts(mem, fake) -> None:  # noqa: ANN001
    fake.script = [(200, facts({"text": "Ana lives in Lisbon.", "type": "fact",
                                "sources": ["T1"], "action": "ADD"}), 0)]
    old = mem.add(SESSION, user_id="ana", timestamp="2023-05-08T10:00:00Z").fact_ids[0]
    fake.script = [(200, facts(
        {"text": "Ana lives in Porto.", "type": "fact", "sources": ["T1"], "date": "2024-02-01",
         "action": "SUPERSEDE", "replaces": "K1"},
        {"text": "Ana lives in Lisbon.", "type": "fact", "sources": ["T1"], "action": "NOOP",
         "replaces": "K1"}), 0)]
    r = mem.add([{"role": "user", "name": "Ana", "id": "b1",
                  "content": "I no longer live in Lisbon, I live in Porto now."}],
                user_id="ana", timestamp="2024-02-10T10:00:00Z")
    prompt = fake.requests[-1]["body"]["messages"][1]["content"]
    assert re.search(r"K1 \[2023-05-08\] Ana lives in Lisbon\.", prompt)  # known fact shown
    assert len(r.fact_ids) == 1  # the NOOP added nothing
    new = r.fact_ids[0]
    assert mem.get(old).superseded_by == new and mem.get(old).valid_to is not None
    assert mem.get(new).valid_from.date().isoformat() == "2024-02-01"
    assert mem.history(old)[-1].event == "SUPERSEDE" and mem.history(old)[-1].actor == "llm"
    # (facts only: a fact whose source turn ranks above it is left out as covered)
    facts_only = {"type": "fact"}
    now = {h.id for h in mem.search("where does Ana live Lisbon Porto", user_id="ana", limit=50,
                                    filters=facts_only)}
    assert new in now and old not in now
    then = {h.id for h in mem.search("where does Ana live Lisbon Porto", user_id="ana",
                                     limit=50, as_of="2023-12-01", filters=facts_only)}
    assert old in then and new not in then
    assert mem.get(old).text == "Ana lives in Lisbon."  # never rewritten


@pytest.mark.parametrize("script", [
    [(200, "this is not json at all", 0)],
    [(200, "", 0)],
    [(200, json.dumps({"answer": "wrong shape"}), 0)],
    [(500, "", 0), (503, "", 0)],
    [(200, facts({"text": "slow", "type": "fact", "sources": ["T1"]}), 1.5)] * 2,
], ids=["invalid-json", "empty", "wrong-shape", "5xx", "slow"])
def test_broken_llm_degrades_to_llm_free_add(mem, fake, script, caplog) -> None:  # noqa: ANN001
    fake.script = list(script)
    with caplog.at_level(logging.WARNING, logger="remem.facts"):
        r = mem.add(SESSION, user_id="ana")
    assert r.llm_error and r.fact_ids == ()
    assert len(r.memory_ids) >= 3  # every turn stored
    assert any("kept them without facts" in m for m in caplog.messages)
    assert {"a1", "a2", "a3"} <= {s for h in mem.search("Lisbon dog pastel", user_id="ana",
                                                       limit=20) for s in h.source_ids}
    assert [i for i in mem.get_all(user_id="ana", limit=100) if i.type != "turn"
            and i.type != "segment"] == []


def test_calls_are_batched_per_turns_not_per_turn(tmp_path, fake) -> None:  # noqa: ANN001
    fake.default = lambda body: facts()
    llm = OpenAIChat("m", base_url=fake.url, backoff=0.01)
    with Memory(tmp_path / "b.db", embedder=HashingEmbedder(), llm=llm,
                llm_batch_turns=40) as m:
        turns = [{"role": "user", "name": "Ana" if i % 2 else "Max", "id": f"t{i}",
                  "content": f"message number {i} about topic {i % 7}"} for i in range(100)]
        for start in range(0, 100, 25):  # four sessions of 25 turns
            m.add(turns[start:start + 25], user_id="ana")
        assert llm.usage.snapshot()["calls"] == 4  # <= 10 per 100 turns
        m.add(turns[:0] + [{"role": "user", "content": f"x{i}"} for i in range(100)],
              user_id="bob")
        assert llm.usage.snapshot()["calls"] == 4 + 3  # 100 turns in one add: 40+40+20
    with pytest.raises(InvalidInput):
        Memory(":memory:", embedder=HashingEmbedder(), llm=object())
    with pytest.raises(InvalidInput):
        Memory(":memory:", embedder=HashingEmbedder(), llm=llm, llm_batch_turns=0)


def test_build_prompt_lists_turns_and_known_facts() -> None:
    from remem.types import MemoryRecord, Scope

    rec = MemoryRecord(id="x", scope=Scope("u"), text="hello", type="turn", source_ids=("s",),
                       episode_ids=("e",), created_at=0, updated_at=0, event_time=86400.0,
                       speaker="Ana")
    msgs = build_prompt([rec], [])
    assert msgs[0]["role"] == "system" and "SUPERSEDE" in msgs[0]["content"]
    assert "T1 [1970-01-02] Ana: hello" in msgs[1]["content"]
    assert "Known facts: (none)" in msgs[1]["content"]


def test_bench_locomo_reports_llm_cost(tmp_path, fake, capsys) -> None:  # noqa: ANN001
    from fakellm import parrot_facts
    from remem.cli import main
    from cli.test_cli import CONVERSATION, QA

    data = tmp_path / "conv-7.json"
    data.write_text(json.dumps({**CONVERSATION, "qa": QA}), encoding="utf-8")
    fake.default = parrot_facts
    capsys.readouterr()
    assert main(["--db", str(tmp_path / "x.db"), "--embedder", "hashing", "bench", "locomo",
                 str(data), "--llm", fake.url, "--llm-model", "fake"]) == 0
    result = json.loads(capsys.readouterr().out)
    u = result["llm"]
    assert u["calls"] == 2 and u["failures"] == 0  # one per session, 7 turns
    assert u["calls_per_100_turns"] == pytest.approx(200 / 7, abs=0.01)
    assert u["prompt_tokens"] == 200 and u["model"] == "openai:fake"
    assert result["overall"]["n"] == 3
