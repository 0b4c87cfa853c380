"""Tenant isolation, property style: random tenants, users (the same user names in every
tenant) and memories; every cross-tenant read, list, search, update, delete, history and
export through every route fails (404 for ids) or sees only the caller's own data, and
the other tenants' data is untouched afterwards."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from .kit import Server, assert_error

SEEDS = [20240501, 7, 99991]


@dataclass
class Tenant:
    name: str
    client: httpx.Client
    users: list[str]
    ids: dict[str, list[str]] = field(default_factory=dict)  # user -> memory ids
    texts: dict[str, str] = field(default_factory=dict)  # memory id -> text
    secrets: list[str] = field(default_factory=list)


def _word(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def _user(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + " -_.@éø漢"
    while True:
        u = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        if u.strip() and "::" not in u:
            return u


@pytest.mark.parametrize("seed", SEEDS)
def test_no_cross_tenant_access_through_any_route(server: Server, new_key: Any, seed: int) -> None:
    rng = random.Random(seed)
    shared = ["ana", "ana:smith", _user(rng)]  # user names every tenant has
    tenants: list[Tenant] = []
    for i in range(rng.randint(3, 4)):
        name = f"iso{seed}-{i}-{_word(rng, 4)}"
        users = shared + [_user(rng) for _ in range(rng.randint(0, 2))]
        tenants.append(Tenant(name, server.client(new_key(name)), users))
    try:
        _populate(rng, tenants)
        for a in tenants:
            for b in tenants:
                if a is not b:
                    _attack(rng, a, b)
        for t in tenants:  # everything is still there, unchanged
            _assert_intact(t)
        # deleting a shared user name in one tenant leaves the others' alone
        first, rest = tenants[0], tenants[1:]
        assert first.client.delete("/v1/memories", params={"user_id": "ana"}).status_code == 200
        for t in rest:
            assert t.client.get("/v1/memories", params={"user_id": "ana"}).json()["total"] == \
                len(t.ids["ana"])
    finally:
        for t in tenants:
            t.client.close()


def _populate(rng: random.Random, tenants: list[Tenant]) -> None:
    for t in tenants:
        for user in t.users:
            secret = f"zx{_word(rng, 10)}"
            t.secrets.append(secret)
            msgs = [f"my {rng.choice(['dog', 'cat', 'bike'])} is called {secret} {k}"
                    for k in range(rng.randint(1, 3))]
            r = t.client.post("/v1/memories", json={"user_id": user, "messages": msgs})
            assert r.status_code == 201, r.text
            got = t.client.get("/v1/memories", params={"user_id": user, "limit": 200}).json()
            t.ids[user] = [m["id"] for m in got["memories"]]
            t.texts.update({m["id"]: m["text"] for m in got["memories"]})
            assert t.ids[user] and all(m["user_id"] == user for m in got["memories"])


def _attack(rng: random.Random, a: Tenant, b: Tenant) -> None:
    """Tenant ``a`` goes after tenant ``b``'s memories with everything it can name."""
    c = a.client
    foreign = [i for ids in b.ids.values() for i in ids]
    guessed = [rng.choice(foreign)[:-1] + "0", _word(rng, 32), "%2e%2e", b.name]
    for mid in foreign + guessed:
        for user in (None, rng.choice(b.users)):
            q = {"user_id": user} if user else {}
            assert_error(c.get(f"/v1/memories/{mid}", params=q), 404, "not_found")
            assert_error(c.delete(f"/v1/memories/{mid}", params=q), 404, "not_found")
            body: dict[str, Any] = {"text": "overwritten by another tenant"}
            if user:
                body["user_id"] = user
            assert_error(c.patch(f"/v1/memories/{mid}", json=body), 404, "not_found")
        assert_error(c.get(f"/v1/memories/{mid}/history"), 404, "not_found")
    # the caller's namespace only: b's user names (also b's prefixed form) show a's data
    for user in b.users + [f"{b.name}::{b.users[0]}"]:
        r = c.get("/v1/memories", params={"user_id": user, "limit": 200})
        if "::" in user:
            assert_error(r, 422, "invalid_input")
            continue
        seen = {m["id"] for m in r.json()["memories"]}
        assert seen == set(a.ids.get(user, [])), (a.name, b.name, user)
        for secret in rng.sample(b.secrets, min(2, len(b.secrets))):
            hits = c.post("/v1/search", json={"user_id": user, "query": secret, "limit": 50}).json()
            assert {h["id"] for h in hits["hits"]} <= set(a.ids.get(user, []))
            assert secret not in hits["context"]
        export = c.get("/v1/export", params={"user_id": user}).text
        assert not any(s in export for s in b.secrets) and not any(i in export for i in foreign)


def _assert_intact(t: Tenant) -> None:
    for user, ids in t.ids.items():
        listed = t.client.get("/v1/memories", params={"user_id": user, "limit": 200}).json()
        assert [m["id"] for m in listed["memories"]] == ids
        for mid in ids:
            got = t.client.get(f"/v1/memories/{mid}").json()
            assert got["text"] == t.texts[mid] and got["user_id"] == user
            events = [h["event"] for h in t.client.get(f"/v1/memories/{mid}/history").json()["history"]]
            assert events == ["ADD"]
