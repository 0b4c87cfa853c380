"""Issue 15, item 1: data the server accepts never makes a later read fail. Each poisoned
value of the hostile run is sent through every door that takes it (add, import, MCP) and
must be refused with a clean 4xx; a list and a search of the user still answer 200. A row
that slipped in before the limits existed is shown degraded, never a 500."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from .kit import LIMIT_FLAGS, Server, assert_error


def _deep(n: int) -> dict[str, Any]:
    d: dict[str, Any] = {"leaf": 1}
    for _ in range(n):
        d = {"x": d}
    return d


def _reads_ok(c: httpx.Client, user: str) -> None:
    assert c.get("/v1/memories", params={"user_id": user}).status_code == 200
    for q in ("kiwi", "what happened in June 2024?"):
        r = c.post("/v1/search", json={"query": q, "user_id": user})
        assert r.status_code == 200, r.text


def _export_lines(c: httpx.Client, user: str) -> list[dict[str, Any]]:
    r = c.get("/v1/export", params={"user_id": user})
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


@pytest.fixture
def c(server: Server, new_key: Any) -> Any:
    with server.client(new_key("poison")) as client:
        yield client


def test_deep_metadata_is_refused_on_add(c: httpx.Client) -> None:
    r = c.post("/v1/memories", json={"messages": "I like kiwi", "user_id": "u-meta",
                                     "metadata": _deep(300)})
    assert r.status_code in (400, 413, 422), r.text
    assert "nested" in r.text or "depth" in r.text.lower()
    # a shallow one is fine
    r = c.post("/v1/memories", json={"messages": "I like kiwi", "user_id": "u-meta",
                                     "metadata": _deep(10)})
    assert r.status_code == 201, r.text
    _reads_ok(c, "u-meta")


@pytest.mark.parametrize("field,value", [
    ("created_at", 1e14), ("created_at", -1e14), ("event_time", 1e14),
    ("valid_from", -1e14), ("updated_at", 1e14)])
def test_import_refuses_times_outside_years_1_to_9999(c: httpx.Client, field: str,
                                                       value: float) -> None:
    c.post("/v1/memories", json={"messages": "I like kiwi", "user_id": "u-time"})
    lines = _export_lines(c, "u-time")
    mem = next(x for x in lines if x["kind"] == "memory")
    mem.update(id="m-time-" + field + str(int(value > 0)), user_id="u-time2", **{field: value})
    body = "\n".join(json.dumps(x) for x in (lines[0], mem))
    err = assert_error(c.post("/v1/import", content=body), 422)
    assert "out of range" in err["message"] and "line 2" in err["message"], err
    _reads_ok(c, "u-time2")


@pytest.mark.parametrize("dates", [[["x", "y", "z"]], [["2024-06-01"]], "2024", [[1, 2, 3]]])
def test_import_refuses_malformed_resolved_dates(c: httpx.Client, dates: Any) -> None:
    c.post("/v1/memories", json={"messages": "I like kiwi", "user_id": "u-dates"})
    lines = _export_lines(c, "u-dates")
    mem = next(x for x in lines if x["kind"] == "memory")
    mem.update(id="m-dates", user_id="u-dates2", dates=dates)
    assert_error(c.post("/v1/import", content="\n".join(json.dumps(x) for x in (lines[0], mem))),
                 422)
    _reads_ok(c, "u-dates2")


def test_import_refuses_infinite_vectors(c: httpx.Client) -> None:
    c.post("/v1/memories", json={"messages": "I like kiwi", "user_id": "u-vec"})
    lines = _export_lines(c, "u-vec")
    mem = next(x for x in lines if x["kind"] == "memory")
    vec = np.frombuffer(base64.b64decode(mem["embedding"]), dtype=np.float16).copy()
    for bad in (np.inf, -np.inf, np.nan):
        vec[0] = bad
        mem.update(id="m-vec", user_id="u-vec2",
                   embedding=base64.b64encode(vec.tobytes()).decode())
        err = assert_error(
            c.post("/v1/import", content="\n".join(json.dumps(x) for x in (lines[0], mem))), 422)
        assert "infinite" in err["message"], err
    _reads_ok(c, "u-vec2")


@pytest.mark.parametrize("depth", [100, 5000, 100_000])
def test_import_refuses_deep_json_lines(c: httpx.Client, depth: int) -> None:
    header = json.dumps({"kind": "header", "format": "remem-export", "version": 1,
                         "embed_model": "x", "exported_at": 0})
    line = '{"kind": "memory", "metadata": ' + "[" * depth + "]" * depth + "}"
    err = assert_error(c.post("/v1/import", content=header + "\n" + line), 422)
    assert "line 2" in err["message"], err


def test_import_refuses_deep_metadata(c: httpx.Client) -> None:
    c.post("/v1/memories", json={"messages": "I like kiwi", "user_id": "u-md"})
    lines = _export_lines(c, "u-md")
    mem = next(x for x in lines if x["kind"] == "memory")
    mem.update(id="m-md", user_id="u-md2", metadata=_deep(40))
    err = assert_error(
        c.post("/v1/import", content="\n".join(json.dumps(x) for x in (lines[0], mem))), 422)
    assert "nested" in err["message"], err
    _reads_ok(c, "u-md2")


def test_a_row_stored_before_the_limits_is_shown_degraded(tmp_path: Path) -> None:
    """Defence in depth: poison written straight into the file (as an older version could
    have) is logged once, and list, get and search of the user still answer 200."""
    server = Server(tmp_path, *LIMIT_FLAGS)
    try:
        key = server.create_key("--tenant", "old")["key"]
        with server.client(key) as c:
            for text in ("I like kiwi", "In June 2024 I went to Lisbon", "kiwi again"):
                r = c.post("/v1/memories", json={"messages": text, "user_id": "u"})
                assert r.status_code == 201, r.text
            ids = [m["id"] for m in c.get("/v1/memories", params={"user_id": "u"}).json()["memories"]]
        db = sqlite3.connect(server.db)
        db.execute("UPDATE memories SET created_at = 1e14, event_time = -1e14 WHERE id = ?", (ids[0],))
        db.execute("UPDATE memories SET metadata = ? WHERE id = ?", (json.dumps(_deep(300)), ids[1]))
        db.execute("UPDATE memories SET dates = ? WHERE id = ?",
                   (json.dumps([["x", "y", "z"]]), ids[2]))
        db.commit()
        db.close()
        server.stop()
        server = Server(tmp_path, *LIMIT_FLAGS)  # no caches from before
        with server.client(key) as c:
            r = c.get("/v1/memories", params={"user_id": "u"})
            assert r.status_code == 200, r.text
            got = {m["id"]: m for m in r.json()["memories"]}
            assert set(got) == set(ids)
            assert got[ids[1]]["metadata"] == {"remem_degraded": "metadata could not be shown"}
            for q in ("kiwi", "what happened in June 2024?", "Lisbon"):
                r = c.post("/v1/search", json={"query": q, "user_id": "u"})
                assert r.status_code == 200, r.text
            for i in ids:
                assert c.get(f"/v1/memories/{i}").status_code == 200
        err = server.stderr()
        assert "Traceback" not in err, err[-3000:]
        assert err.count(f"memory {ids[1]} is stored with unreadable metadata") == 1, err[-3000:]
    finally:
        server.stop()


def test_import_refuses_a_successor_of_another_tenant(server: Server, new_key: Any) -> None:
    """Issue 15, item 7: ``superseded_by`` naming another tenant's memory is refused."""
    with server.client(new_key("succ-a")) as a, server.client(new_key("succ-b")) as b:
        a.post("/v1/memories", json={"messages": "secret of A", "user_id": "ua"})
        theirs = a.get("/v1/memories", params={"user_id": "ua"}).json()["memories"][0]["id"]
        b.post("/v1/memories", json={"messages": "I like kiwi", "user_id": "ub"})
        lines = _export_lines(b, "ub")
        mem = next(x for x in lines if x["kind"] == "memory")
        mem.update(id="m-succ", superseded_by=theirs)
        err = assert_error(
            b.post("/v1/import", content="\n".join(json.dumps(x) for x in (lines[0], mem))), 422)
        assert "not yours" in err["message"], err
        assert b.get("/v1/memories/m-succ").status_code == 404
