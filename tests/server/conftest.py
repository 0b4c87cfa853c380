"""Fixtures: one shared ``remem serve`` (API keys on, small limits) for the session, its
admin key, and a factory of tenant keys."""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from .kit import LIMIT_FLAGS, Server, serving


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("serve"), *LIMIT_FLAGS) as s:
        yield s


@pytest.fixture(scope="session")
def admin_key(server: Server) -> str:
    return str(server.create_key("--admin", "--name", "test admin")["key"])


@pytest.fixture(scope="session")
def admin(server: Server, admin_key: str) -> Iterator[httpx.Client]:
    with server.client(admin_key) as c:
        yield c


@pytest.fixture
def new_key(admin: httpx.Client) -> Any:
    """Factory: a fresh key for a tenant, created over HTTP with the admin key."""

    def make(tenant: str) -> str:
        r = admin.post("/v1/keys", json={"tenant": tenant})
        assert r.status_code == 201, r.text
        return str(r.json()["key"])

    return make
