"""The LLM plug-in against a real HTTP server on loopback speaking the OpenAI chat
completions protocol, with scripted replies (good, broken, slow, failing)."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest

from remem import HashingEmbedder, LLMError, Memory
from remem.llm import OpenAIChat, parse_json

from fakellm import FakeOpenAI


@pytest.fixture()
def fake() -> Iterator[FakeOpenAI]:
    f = FakeOpenAI()
    yield f
    f.close()


@pytest.fixture()
def mem(tmp_path):  # noqa: ANN001, ANN201
    with Memory(tmp_path / "m.db", embedder=HashingEmbedder()) as m:
        m.add([
            {"role": "user", "name": "Ana", "id": "t1", "content": "I adopted a dog named Pimenta."},
            {"role": "user", "name": "Max", "id": "t2", "content": "What breed is Pimenta?"},
            {"role": "user", "name": "Ana", "id": "t3", "content": "Pimenta is a border collie mix."},
        ], user_id="ana", timestamp="2025-04-14T09:30:00Z")
        yield m


def client(fake: FakeOpenAI, **kw: Any) -> OpenAIChat:
    return OpenAIChat("test-model", base_url=fake.url, api_key="sk-test", backoff=0.01, **kw)


def reply(answer: str, sources: list[Any]) -> str:
    return json.dumps({"answer": answer, "sources": sources})


def test_answer_cites_callers_turn_ids_and_counts_tokens(fake, mem) -> None:  # noqa: ANN001
    llm = client(fake)
    before = len(mem.get_all(user_id="ana"))
    # find which prompt number holds t3, then script the reply to cite it
    hits = list(mem.search("What breed is Ana's dog?", user_id="ana", budget_tokens=1500,
                           limit=50))
    n = next(i for i, h in enumerate(hits, start=1) if h.source_ids == ("t3",))
    fake.script = [(200, reply("A border collie mix.", [n, 99, "x"]), 0)]
    a = mem.answer("What breed is Ana's dog?", user_id="ana", llm=llm)
    assert a.text == "A border collie mix."
    assert a.source_ids == ("t3",)  # 99 and "x" were made up and dropped
    assert "border collie" in a.context and a.error is None
    req = fake.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["response_format"] == {"type": "json_object"}
    assert "[" in req["body"]["messages"][1]["content"]  # numbered memories in the prompt
    assert llm.usage.snapshot()["calls"] == 1
    assert llm.usage.snapshot()["prompt_tokens"] == 100
    assert a.usage["completion_tokens"] == 10
    assert len(mem.get_all(user_id="ana")) == before  # answering never writes


@pytest.mark.parametrize("content", [
    "not json at all", "", "{\"answer\": \"\"}", "[1, 2, 3]", b"{\"choices\": []}",
    b"<html>gateway</html>",
])
def test_broken_replies_degrade_to_context(fake, mem, content, caplog) -> None:  # noqa: ANN001
    fake.script = [(200, content, 0)]
    a = mem.answer("What breed is Pimenta?", user_id="ana", llm=client(fake, retries=0))
    assert a.text is None and a.error
    assert a.context and set(a.source_ids) >= {"t3"}
    assert "LLM unusable" in caplog.text


def test_fenced_and_chatty_json_is_accepted(fake, mem) -> None:  # noqa: ANN001
    fake.script = [(200, "Sure!\n```json\n" + reply("Pimenta.", [1]) + "\n```", 0)]
    a = mem.answer("What is the dog called?", user_id="ana", llm=client(fake))
    assert a.text == "Pimenta." and a.source_ids


def test_retries_5xx_and_429_then_succeeds(fake) -> None:  # noqa: ANN001
    fake.script = [(500, None, 0), (429, None, 0), (200, "hello", 0)]
    llm = client(fake, retries=2)
    assert llm.complete([{"role": "user", "content": "hi"}]).text == "hello"
    assert llm.usage.snapshot()["retries"] == 2 and llm.usage.snapshot()["calls"] == 1


def test_client_errors_fail_fast_without_retry(fake) -> None:  # noqa: ANN001
    fake.script = [(401, None, 0), (200, "never reached", 0)]
    llm = client(fake, retries=3)
    with pytest.raises(LLMError, match="401"):
        llm.complete([{"role": "user", "content": "hi"}])
    assert len(fake.requests) == 1 and llm.usage.snapshot()["failures"] == 1


def test_server_without_json_mode_is_asked_plainly(fake) -> None:  # noqa: ANN001
    fake.script = [(400, None, 0), (200, "{\"ok\": true}", 0)]
    c = client(fake).complete([{"role": "user", "content": "hi"}], json=True)
    assert parse_json(c.text) == {"ok": True}
    assert "response_format" in fake.requests[0]["body"]
    assert "response_format" not in fake.requests[1]["body"]


def test_slow_server_times_out_and_answer_degrades(fake, mem) -> None:  # noqa: ANN001
    fake.script = [(200, reply("late", [1]), 1.0), (200, reply("late", [1]), 1.0)]
    llm = client(fake, timeout=0.2, retries=1)
    t0 = time.perf_counter()
    a = mem.answer("dog?", user_id="ana", llm=llm)
    assert a.text is None and "attempts" in (a.error or "")
    assert time.perf_counter() - t0 < 5
    assert llm.usage.snapshot()["failures"] == 1


def test_unreachable_endpoint_is_an_llm_error() -> None:
    llm = OpenAIChat("m", base_url="http://127.0.0.1:9/v1", retries=1, backoff=0.01, timeout=1)
    with pytest.raises(LLMError, match="attempts"):
        llm.complete([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": [1, 2,]}\n```', {"a": [1, 2]}),
    ('Here you go: {"a": "x}y", "b": {"c": 2}} thanks', {"a": "x}y", "b": {"c": 2}}),
    ("[1, 2, 3]", [1, 2, 3]),
    ('noise {"a": 1,} more', {"a": 1}),
])
def test_parse_json_is_tolerant(text, expected) -> None:  # noqa: ANN001
    assert parse_json(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "no json", "{broken", None])
def test_parse_json_raises_llm_error(text) -> None:  # noqa: ANN001
    with pytest.raises(LLMError):
        parse_json(text)
