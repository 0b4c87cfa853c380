"""Issue 15's hostile run, against a real ``remem serve`` on each store (SQLite file and
PostgreSQL): every poisoned value through add and import is a 4xx, nothing of it is
stored, reads of the user still answer 200, another tenant's ids stay out of reach, the
erasure route leaves nothing readable, and the server log holds no traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.server.kit import LIMIT_FLAGS, Server


def _deep(n: int) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for _ in range(n):
        d = {"x": d}
    return d


def test_hostile_run_on_every_store(tmp_path: Path, store_url: str) -> None:
    server = Server(tmp_path, *LIMIT_FLAGS, db=store_url)
    try:
        keys = {t: server.create_key("--tenant", t)["key"] for t in ("red", "blue")}
        with server.client(keys["red"]) as red, server.client(keys["blue"]) as blue:
            assert red.post("/v1/memories", json={"messages": "I like kiwi",
                                                  "user_id": "u"}).status_code == 201
            blue_id = (blue.post("/v1/memories", json={"messages": "blue secret",
                                                       "user_id": "u"}).json()["memory_ids"][0])
            lines = [json.loads(x) for x in
                     red.get("/v1/export", params={"user_id": "u"}).text.splitlines()]
            mem = next(x for x in lines if x["kind"] == "memory")
            statuses = [red.post("/v1/memories", json={
                "messages": "deep", "user_id": "u", "metadata": _deep(300)}).status_code]
            for change in ({"created_at": 1e14}, {"event_time": -1e14}, {"valid_from": 1e14},
                           {"dates": [["x", "y", "z"]]}, {"metadata": _deep(300)},
                           {"superseded_by": blue_id}):
                bad = {**mem, "id": "poison", **change}
                statuses.append(red.post("/v1/import", content="\n".join(
                    json.dumps(x) for x in (lines[0], bad))).status_code)
            statuses.append(red.post("/v1/import", content=json.dumps(lines[0]) + "\n"
                                     + "[" * 100_000 + "]" * 100_000).status_code)
            assert all(400 <= s < 500 for s in statuses), statuses
            assert red.get("/v1/memories/poison").status_code == 404
            assert red.get("/v1/memories", params={"user_id": "u"}).json()["total"] == 1
            for q in ("kiwi", "what happened in June 2024?"):
                assert red.post("/v1/search", json={"query": q, "user_id": "u"}).status_code == 200
            # the inspector's user list is the tenant's (the collation of item 6)
            assert [u["user_id"] for u in red.get("/v1/users").json()["users"]] == ["u"]
            assert red.get(f"/v1/memories/{blue_id}").status_code == 404
            # erasure: red's u goes, blue's u stays
            assert red.delete("/v1/users/u").json()["memories"] == 1
            assert red.get("/v1/memories", params={"user_id": "u"}).json()["total"] == 0
            assert red.get("/v1/users").json()["users"] == []
            assert blue.get("/v1/memories", params={"user_id": "u"}).json()["total"] == 1
            assert httpx.get(f"{server.url}/v1/users").status_code == 401
            # NUL in ids and queries (PostgreSQL cannot compare it): 4xx, not 503
            for r in (red.get("/v1/memories/a%00b"), red.get("/v1/memories/a%00b/history"),
                      red.get("/v1/memories/a%00b/context"),
                      red.get("/v1/entities", params={"user_id": "u", "q": "a\x00"}),
                      red.post("/v1/import", content=json.dumps(lines[0]) + "\n" + json.dumps(
                          {**mem, "id": "x\x00", "episode_ids": ["e\x00"]}))):
                assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
        err = server.stderr()
        assert "Traceback" not in err and "internal error" not in err, err[-3000:]
    finally:
        server.stop()


def test_nul_characters_are_refused_on_every_store(store_url: str) -> None:
    """Found by fuzzing PostgreSQL: a NUL in metadata, a filter value or an import line was
    a 503 there (text and jsonb cannot hold it); now a 4xx-class InvalidInput everywhere."""
    import io

    import pytest

    from remem import HashingEmbedder, InvalidInput, Memory

    with Memory(store_url, embedder=HashingEmbedder()) as m:
        m.add("I like kiwi", user_id="u")
        for call in (lambda: m.add("x", user_id="u", metadata={"a": "b\x00"}),
                     lambda: m.add("x", user_id="u", metadata={"k\x00": 1}),
                     lambda: m.search("x", user_id="u", filters={"a": "\x00"}),
                     lambda: m.search("x", user_id="u", filters={"speaker": ["ok", "\x00"]})):
            with pytest.raises(InvalidInput, match="NUL"):
                call()
        buf = io.StringIO()
        m.export(buf, user_id="u")
        lines = [json.loads(x) for x in buf.getvalue().splitlines()]
        mem = next(x for x in lines if x["kind"] == "memory")
        mem.update(id="nul", user_id="u2", speaker="a\x00b")
        with pytest.raises(InvalidInput, match="NUL"):
            m.import_(io.StringIO("\n".join(json.dumps(x) for x in (lines[0], mem))))
        assert m.count(user_id="u") == 1 and m.count(user_id="u2") == 0
