"""Issue 15, item 7: the proxy's errors never echo the upstream's error body (it may hold
the upstream's account details); the body goes to the server log."""

from __future__ import annotations

from pathlib import Path

from fakellm import FakeOpenAI

from .kit import Server, assert_error


def test_upstream_error_bodies_stay_in_the_log(tmp_path: Path) -> None:
    fake = FakeOpenAI()  # its error bodies are {"error": {"message": "scripted"}}
    server = Server(tmp_path, "--upstream", fake.url, "--upstream-model", "m",
                    "--upstream-retries", "0")
    try:
        key = server.create_key("--tenant", "t")["key"]
        with server.client(key) as c:
            for status, stream, code in ((503, False, 502), (500, True, 502), (429, False, 502),
                                         (404, False, 400), (422, True, 400)):
                fake.script.append((status, "x", 0))
                body = {"user": "u", "messages": [{"role": "user", "content": "hi"}]}
                if stream:
                    body["stream"] = True
                e = assert_error(c.post("/v1/chat/completions", json=body), code)
                assert "scripted" not in e["message"] and f"HTTP {status}" in e["message"], e
        log = server.stderr()
        assert "scripted" in log and "Traceback" not in log
        # item 8: each warning is printed once (not again by a root handler)
        assert log.count("upstream answered HTTP 503") == 1, log
    finally:
        server.stop()
        fake.close()
