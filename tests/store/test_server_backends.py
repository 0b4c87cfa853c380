"""The REST API with API keys on each backend: keys live next to the store (the SQLite file,
or the PostgreSQL database), ownership of deleted memories comes from the store's history
(``memory_owner``), and the inspector's read routes answer on both."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from remem import HashingEmbedder, Memory
from remem.server import Settings, create_app
from remem.server.auth import (PostgresKeyStore, SQLiteKeyStore, key_store_for,
                               open_key_store)

CHAT = [
    {"role": "user", "name": "Ana", "id": "m1", "content": "I adopted a dog named Pimenta."},
    {"role": "assistant", "name": "Bot", "id": "m2", "content": "Pimenta is a lovely name."},
    {"role": "user", "name": "Ana", "id": "m3", "content": "Bruno and I walk Pimenta in Lisbon."},
]


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_key_store_follows_the_store(store_url: str) -> None:
    ks = open_key_store(store_url)
    try:
        kind = PostgresKeyStore if store_url.startswith("postgresql://") else SQLiteKeyStore
        assert isinstance(ks, kind)
        rec, key = ks.create(tenant="acme", name="ci")
        assert ks.verify(key) == rec and ks.verify(key + "x") is None
        assert [k.id for k in ks.list("acme")] == [rec.id] and ks.list("other") == []
        with Memory(store_url, embedder=HashingEmbedder()) as mem:
            again = key_store_for(mem.store)  # what the server opens: the same table
            try:
                assert again.verify(key) == rec
                assert ks.revoke(rec.id).revoked_at is not None
                assert again.verify(key) is None  # revocation seen at once, no cache
                assert ks.revoke(rec.id).active is False
            finally:
                again.close()
    finally:
        ks.close()
    ks = open_key_store(store_url)  # reopening migrates nothing and keeps the keys
    try:
        assert [k.active for k in ks.list()] == [False]
    finally:
        ks.close()


def test_rest_api_with_keys(store_url: str) -> None:
    keys = open_key_store(store_url)
    _, ka = keys.create(tenant="a")
    _, kb = keys.create(tenant="b")
    mem = Memory(store_url, embedder=HashingEmbedder())
    try:
        with TestClient(create_app(mem, Settings(mcp=False))) as c:
            assert c.get("/readyz").status_code == 200
            assert c.get("/v1/users").status_code == 401
            r = c.post("/v1/memories", headers=_h(ka), json={
                "user_id": "ana", "session_id": "s1", "timestamp": "2024-05-01T10:00:00Z",
                "messages": CHAT})
            assert r.status_code == 201, r.text
            ids = r.json()["memory_ids"]
            r = c.post("/v1/memories", headers=_h(kb), json={"user_id": "bo", "messages": "Bo likes plums"})
            assert r.status_code == 201, r.text

            users = c.get("/v1/users", headers=_h(ka)).json()
            assert users["total"] == 1 and [u["user_id"] for u in users["users"]] == ["ana"]
            assert users["users"][0]["sessions"] == 1 and users["users"][0]["memories"] >= 3
            assert [u["user_id"] for u in c.get("/v1/users", headers=_h(kb)).json()["users"]] == ["bo"]

            ents = c.get("/v1/entities", headers=_h(ka), params={"user_id": "ana"}).json()
            by_key = {e["key"]: e for e in ents["entities"]}
            assert "pimenta" in by_key and ents["total"] == len(ents["entities"])
            assert ents["entities"][0]["key"] == "pimenta"  # most mentioned first
            only = c.get("/v1/entities", headers=_h(ka), params={"user_id": "ana", "q": "PIM"}).json()
            assert [e["key"] for e in only["entities"]] == ["pimenta"]
            pid = by_key["pimenta"]["id"]
            one = c.get(f"/v1/entities/{pid}", headers=_h(ka), params={"user_id": "ana"}).json()
            assert one["entity"]["key"] == "pimenta" and one["total"] == len(one["memories"]) >= 2
            assert all(m["user_id"] == "ana" for m in one["memories"])
            assert c.get(f"/v1/entities/{pid}", headers=_h(kb),
                         params={"user_id": "ana"}).status_code == 404

            turn = next(i for i in ids if c.get(f"/v1/memories/{i}", headers=_h(ka)).json()
                        ["source_ids"] == ["m2"])
            ctx = c.get(f"/v1/memories/{turn}/context", headers=_h(ka), params={"window": 1}).json()
            (src,) = ctx["sources"]
            assert src["session_id"] == "s1" and [t["source_id"] for t in src["turns"]] == \
                ["m1", "m2", "m3"]
            assert [t["is_source"] for t in src["turns"]] == [False, True, False]
            assert not src["more_before"] and not src["more_after"]
            assert c.get(f"/v1/memories/{turn}/context", headers=_h(kb)).status_code == 404

            # a deleted memory's owner comes from history: still a's, still hidden from b
            assert c.delete(f"/v1/memories/{turn}", headers=_h(ka)).status_code == 200
            hist = c.get(f"/v1/memories/{turn}/history", headers=_h(ka))
            assert hist.status_code == 200 and [h["event"] for h in hist.json()["history"]][-1] == "DELETE"
            assert c.get(f"/v1/memories/{turn}/history", headers=_h(kb)).status_code == 404
            assert c.get("/v1/memories/nope/history", headers=_h(ka)).status_code == 404

            keys.revoke(keys.list("a")[0].id)  # by another connection: effective at once
            assert c.get("/v1/users", headers=_h(ka)).status_code == 401
            assert c.get("/v1/users", headers=_h(kb)).status_code == 200
    finally:
        mem.close()
        keys.close()
