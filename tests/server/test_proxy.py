"""The chat proxy (``remem serve --upstream URL``): a real server forwarding to the loopback
fake OpenAI server of ``fakellm``, with a real HTTP client. Memories go in, the reply
comes back in OpenAI's shape, the exchange is stored, and failures store nothing."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from fakellm import FakeOpenAI
from remem.errors import InvalidInput
from remem.server.proxy import MEMORY_HEADER, last_user_message, with_memories
from remem.server.settings import Settings

from .kit import Server, assert_error, free_port

UPSTREAM_KEY = "sk-upstream-secret"  # the server's key for the upstream, from the environment


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    f = FakeOpenAI()
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAI) -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as mp:  # the server process inherits this environment
        mp.setenv("REMEM_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
        s = Server(tmp_path_factory.mktemp("proxy"), "--upstream", fake.url, "--upstream-model",
                   "fake-model", "--upstream-key-env", "REMEM_TEST_UPSTREAM_KEY",
                   "--upstream-retries", "1", "--proxy-budget-tokens", "300",
                   "--max-body-bytes", "65536")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def keys(proxy: Server) -> dict[str, str]:
    return {t: str(proxy.create_key("--tenant", t)["key"]) for t in ("acme", "other")}


@pytest.fixture
def fresh(fake: FakeOpenAI) -> FakeOpenAI:
    fake.script.clear()
    fake.requests.clear()
    return fake


def _add(c: httpx.Client, user: str, text: str) -> None:
    r = c.post("/v1/memories", json={"user_id": user, "messages": [
        {"role": "user", "name": user.title(), "content": text}]})
    assert r.status_code == 201, r.text


def _texts(c: httpx.Client, user: str, **params: str) -> list[str]:
    r = c.get("/v1/memories", params={"user_id": user, "limit": 200, **params})
    assert r.status_code == 200, r.text
    return [m["text"] for m in r.json()["memories"]]


def test_injects_the_users_memories_forwards_and_records(proxy: Server, keys: dict[str, str],
                                                         fresh: FakeOpenAI) -> None:
    with proxy.client(keys["acme"]) as a, proxy.client(keys["other"]) as b:
        _add(a, "ana", "I adopted a rescue dog called Pimenta last weekend.")
        _add(a, "bob", "My rescue dog is called Whiskerfield.")  # same tenant, other user
        _add(b, "ana", "My rescue dog is called Honeycomb.")  # other tenant, same user id
        fresh.script.append((200, "Your dog is called Pimenta.", 0))
        caller = [{"role": "system", "content": "You are a kind assistant."},
                  {"role": "user", "name": "Ana", "content": "What is my rescue dog called?"}]
        r = a.post("/v1/chat/completions", headers={"X-Remem-Session": "chat-1"}, json={
            "messages": caller, "user": "ana", "temperature": 0.3, "max_tokens": 50,
            "stream": False})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["object"] == "chat.completion" and out["id"].startswith("chatcmpl-")
        assert out["model"] == "fake-model" and isinstance(out["created"], int)
        assert out["choices"][0]["message"] == {"role": "assistant",
                                                "content": "Your dog is called Pimenta."}
        assert out["usage"] == {"prompt_tokens": 100, "completion_tokens": 10}
        assert int(r.headers["X-Remem-Memories"]) >= 1 and r.headers["X-Remem-Recorded"] == "true"

        [sent] = fresh.requests
        body = sent["body"]
        assert sent["auth"] == f"Bearer {UPSTREAM_KEY}"  # the server's key, never the caller's
        assert body["model"] == "fake-model" and body["temperature"] == 0.3
        assert body["max_tokens"] == 50 and body["user"] == "ana"
        assert "stream" not in body and "session_id" not in body
        msgs = body["messages"]
        assert msgs[0] == caller[0] and msgs[2:] == caller[1:]  # injected after the system one
        assert msgs[1]["role"] == "system" and msgs[1]["content"].startswith(MEMORY_HEADER)
        assert "Pimenta" in msgs[1]["content"]
        assert "Whiskerfield" not in msgs[1]["content"] and "Honeycomb" not in msgs[1]["content"]

        # the exchange is ana's (tenant acme), in the session given, and searchable
        stored = _texts(a, "ana", session_id="chat-1")
        assert "What is my rescue dog called?" in stored and "Your dog is called Pimenta." in stored
        hits = a.post("/v1/search", json={"user_id": "ana", "query": "dog called Pimenta"}).json()
        assert "Your dog is called Pimenta." in {h["text"] for h in hits["hits"]}
        assert "Your dog is called Pimenta." not in _texts(b, "ana")
        assert "Your dog is called Pimenta." not in _texts(a, "bob")

        # tenant "other", user "ana" (header form, model from the request): only its own fact
        fresh.script.append((200, "Honeycomb, I believe.", 0))
        r = b.post("/v1/chat/completions", headers={"X-Remem-User": "ana"}, json={
            "model": "big-model", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is my rescue dog called?"}]}]})
        assert r.status_code == 200, r.text
        msgs = fresh.requests[-1]["body"]["messages"]
        assert fresh.requests[-1]["body"]["model"] == "big-model" == r.json()["model"]
        assert msgs[0]["role"] == "system" and "Honeycomb" in msgs[0]["content"]  # first: none
        assert "Pimenta" not in msgs[0]["content"]
        assert "Honeycomb, I believe." in _texts(b, "ana")


def test_a_user_without_memories_gets_none_injected(proxy: Server, keys: dict[str, str],
                                                    fresh: FakeOpenAI) -> None:
    fresh.script.append((200, "Hello!", 0))
    with proxy.client(keys["acme"]) as a:
        r = a.post("/v1/chat/completions", json={
            "user": "newcomer", "messages": [{"role": "user", "content": "Hi there"}]})
        assert r.status_code == 200, r.text
        assert r.headers["X-Remem-Memories"] == "0"
        assert fresh.requests[-1]["body"]["messages"] == [{"role": "user", "content": "Hi there"}]
        assert {"Hello!", "Hi there"} <= set(_texts(a, "newcomer"))  # (+ a session segment)


def test_bad_requests_are_refused_before_the_upstream(proxy: Server, keys: dict[str, str],
                                                      fresh: FakeOpenAI) -> None:
    hello = [{"role": "user", "content": "hello"}]
    with proxy.client(keys["acme"]) as a, proxy.client() as anon:
        e = assert_error(a.post("/v1/chat/completions", json={"messages": hello}), 422,
                         "invalid_input")
        assert "user" in e["message"] and "X-Remem-User" in e["message"]
        e = assert_error(a.post("/v1/chat/completions", json={
            "messages": [{"role": "system", "content": "be nice"}], "user": "ana"}), 422)
        assert "user message" in e["message"]
        assert_error(a.post("/v1/chat/completions", json={"messages": hello, "user": "x::ana"}),
                     422, "invalid_input")  # no reaching into another tenant
        assert_error(a.post("/v1/chat/completions", json={"messages": [], "user": "ana"}), 422)
        assert_error(a.post("/v1/chat/completions", json={"messages": hello, "user": "ana",
                                                          "x": "y" * 70_000}), 413)
        assert_error(anon.post("/v1/chat/completions", json={"messages": hello, "user": "ana"}),
                     401, "unauthorized")
    assert fresh.requests == []


def test_upstream_failures_are_502_and_record_nothing(proxy: Server, keys: dict[str, str],
                                                      fresh: FakeOpenAI) -> None:
    ask = {"user": "carla", "messages": [{"role": "user", "content": "Remember my cat Mochi?"}]}
    with proxy.client(keys["acme"]) as a:
        fresh.script.extend([(500, "", 0), (503, "", 0)])  # --upstream-retries 1: two attempts
        e = assert_error(a.post("/v1/chat/completions", json=ask), 502, "upstream_error")
        assert "2 attempt" in e["message"] and "HTTP 503" in e["message"]
        assert len(fresh.requests) == 2
        fresh.script.append((200, b'{"choices": "nope"}', 0))
        assert_error(a.post("/v1/chat/completions", json=ask), 502, "upstream_error")
        fresh.script.append((200, b"<html>not json", 0))
        assert "malformed" in assert_error(a.post("/v1/chat/completions", json=ask), 502)["message"]
        fresh.script.append((401, "", 0))
        e = assert_error(a.post("/v1/chat/completions", json=ask), 502, "upstream_error")
        assert "credentials" in e["message"] and UPSTREAM_KEY not in e["message"]
        fresh.script.append((404, "", 0))  # e.g. an unknown model: the caller's to fix
        e = assert_error(a.post("/v1/chat/completions", json=ask), 400, "upstream_rejected")
        assert "HTTP 404" in e["message"]
        assert len(fresh.requests) == 6  # no retries of a 4xx or of a malformed reply
        assert _texts(a, "carla") == []


def test_a_failed_recording_still_returns_the_reply(proxy: Server, keys: dict[str, str],
                                                    fresh: FakeOpenAI) -> None:
    long_reply = "word " * 25_000  # longer than an episode may be: the add is refused
    fresh.script.append((200, long_reply, 0))
    with proxy.client(keys["acme"]) as a:
        r = a.post("/v1/chat/completions", json={
            "user": "dana", "messages": [{"role": "user", "content": "Tell me a long story"}]})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == long_reply
        assert r.headers["X-Remem-Recorded"] == "false"
        assert _texts(a, "dana") == []  # one transaction: not even the user message
    assert "recording the exchange" in proxy.stderr()


def test_unreachable_upstream_is_502(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    s = Server(tmp_path, "--no-auth", "--upstream", dead, "--upstream-retries", "0",
               "--upstream-model", "m")
    try:
        with s.client() as c:
            r = c.post("/v1/chat/completions", json={
                "user": "ana", "messages": [{"role": "user", "content": "hello?"}]})
            e = assert_error(r, 502, "upstream_error")
            assert "ConnectionRefused" in e["message"] and dead not in e["message"]
            assert _texts(c, "ana") == []
    finally:
        s.stop()


def test_the_proxy_is_off_without_upstream(server: Server, new_key: Any) -> None:
    with server.client(new_key("noproxy")) as c:
        e = assert_error(c.post("/v1/chat/completions", json={
            "user": "ana", "messages": [{"role": "user", "content": "hello"}]}), 404, "not_found")
        assert "--upstream" in e["message"]


def test_the_documented_example_works(proxy: Server, keys: dict[str, str],
                                      fresh: FakeOpenAI) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "server.md").read_text(encoding="utf-8")
    [call] = re.findall(r"curl -sS -X POST localhost:842\d/v1/chat/completions(.*?)\n#",
                        doc, flags=re.S)
    headers = dict(re.findall(r"-H '([\w-]+): ([^']*)'", call))
    body = json.loads(re.search(r"-d '(.*)'", call).group(1))  # type: ignore[union-attr]
    fresh.script.append((200, "Pimenta!", 0))
    with proxy.client(keys["acme"]) as a:
        r = a.post("/v1/chat/completions", headers=headers, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "Pimenta!"
        session = headers["X-Remem-Session"]
        assert "Pimenta!" in _texts(a, body["user"], session_id=session)


def test_helpers_and_settings() -> None:
    msgs = [{"role": "system", "content": "a"}, {"role": "developer", "content": "b"},
            {"role": "user", "content": "q1", "name": "Ana"},
            {"role": "assistant", "content": "r"}, {"role": "user", "content": "  "}]
    assert last_user_message(msgs) == ("q1", "Ana")  # a blank last message is no query
    out = with_memories(msgs, "Ana likes figs")
    assert out[:2] == msgs[:2] and out[3:] == msgs[2:] and "Ana likes figs" in out[2]["content"]
    assert with_memories(msgs, " ") == msgs
    for bad in ([{"role": "assistant", "content": "x"}], [{"role": "user", "content": 5}]):
        with pytest.raises(InvalidInput):
            last_user_message(bad)
    assert "sk-x" not in repr(Settings(upstream_url="http://h/v1", upstream_key="sk-x"))
    for kw in ({"upstream_url": "ftp://h"}, {"upstream_url": "http://"},
               {"upstream_timeout": 0}, {"upstream_retries": -1}, {"proxy_budget_tokens": 0}):
        with pytest.raises(InvalidInput):
            Settings(**kw)  # type: ignore[arg-type]
    assert os.environ.get("REMEM_TEST_UPSTREAM_KEY") is None  # the fixture cleaned up
