"""Every REST route against a real ``remem serve``: the Python API's behaviour over HTTP,
the caller's own user ids in responses, limits and the error shape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from .kit import Server, assert_error

CONVERSATION = [
    {"role": "user", "name": "Ana", "id": "t1", "timestamp": "2024-05-01T10:00:00Z",
     "content": "I just moved to Lisbon for a job at a robotics startup."},
    {"role": "assistant", "name": "Max", "id": "t2", "timestamp": "2024-05-01T10:01:00Z",
     "content": "Congratulations! How is the apartment hunt going?"},
    {"role": "user", "name": "Ana", "id": "t3", "timestamp": "2024-05-02T09:00:00Z",
     "content": "I adopted a rescue dog called Pimenta last weekend."},
]


@pytest.fixture
def c(server: Server, new_key: Any) -> httpx.Client:
    with server.client(new_key("routes")) as client:
        yield client  # type: ignore[misc]


def test_add_search_get_list_update_history_delete(c: httpx.Client) -> None:
    r = c.post("/v1/memories", json={"user_id": "ana", "session_id": "s1",
                                     "messages": CONVERSATION, "metadata": {"src": "test"}})
    assert r.status_code == 201, r.text
    added = r.json()
    assert len(added["episode_ids"]) == 3 and added["skipped"] == 0
    again = c.post("/v1/memories", json={"user_id": "ana", "session_id": "s1", "messages": CONVERSATION})
    assert again.json()["skipped"] == 3 and again.json()["memory_ids"] == []  # same ids: no-op

    hits = c.post("/v1/search", json={"user_id": "ana", "query": "what is the dog called?"}).json()
    top = next(h for h in hits["hits"] if h["type"] == "turn" and "Pimenta" in h["text"])
    assert top["user_id"] == "ana" and top["source_ids"] == ["t3"]
    assert all(h["user_id"] == "ana" for h in hits["hits"])
    assert "Pimenta" in hits["context"] and hits["budget_tokens"] is None
    packed = c.post("/v1/search", json={"user_id": "ana", "query": "dog", "budget_tokens": 20}).json()
    assert packed["budget_tokens"] == 20 and len(packed["context"]) < len(hits["context"])
    filtered = c.post("/v1/search", json={"user_id": "ana", "query": "Lisbon",
                                          "filters": {"speaker": "Max"}}).json()
    assert "Max" in {h["speaker"] for h in filtered["hits"]}

    listed = c.get("/v1/memories", params={"user_id": "ana", "limit": 2}).json()
    assert listed["total"] >= 3 and len(listed["memories"]) == 2
    assert all(m["user_id"] == "ana" for m in listed["memories"])
    page2 = c.get("/v1/memories", params={"user_id": "ana", "limit": 2, "offset": 2}).json()
    assert not {m["id"] for m in page2["memories"]} & {m["id"] for m in listed["memories"]}

    mid = top["id"]
    got = c.get(f"/v1/memories/{mid}").json()
    assert got["id"] == mid and got["user_id"] == "ana" and got["metadata"] == {"src": "test"}
    assert c.get(f"/v1/memories/{mid}", params={"user_id": "ana"}).status_code == 200
    assert_error(c.get(f"/v1/memories/{mid}", params={"user_id": "bob"}), 404, "not_found")

    upd = c.patch(f"/v1/memories/{mid}", json={"text": "I adopted a rescue cat called Pimenta."})
    assert upd.status_code == 200 and upd.json()["text"].endswith("cat called Pimenta.")
    assert_error(c.patch(f"/v1/memories/{mid}", json={"text": "x", "user_id": "bob"}), 404)
    assert_error(c.patch(f"/v1/memories/{mid}", json={"text": "   "}), 422, "invalid_input")

    assert c.delete(f"/v1/memories/{mid}").json() == {"deleted": 1, "id": mid}
    assert_error(c.get(f"/v1/memories/{mid}"), 404, "not_found")
    assert_error(c.delete(f"/v1/memories/{mid}"), 404, "not_found")
    events = [h["event"] for h in c.get(f"/v1/memories/{mid}/history").json()["history"]]
    assert events == ["ADD", "UPDATE", "DELETE"]  # history outlives the memory

    n = c.delete("/v1/memories", params={"user_id": "ana", "session_id": "s1"}).json()["deleted"]
    assert n >= 2
    assert c.get("/v1/memories", params={"user_id": "ana"}).json() == {"memories": [], "total": 0}


def test_export_import_round_trip_stays_in_the_tenant(server: Server, new_key: Any) -> None:
    with server.client(new_key("exp-a")) as a, server.client(new_key("exp-b")) as b:
        a.post("/v1/memories", json={"user_id": "ana", "messages": CONVERSATION})
        r = a.get("/v1/export", params={"user_id": "ana"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        records = [json.loads(line) for line in r.text.splitlines()]
        assert records[0]["kind"] == "header"
        assert {x["user_id"] for x in records[1:]} == {"ana"}  # the caller's own id, no prefix

        # tenant B cannot import A's export as is: its ids are A's, so the whole import is
        # refused (nothing of A's is touched)
        refused = b.post("/v1/import", content=r.content)
        assert_error(refused, 422, "import_format")
        assert "not yours" in refused.json()["error"]["message"]

        # renamed into a fresh user with fresh ids, B may import it
        fresh = []
        for x in records:
            x = dict(x)
            for k in ("id", "memory_id"):
                if k in x:
                    x[k] = "b-" + x[k]
            if "episode_ids" in x:
                x["episode_ids"] = ["b-" + e for e in x["episode_ids"]]
            fresh.append(json.dumps(x))
        ok = b.post("/v1/import", content="\n".join(fresh), headers={"content-type": "text/plain"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["memories"] >= 3
        assert b.get("/v1/memories", params={"user_id": "ana"}).json()["total"] >= 3
        # re-importing the same file skips everything
        assert b.post("/v1/import", content="\n".join(fresh)).json()["memories"] == 0

        # a record naming another tenant's user is refused with its line number
        evil = [records[0], {**records[1], "id": "evil-1", "user_id": "exp-a::ana"}]
        bad = b.post("/v1/import", content="\n".join(json.dumps(x) for x in evil))
        assert_error(bad, 422, "import_format")
        assert bad.json()["error"]["message"].startswith("line 2:")
        assert_error(b.post("/v1/import", content=b"not json\n"), 422, "import_format")
        assert_error(b.post("/v1/import", content=b"\xff\xfe"), 422, "invalid_input")
        assert a.get("/v1/memories", params={"user_id": "ana"}).json()["total"] >= 3


def test_errors_have_one_shape(c: httpx.Client) -> None:
    assert_error(c.get("/v1/nowhere"), 404, "not_found")
    assert_error(c.put("/v1/search", json={}), 405, "method_not_allowed")
    assert_error(c.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert_error(c.post("/v1/search", json=[1, 2]), 422, "invalid_input")
    assert_error(c.post("/v1/search", json={"user_id": "u"}), 422, "invalid_input")
    assert_error(c.post("/v1/search", json={"user_id": "u", "query": "x", "extra": 1}), 422)
    assert_error(c.post("/v1/search", json={"user_id": "u", "query": "x", "limit": 0}), 422)
    assert_error(c.post("/v1/search", json={"user_id": "a::b", "query": "x"}), 422, "invalid_input")
    assert_error(c.post("/v1/search", json={"user_id": "u\x01", "query": "x"}), 422, "invalid_input")
    assert_error(c.post("/v1/search", json={"user_id": "u", "query": "x",
                                            "filters": {"bad key!": 1}}), 422, "invalid_input")
    # a lone surrogate cannot be stored: 422, not 500
    body = b'{"user_id": "u", "messages": "bad \\ud800 text"}'
    assert_error(c.post("/v1/memories", content=body, headers={"content-type": "application/json"}), 422)
    for ts in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "not a date", 1e20):
        r = c.post("/v1/memories", json={"user_id": "u", "messages": [{"content": "x", "timestamp": ts}]})
        assert_error(r, 422, "invalid_input")
    assert_error(c.post("/v1/memories", json={"user_id": "u", "messages": []}), 422, "invalid_input")
    nan = b'{"user_id": "u", "messages": "hi", "metadata": {"x": NaN}}'
    assert_error(c.post("/v1/memories", content=nan, headers={"content-type": "application/json"}), 422)
    assert_error(c.get("/v1/memories", params={"user_id": "u", "offset": 10**30}), 422)
    assert_error(c.get("/v1/memories/%00/history"), 404, "not_found")


def test_limits_are_4xx_with_the_error_shape(c: httpx.Client) -> None:
    # the shared server runs with --max-body-bytes 65536 --max-messages 20 --max-limit 200
    big = {"user_id": "u", "messages": "word " * 20_000}
    assert_error(c.post("/v1/memories", json=big), 413, "payload_too_large")

    def chunks() -> Any:  # no Content-Length: the cap applies while reading
        for _ in range(100):
            yield b" " * 1024

    r = c.post("/v1/search", content=chunks(), headers={"content-type": "application/json"})
    assert_error(r, 413, "payload_too_large")

    many = {"user_id": "u", "messages": [f"message {i}" for i in range(21)]}
    err = assert_error(c.post("/v1/memories", json=many), 422, "invalid_input")
    assert "at most 20 messages" in err["message"]
    assert c.post("/v1/memories", json={**many, "messages": many["messages"][:20]}).status_code == 201

    err = assert_error(c.post("/v1/search", json={"user_id": "u", "query": "x", "limit": 201}), 422)
    assert "at most 200" in err["message"]
    assert_error(c.get("/v1/memories", params={"user_id": "u", "limit": 201}), 422)
    assert c.get("/v1/memories", params={"user_id": "u", "limit": 200}).status_code == 200
    # the import route has its own, larger cap (1 MiB here)
    r = c.post("/v1/import", content=b"\n" * 70_000)
    assert r.status_code == 200 and r.json()["memories"] == 0
    assert_error(c.post("/v1/import", content=b"\n" * 1_100_000), 413, "payload_too_large")


def test_documented_curl_examples_work(server: Server, new_key: Any) -> None:
    """The requests docs/server.md opens with, as written, get 2xx answers."""
    doc = (Path(__file__).parents[2] / "docs" / "server.md").read_text(encoding="utf-8")
    section = doc[:doc.index("## Routes")]
    calls = re.findall(r"curl -s (?:-X (\w+) )?\"?localhost:8420(/[^\s\"]*)\"?(.*?)(?:\n\n|\n#|\n```)",
                       section, flags=re.S)
    assert len(calls) >= 3, calls
    with server.client(new_key("readme")) as c:
        for method, path, rest in calls:
            body = re.search(r"-d '(.*)'", rest, flags=re.S)
            r = c.request(method or "GET", path,
                          json=json.loads(body.group(1)) if body else None)
            assert 200 <= r.status_code < 300, (path, r.text)
        hits = c.post("/v1/search", json={"user_id": "ana", "query": "Pimenta"}).json()["hits"]
        assert hits and hits[0]["user_id"] == "ana"
