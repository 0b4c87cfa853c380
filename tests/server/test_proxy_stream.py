"""Streaming through the chat proxy with the real ``openai`` package as the client,
against a loopback upstream that streams server-sent events with pauses: chunks reach
the caller as they are sent, the exchange is recorded when the stream ends, nothing is
recorded when it fails midway, and bad messages never reach the upstream."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest

from .kit import Server, assert_error


class StreamingUpstream:
    """POST /v1/chat/completions answered by ``mode``: "ok" (the words of ``reply`` as
    chunks, ``pause`` s apart, then [DONE]), "cut" (two chunks, then the connection
    closes), "stall" (one chunk, then silence), "json" (a plain completion: an upstream
    that ignores ``stream``), or an int status for the next ``fail`` requests."""

    def __init__(self) -> None:
        self.mode: Any = "ok"
        self.reply = "Your dog is called Pimenta ."
        self.pause = 0.25
        self.fail = 0
        self.requests: list[dict[str, Any]] = []
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                up.requests.append(body)
                if up.fail:
                    up.fail -= 1
                    self._send(503, b'{"error": {"message": "busy"}}', "application/json")
                    return
                if up.mode == "json" or not body.get("stream"):
                    self._send(200, json.dumps({"id": "c1", "model": body["model"], "choices": [{
                        "index": 0, "message": {"role": "assistant", "content": up.reply},
                        "finish_reason": "stop"}]}).encode(), "application/json")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                words = up.reply.split(" ")
                for i, word in enumerate(words):
                    if (up.mode == "cut" and i == 2) or (up.mode == "stall" and i == 1):
                        if up.mode == "stall":
                            time.sleep(5)
                        self.close_connection = True
                        return
                    piece = word if i == 0 else " " + word
                    self._chunk({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                                 "model": body["model"], "choices": [{
                                     "index": 0, "delta": {"content": piece},
                                     "finish_reason": None}]})
                    time.sleep(up.pause)
                self._chunk({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                             "model": body["model"], "choices": [{
                                 "index": 0, "delta": {}, "finish_reason": "stop"}]})
                self._raw(b"data: [DONE]\n\n")
                self._raw(b"")

            def _chunk(self, obj: Any) -> None:
                self._raw(f"data: {json.dumps(obj)}\n\n".encode())

            def _raw(self, data: bytes) -> None:
                try:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[StreamingUpstream]:
    u = StreamingUpstream()
    try:
        yield u
    finally:
        u.close()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory,
          upstream: StreamingUpstream) -> Iterator[tuple[Server, str]]:
    s = Server(tmp_path_factory.mktemp("stream"), "--upstream", upstream.url,
               "--upstream-model", "fake-model", "--upstream-timeout", "1",
               "--upstream-retries", "1")
    try:
        yield s, str(s.create_key("--tenant", "acme")["key"])
    finally:
        s.stop()


@pytest.fixture
def up(upstream: StreamingUpstream) -> StreamingUpstream:
    upstream.mode, upstream.fail, upstream.pause = "ok", 0, 0.25
    upstream.requests.clear()
    return upstream


@pytest.fixture
def client(proxy: tuple[Server, str]) -> Iterator[openai.OpenAI]:
    """The official client, pointed at remem serve instead of the LLM."""
    server, key = proxy
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as c:
        yield c


def _turns(proxy: tuple[Server, str], user: str) -> list[dict[str, Any]]:
    server, key = proxy
    r = httpx.get(f"{server.url}/v1/memories", params={"user_id": user, "limit": 100},
                  headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return [m for m in r.json()["memories"] if m["type"] == "turn"]


def _wait_turns(proxy: tuple[Server, str], user: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        turns = _turns(proxy, user)
        if len(turns) >= n or time.monotonic() > deadline:
            return turns
        time.sleep(0.05)


def test_chunks_arrive_as_sent_and_the_exchange_is_recorded(proxy: Any, up: Any, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="fake-model", user="ana", messages=[
        {"role": "user", "content": "I adopted a dog called Pimenta."}])  # plain, recorded
    up.requests.clear()
    t0 = time.perf_counter()
    arrivals, pieces = [], []
    stream = client.chat.completions.create(
        model="fake-model", user="ana", stream=True, stream_options={"include_usage": False},
        messages=[{"role": "user", "name": "Ana", "content": "What is my dog called?"}])
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - t0)
            pieces.append(chunk.choices[0].delta.content)
    assert "".join(pieces) == up.reply
    assert arrivals[0] < arrivals[-1] - 0.6  # the first words came before the last were sent
    sent = up.requests[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": False}
    assert "Pimenta" in sent["messages"][0]["content"]  # memories injected as usual
    turns = _wait_turns(proxy, "ana", 4)
    assert [t["text"] for t in turns[-2:]] == ["What is my dog called?", up.reply]
    assert turns[-2]["speaker"] == "Ana"


def test_a_stream_failing_midway_records_nothing(proxy: Any, up: Any, client: openai.OpenAI) -> None:
    for mode in ("cut", "stall"):
        up.mode = mode
        with pytest.raises(openai.APIError, match="failed midway"):
            for _ in client.chat.completions.create(
                    model="fake-model", user=f"bo-{mode}", stream=True,
                    messages=[{"role": "user", "content": "Tell me a story"}]):
                pass
        time.sleep(0.2)
        assert _turns(proxy, f"bo-{mode}") == []


def test_retries_before_the_first_byte_and_plain_json_upstreams(proxy: Any, up: Any, client: openai.OpenAI) -> None:
    up.fail = 1  # one 503, then the retry streams
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="fake-model", user="cy", stream=True,
        messages=[{"role": "user", "content": "hello"}]) if c.choices)
    assert text == up.reply and len(up.requests) == 2
    up.mode = "json"
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="fake-model", user="cy", stream=True,
        messages=[{"role": "user", "content": "hello again"}]) if c.choices)
    assert text == up.reply
    assert len(_wait_turns(proxy, "cy", 4)) == 4
    up.mode, up.fail = "ok", 5  # failing before any byte: a plain 502, nothing recorded
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="fake-model", user="dee", stream=True,
                                       messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 502 and _turns(proxy, "dee") == []


@pytest.mark.parametrize("messages,match", [
    ([{"role": "wizard", "content": "hi"}], "role"),
    (["hi"], "dictionary"),  # pydantic: messages are objects
    ([{"role": "user"}], "content is missing"),
    ([{"role": "user", "content": 42}], "content must be"),
    ([{"role": "user", "content": [{"text": "no type"}]}], "parts"),
    ([{"role": "user", "content": "hi", "name": 7}], "name"),
])
def test_bad_messages_never_reach_the_upstream(proxy: Any, up: Any, messages: Any,
                                               match: str) -> None:
    server, key = proxy
    for stream in (False, True):
        r = httpx.post(f"{server.url}/v1/chat/completions", headers={
            "Authorization": f"Bearer {key}"}, json={"messages": messages, "user": "eve",
                                                     "stream": stream})
        assert match in assert_error(r, 422, "invalid_input")["message"]
    assert up.requests == []


def test_the_speaker_header_names_the_user_turn(proxy: Any, up: Any, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="fake-model", user="fay",
                                   messages=[{"role": "user", "content": "I like jazz."}],
                                   extra_headers={"X-Remem-Speaker": "Fay"})
    turns = _wait_turns(proxy, "fay", 2)
    assert turns[0]["speaker"] == "Fay" and turns[1]["speaker"] is None


def test_assistant_tool_calls_without_content_are_accepted(proxy: Any, up: Any, client: openai.OpenAI) -> None:
    up.pause = 0.0
    out = client.chat.completions.create(model="fake-model", user="gil", messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "user", "content": "thanks, and tomorrow?"}])
    assert out.choices[0].message.content == up.reply


