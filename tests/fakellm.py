"""A real HTTP server on loopback that speaks the OpenAI chat completions protocol with
scripted replies, for tests of everything that calls an LLM (``import fakellm``)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    """Serves POST /v1/chat/completions from a script of (status, content, delay)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any, float]] = []
        # with an empty script: reply default(request body) (a str), or "{}" when None
        self.default: Any = None
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body,
                                      "auth": self.headers.get("Authorization")})
                if fake.script:
                    status, content, delay = fake.script.pop(0)
                else:
                    status, delay = 200, 0
                    content = fake.default(body) if fake.default else "{}"
                time.sleep(delay)
                if status == 400 and "response_format" not in body:
                    status = 200  # scripted "no JSON mode" servers accept plain requests
                if status != 200:
                    payload = json.dumps({"error": {"message": "scripted"}}).encode()
                elif isinstance(content, bytes):
                    payload = content
                else:
                    payload = json.dumps({
                        "model": body["model"],
                        "choices": [{"message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 10}}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def parrot_facts(body: dict[str, Any]) -> str:
    """An extraction reply that turns every turn line ``T<n> [date] Speaker: text`` of the
    prompt into one ADD fact citing it (a stand-in for a real model's output shape)."""
    prompt = body["messages"][-1]["content"]
    items = []
    for line in prompt.splitlines():
        head, _, text = line.partition("] ")
        if line.startswith("T") and text:
            items.append({"text": text, "type": "fact", "sources": [head.split(" ")[0]],
                          "date": None, "action": "ADD", "replaces": None})
    return json.dumps({"facts": items})
