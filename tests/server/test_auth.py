"""API keys against a real ``remem serve``: 401 without or with a bad key, keys created,
listed and revoked through the CLI and over HTTP, stored hashed."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import httpx
import pytest

from .kit import Server, assert_error

MEMORY_ROUTES = [
    ("POST", "/v1/memories", {"json": {"user_id": "u", "messages": "hi"}}),
    ("GET", "/v1/memories?user_id=u", {}),
    ("DELETE", "/v1/memories?user_id=u", {}),
    ("POST", "/v1/search", {"json": {"user_id": "u", "query": "hi"}}),
    ("GET", "/v1/memories/abc", {}),
    ("PATCH", "/v1/memories/abc", {"json": {"text": "x"}}),
    ("DELETE", "/v1/memories/abc", {}),
    ("GET", "/v1/memories/abc/history", {}),
    ("GET", "/v1/export?user_id=u", {}),
    ("POST", "/v1/import", {"content": b""}),
    ("GET", "/v1/keys", {}),
    ("POST", "/mcp", {"json": {"jsonrpc": "2.0", "id": 1, "method": "ping"}}),
]

BAD_AUTH = [
    None,
    "Bearer rmk_000000000000_" + "A" * 43,  # well-formed, unknown
    "Bearer not-a-key",
    "Bearer",
    "Basic dXNlcjpwYXNz",
]


@pytest.mark.parametrize("auth", BAD_AUTH, ids=["none", "unknown", "garbage", "empty", "basic"])
def test_every_protected_route_is_401_without_a_valid_key(server: Server, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth is not None else {}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as c:
        for method, path, kw in MEMORY_ROUTES:
            r = c.request(method, path, **kw)
            assert_error(r, 401, "unauthorized")
            assert r.headers.get("www-authenticate") == "Bearer", (method, path)


def test_health_and_docs_need_no_key(server: Server) -> None:
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json() == {"status": "ready"}
        assert c.get("/docs").status_code == 200
        spec = c.get("/openapi.json").json()
    assert {"/v1/memories", "/v1/search", "/v1/export", "/v1/import", "/v1/keys"} <= set(spec["paths"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_cli_keys_create_list_revoke(server: Server) -> None:
    made = server.cli("keys", "create", "--tenant", "cli-tenant", "--name", "laptop")
    assert made.returncode == 0, made.stderr
    assert "not shown again" in made.stderr
    rec = json.loads(made.stdout)
    key = rec["key"]
    assert rec["tenant"] == "cli-tenant" and rec["admin"] is False and rec["active"] is True
    assert key.startswith(f"rmk_{rec['id']}_")

    with server.client(key) as c:
        r = c.post("/v1/memories", json={"user_id": "ana", "messages": "I like tea"})
        assert r.status_code == 201, r.text

    listed = server.cli("keys", "list", "--tenant", "cli-tenant")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["id"] for r in rows] == [rec["id"]] and all("key" not in r for r in rows)
    assert key not in listed.stdout
    plain = server.cli("keys", "list", "--plain")
    assert rec["id"] in plain.stdout and key not in plain.stdout

    # stored hashed: the secret is nowhere in the store's files, its sha256 is
    blobs = b"".join(p.read_bytes() for p in server.db.parent.glob(server.db.name + "*"))
    assert key.encode() not in blobs
    with sqlite3.connect(server.db) as db:
        (stored,) = db.execute("SELECT hash FROM api_keys WHERE id=?", (rec["id"],)).fetchone()
    assert stored == hashlib.sha256(key.encode()).hexdigest()

    revoked = server.cli("keys", "revoke", rec["id"])
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["active"] is False
    with server.client(key) as c:
        assert_error(c.get("/v1/memories", params={"user_id": "ana"}), 401, "unauthorized")


def test_cli_keys_usage_errors(server: Server) -> None:
    assert server.cli("keys", "create").returncode == 2  # --tenant or --admin required
    assert server.cli("keys", "create", "--tenant", "a", "--admin").returncode == 2
    bad = server.cli("keys", "create", "--tenant", "no spaces allowed")
    assert bad.returncode == 1 and bad.stderr.startswith("error: tenant must be")
    missing = server.cli("keys", "revoke", "ffffffffffff")
    assert missing.returncode == 1 and "no API key" in missing.stderr


def test_http_key_management_needs_the_admin_key(server: Server, admin: httpx.Client) -> None:
    r = admin.post("/v1/keys", json={"tenant": "http-tenant", "name": "ci"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["tenant"] == "http-tenant" and made["key"].startswith("rmk_")

    listed = admin.get("/v1/keys", params={"tenant": "http-tenant"}).json()["keys"]
    assert [k["id"] for k in listed] == [made["id"]] and "key" not in listed[0]
    assert made["id"] in {k["id"] for k in admin.get("/v1/keys").json()["keys"]}

    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {made['key']}"}) as tenant:
        assert tenant.get("/v1/memories", params={"user_id": "x"}).status_code == 200
        assert_error(tenant.get("/v1/keys"), 403, "forbidden")
        assert_error(tenant.post("/v1/keys", json={"tenant": "evil"}), 403, "forbidden")
        assert_error(tenant.delete(f"/v1/keys/{made['id']}"), 403, "forbidden")
        # the admin key manages keys but reads no memories
        assert_error(admin.get("/v1/memories", params={"user_id": "x"}), 403, "forbidden")
        assert_error(admin.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}),
                     403, "forbidden")

        gone = admin.delete(f"/v1/keys/{made['id']}")
        assert gone.status_code == 200 and gone.json()["active"] is False
        assert_error(tenant.get("/v1/memories", params={"user_id": "x"}), 401, "unauthorized")

    assert_error(admin.delete("/v1/keys/ffffffffffff"), 404, "not_found")
    assert_error(admin.post("/v1/keys", json={"tenant": "has space"}), 422, "invalid_input")
    assert_error(admin.post("/v1/keys", json={}), 422, "invalid_input")
    assert_error(admin.post("/v1/keys", json={"tenant": "t", "admin": True}), 422, "invalid_input")
    assert_error(admin.get("/v1/keys", params={"tenant": "bad tenant!"}), 422, "invalid_input")
    second_admin = admin.post("/v1/keys", json={"admin": True}).json()
    assert second_admin["admin"] is True and second_admin["tenant"] is None
