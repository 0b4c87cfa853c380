"""The lifecycle over REST against a real ``remem serve``: archive/restore, supersede and
``as_of``, summaries, on-demand maintenance confined to the caller's tenant and user, and
the ``--maintain-every`` schedule; plus the schedule's thread in-process (failures and
overlap)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from remem.server.upkeep import Upkeep, schedule_config

from .kit import Server, assert_error

CHAT = [
    ("Ana", "I finally adopted a border collie and named her Pimenta."),
    ("Max", "That is wonderful, how old is Pimenta?"),
    ("Ana", "Pimenta is two years old and loves the beach in Cascais."),
    ("Max", "I went hiking in Sintra with my sister last weekend."),
    ("Ana", "Sintra is beautiful, did you see the Pena palace?"),
    ("Max", "Yes, and we had pastries in Sintra afterwards."),
]
NO_DERIVED = {"summaries": False, "profiles": False}


def add_chat(c: httpx.Client, user: str, when: str = "2023-03-01T10:00:00Z",
             session: str = "s1") -> None:
    """The conversation, without message ids (so adding it twice stores it twice)."""
    msgs = [{"role": "user", "name": who, "content": text} for who, text in CHAT]
    r = c.post("/v1/memories", json={"user_id": user, "session_id": session,
                                     "timestamp": when, "messages": msgs})
    assert r.status_code == 201, r.text


def turns(c: httpx.Client, user: str) -> list[dict[str, Any]]:
    r = c.get("/v1/memories", params={"user_id": user, "limit": 200})
    assert r.status_code == 200, r.text
    return [m for m in r.json()["memories"] if m["type"] == "turn"]


def turn_with(c: httpx.Client, user: str, text: str) -> dict[str, Any]:
    return next(m for m in turns(c, user) if text in m["text"])


def hit_ids(c: httpx.Client, user: str, query: str, **extra: Any) -> set[str]:
    r = c.post("/v1/search", json={"user_id": user, "query": query, "limit": 50, **extra})
    assert r.status_code == 200, r.text
    return {h["id"] for h in r.json()["hits"]}


# a fresh tenant per test (the session's server is shared)
@pytest.fixture
def acme(server: Server, new_key: Any) -> Iterator[httpx.Client]:
    with server.client(new_key(f"lc-acme-{uuid.uuid4().hex[:8]}")) as client:
        yield client


@pytest.fixture
def rival(server: Server, new_key: Any) -> Iterator[httpx.Client]:
    with server.client(new_key(f"lc-rival-{uuid.uuid4().hex[:8]}")) as client:
        yield client


def test_archive_hides_from_search_restore_brings_back_both_in_history(acme: httpx.Client) -> None:
    add_chat(acme, "ana")
    target = turn_with(acme, "ana", "Pena palace")
    mid = target["id"]
    assert target["status"] == "active" and target["superseded_by"] is None
    assert mid in hit_ids(acme, "ana", "Pena palace")

    r = acme.post(f"/v1/memories/{mid}/archive", json={"reason": "user asked"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "archived" and r.json()["user_id"] == "ana"
    assert mid not in hit_ids(acme, "ana", "Pena palace")
    assert acme.get(f"/v1/memories/{mid}").json()["status"] == "archived"  # kept
    assert_error(acme.post(f"/v1/memories/{mid}/restore", json={"user_id": "bob"}), 404)

    r = acme.post(f"/v1/memories/{mid}/restore")  # no body at all
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    assert mid in hit_ids(acme, "ana", "Pena palace")

    history = acme.get(f"/v1/memories/{mid}/history").json()["history"]
    assert [h["event"] for h in history] == ["ADD", "ARCHIVE", "RESTORE"]
    assert history[1]["detail"] == {"reason": "user asked"} and history[1]["actor"] == "api"
    assert history[0]["detail"] == {}
    assert_error(acme.post(f"/v1/memories/{mid}/archive", json={"reason": "x", "extra": 1}),
                 422, "invalid_input")
    assert_error(acme.post("/v1/memories/no-such-id/archive"), 404, "not_found")


def test_supersede_and_search_as_of(acme: httpx.Client) -> None:
    for when, text in (("2023-01-10T09:00:00Z", "I live in Porto near the river."),
                       ("2024-02-10T09:00:00Z", "I moved away from Porto, I live in Lisbon now.")):
        r = acme.post("/v1/memories", json={"user_id": "rui", "timestamp": when,
                                            "messages": [{"role": "user", "content": text}]})
        assert r.status_code == 201, r.text
    old, new = turn_with(acme, "rui", "near the river")["id"], turn_with(acme, "rui", "Lisbon")["id"]
    assert {old, new} <= hit_ids(acme, "rui", "where do I live Porto")

    r = acme.post(f"/v1/memories/{old}/supersede", json={"by": new})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == old and body["superseded_by"] == new
    assert body["valid_to"].startswith("2024-02-10")
    now = hit_ids(acme, "rui", "where do I live Porto")
    assert old not in now and new in now
    then = hit_ids(acme, "rui", "where do I live Porto", as_of="2023-06-01T00:00:00Z")
    assert old in then and new not in then  # the new one was not yet valid
    assert new in hit_ids(acme, "rui", "where do I live Porto", as_of=1735689600)  # 2025, epoch
    history = acme.get(f"/v1/memories/{old}/history").json()["history"]
    assert history[-1]["event"] == "SUPERSEDE" and history[-1]["detail"]["superseded_by"] == new

    assert_error(acme.post(f"/v1/memories/{old}/supersede", json={"by": new}), 422)  # again
    assert_error(acme.post(f"/v1/memories/{new}/supersede", json={"by": new}), 422)  # itself
    assert_error(acme.post("/v1/search", json={"user_id": "rui", "query": "Porto",
                                               "as_of": "not a time"}), 422, "invalid_input")
    add_chat(acme, "ana")  # another user of the same tenant: not a valid replacement
    other = turn_with(acme, "ana", "Pena palace")["id"]
    assert_error(acme.post(f"/v1/memories/{new}/supersede", json={"by": other}), 404)
    assert_error(acme.post(f"/v1/memories/{new}/supersede", json={"by": new, "user_id": "ana"}),
                 404)


def test_another_tenant_cannot_touch_or_see_lifecycle(acme: httpx.Client,
                                                      rival: httpx.Client) -> None:
    add_chat(acme, "ana")
    add_chat(acme, "ana", when="2023-03-08T10:00:00Z", session="s2")
    add_chat(rival, "ana")
    report = acme.post("/v1/maintain", json={"user_id": "ana", "dedupe": False}).json()
    assert report["summaries"] == 2 and report["profiles"] >= 1, report
    mine = acme.get("/v1/summaries", params={"user_id": "ana"}).json()["summaries"]
    assert len(mine) == 2 and {m["user_id"] for m in mine} == {"ana"}
    assert {m["type"] for m in mine} == {"summary"} and "Pimenta" in mine[0]["text"]
    profiles = acme.get("/v1/summaries", params={"user_id": "ana", "kind": "profile"}).json()
    assert any("Pimenta" in p["text"] for p in profiles["summaries"])
    assert {p["type"] for p in profiles["summaries"]} == {"profile"}
    s2 = acme.get("/v1/summaries", params={"user_id": "ana", "session_id": "s2"}).json()
    assert [m["session_id"] for m in s2["summaries"]] == ["s2"]
    assert acme.get("/v1/summaries", params={"user_id": "ana", "session_id": "s3"}).json() == \
        {"summaries": []}
    assert_error(acme.get("/v1/summaries", params={"user_id": "ana", "kind": "turn"}), 422)

    mid = turn_with(acme, "ana", "Pena palace")["id"]
    theirs = turn_with(rival, "ana", "Pena palace")["id"]
    assert_error(rival.post(f"/v1/memories/{mid}/archive"), 404, "not_found")
    assert_error(rival.post(f"/v1/memories/{mid}/restore"), 404, "not_found")
    assert_error(rival.post(f"/v1/memories/{mid}/supersede", json={"by": theirs}), 404)
    assert_error(rival.post(f"/v1/memories/{theirs}/supersede", json={"by": mid}), 404)
    assert_error(rival.get(f"/v1/memories/{mid}/history"), 404, "not_found")
    assert_error(rival.get(f"/v1/memories/{mine[0]['id']}"), 404, "not_found")
    seen = rival.get("/v1/summaries", params={"user_id": "ana"}).json()["summaries"]
    assert seen == []  # the rival's own "ana" has no summaries yet; acme's are not shown
    assert acme.get(f"/v1/memories/{mid}").json()["status"] == "active"  # untouched
    assert [h["event"] for h in acme.get(f"/v1/memories/{mid}/history").json()["history"]] \
        == ["ADD"]


def test_maintain_merges_only_the_callers_user(acme: httpx.Client, rival: httpx.Client,
                                               admin: httpx.Client) -> None:
    for c, user in ((acme, "dup"), (acme, "dup-other"), (rival, "dup")):
        add_chat(c, user)
        add_chat(c, user, when="2023-03-01T11:00:00Z")
        assert len(turns(c, user)) == 12
    r = acme.post("/v1/maintain", json={"user_id": "dup", **NO_DERIVED})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["users"] == 1 and report["merged"] == 6 and report["errors"] == []
    assert report["summaries"] == 0 and report["archived"] == 0
    kept = turns(acme, "dup")
    assert len(kept) == 6 and all(len(m["source_ids"]) == 2 for m in kept)
    merged = acme.get(f"/v1/memories/{kept[0]['id']}/history").json()["history"][-1]
    assert merged["event"] == "MERGE" and merged["actor"] == "maintain"
    assert len(merged["detail"]["merged"]) == 1
    assert len(turns(acme, "dup-other")) == 12  # another user of the tenant: untouched
    assert len(turns(rival, "dup")) == 12  # the same user id in another tenant: untouched
    assert acme.post("/v1/maintain", json={"user_id": "dup", **NO_DERIVED}).json()["merged"] == 0

    assert_error(acme.post("/v1/maintain", json={}), 422, "invalid_input")  # never everyone
    assert_error(acme.post("/v1/maintain", json={"user_id": "a::b"}), 422, "invalid_input")
    assert_error(acme.post("/v1/maintain", json={"user_id": "dup", "forget": {"threshold": 2}}),
                 422, "invalid_input")
    assert_error(acme.get("/v1/maintain/status"), 403, "forbidden")
    # issue 15, item 5: a key admin changes no memories (whole-store maintenance is the
    # operator's: `remem maintain` on the host, or `remem serve --maintain-every`)
    assert_error(admin.post("/v1/maintain", json={"user_id": "dup"}), 403, "forbidden")
    assert_error(admin.post("/v1/maintain", json={"forget": {"hard_delete": True,
                                                            "threshold": 0.9}}), 403, "forbidden")
    assert len(turns(rival, "dup")) == 12  # nothing changed
    status = admin.get("/v1/maintain/status").json()
    assert status["every_seconds"] is None and status["runs"] == 0 and status["last"] is None
    assert_error(httpx.post(f"{acme.base_url}/v1/maintain", json={"user_id": "dup"}), 401)


def test_the_schedule_merges_duplicates_on_its_own(tmp_path: Path) -> None:
    server = Server(tmp_path, "--no-auth", "--no-mcp", "--maintain-every", "1",
                    "--log-level", "info")
    try:
        with server.client() as c:
            for user in ("ana", "bob"):
                add_chat(c, user)
                add_chat(c, user, when="2023-03-01T11:00:00Z")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if len(turns(c, "ana")) == 6 and len(turns(c, "bob")) == 6:
                    break
                time.sleep(0.2)
            assert len(turns(c, "ana")) == 6 and len(turns(c, "bob")) == 6, server.stderr()
            status = c.get("/v1/maintain/status").json()
            assert status["every_seconds"] == 1 and status["runs"] >= 1
            assert status["failures"] == 0 and status["last_error"] is None
            assert status["last"]["users"] == 2 and status["last_finished_at"]
            assert len(c.get("/v1/summaries", params={"user_id": "ana"}).json()["summaries"]) == 1
            # --no-auth may maintain everyone on demand; nothing left to merge
            r = c.post("/v1/maintain", json={})
            assert r.status_code == 200 and r.json()["users"] == 2 and r.json()["merged"] == 0
        reports = [json.loads(m) for m in
                   re.findall(r"scheduled maintenance: (\{.*\})", server.stderr())]
        assert reports and sum(r["merged"] for r in reports) == 12, server.stderr()
    finally:
        server.stop()
    err = server.stderr()
    assert "Traceback" not in err and "internal error" not in err, err[-3000:]


# -- the schedule's thread, in-process -------------------------------------------------
class FlakyMemory:
    """A stand-in for ``Memory`` whose ``maintain`` fails first, then blocks until let go."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered, self.release = threading.Event(), threading.Event()

    def maintain(self, user_id: str | None = None, *, config: Any = None) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("store went away")
        self.entered.set()
        self.release.wait(10)
        from remem.types import MaintainReport

        return MaintainReport(users=1, merged=2)


def test_schedule_survives_failures_and_never_overlaps() -> None:
    mem = FlakyMemory()
    up = Upkeep(mem, 0.05, schedule_config(None))  # type: ignore[arg-type]
    up.start()
    try:
        assert mem.entered.wait(5)  # the first run failed, the loop went on
        assert up.failures == 1 and "store went away" in (up.last_error or "")
        assert up.status()["running"] is True
        assert up.tick() is False and up.skipped >= 1  # one run at a time
        mem.release.set()
        deadline = time.monotonic() + 5
        while up.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert up.runs >= 1 and up.last is not None and up.last["merged"] == 2
        assert up.last_error is None
    finally:
        mem.release.set()
        up.stop()
    assert up.status()["every_seconds"] is None and up._thread is None
    assert schedule_config(30).forget is not None and schedule_config(30).forget.half_life_days == 30
    assert schedule_config(None).forget is None


def test_schedule_settings_are_checked() -> None:
    from remem import InvalidInput
    from remem.server.settings import Settings

    assert Settings().maintain_every is None  # off by default
    assert Settings(maintain_every=60, maintain_forget_days=90).maintain_forget_days == 90
    for bad in ({"maintain_every": -1}, {"maintain_every": float("nan")},
                {"maintain_every": True}, {"maintain_forget_days": 30},  # forgetting needs a schedule
                {"maintain_every": 60, "maintain_forget_days": 0}):
        with pytest.raises(InvalidInput):
            Settings(**bad)
