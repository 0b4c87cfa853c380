"""Issue 15, items 4 and 5 over HTTP: ``DELETE /v1/users/{id}`` erases a user for its own
tenant's key or for an admin key naming the tenant, nobody else; the CLI's
``remem forget-user`` does the same on the host; an admin key changes no memories
otherwise (no maintenance)."""

from __future__ import annotations

import json
from typing import Any

from .kit import Server, assert_error

MARK = "quixoticnarwhal"


def test_forget_user_over_rest(server: Server, new_key: Any, admin: Any) -> None:
    with server.client(new_key("erase-a")) as a, server.client(new_key("erase-b")) as b:
        for c in (a, b):
            r = c.post("/v1/memories", json={"messages": f"my word is {MARK}", "user_id": "u"})
            assert r.status_code == 201, r.text
        mid = a.get("/v1/memories", params={"user_id": "u"}).json()["memories"][0]["id"]
        a.patch(f"/v1/memories/{mid}", json={"text": f"edited {MARK}"})

        # another tenant's key cannot reach it (its own "u" is another user)
        assert_error(b.delete("/v1/users/u", params={"tenant": "erase-a"}), 403, "forbidden")
        r = a.delete("/v1/users/u")
        assert r.status_code == 200, r.text
        assert r.json() == {"user_id": "u", "memories": 1, "episodes": 1, "history": 2,
                            "entities": r.json()["entities"]}
        assert a.get("/v1/memories", params={"user_id": "u"}).json()["total"] == 0
        assert a.post("/v1/search", json={"query": MARK, "user_id": "u"}).json()["hits"] == []
        assert_error(a.get(f"/v1/memories/{mid}/history"), 404)
        assert MARK not in a.get("/v1/export", params={"user_id": "u"}).text
        # tenant b's user of the same name is untouched
        assert b.get("/v1/memories", params={"user_id": "u"}).json()["total"] == 1

        # an admin key erases when it names the tenant
        assert_error(admin.delete("/v1/users/u"), 422, "invalid_input")
        assert_error(admin.delete("/v1/users/u", params={"tenant": "a::b"}), 422)
        r = admin.delete("/v1/users/u", params={"tenant": "erase-b"})
        assert r.status_code == 200 and r.json()["memories"] == 1, r.text
        assert b.get("/v1/memories", params={"user_id": "u"}).json()["total"] == 0
        # unauthenticated: 401
        import httpx

        assert_error(httpx.delete(f"{server.url}/v1/users/u"), 401)


def test_forget_user_cli_on_the_host(server: Server, new_key: Any) -> None:
    with server.client(new_key("erase-cli")) as c:
        c.post("/v1/memories", json={"messages": f"cli {MARK}", "user_id": "v"})
    out = server.cli("forget-user", "erase-cli::v")
    assert out.returncode != 0 and "--yes" in out.stderr
    out = server.cli("forget-user", "erase-cli::v", "--yes")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["memories"] == 1
