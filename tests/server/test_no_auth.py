"""``remem serve --no-auth``: local single-user use, announced loudly, one implicit tenant
whose user ids are the CLI's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from mcp import Client

from .kit import Server, assert_error


def test_no_auth_smoke(tmp_path: Path) -> None:
    server = Server(tmp_path, "--no-auth")
    try:
        err = server.stderr()
        assert "WARNING: --no-auth: NO AUTHENTICATION" in err and server.url in err
        with server.client() as c:
            r = c.post("/v1/memories", json={"user_id": "ana", "messages": [
                {"role": "user", "name": "Ana", "content": "I keep bees on my roof in Porto."}]})
            assert r.status_code == 201, r.text
            hits = c.post("/v1/search", json={"user_id": "ana", "query": "bees",
                                              "budget_tokens": 50}).json()
            assert "bees" in hits["context"] and hits["hits"][0]["user_id"] == "ana"
            assert_error(c.get("/v1/keys"), 403, "forbidden")
            assert_error(c.get("/v1/memories/nope"), 404, "not_found")

        # the same user as the CLI sees it: no tenant prefix
        out = server.cli("list", "--user", "ana")
        assert out.returncode == 0, out.stderr
        assert "bees" in json.loads(out.stdout.splitlines()[0])["text"]

        async def mcp_calls() -> Any:
            async with Client(f"{server.url}/mcp") as m:  # no key needed either
                return (await m.call_tool("recall", {"query": "bees"})).structured_content

        default_user = asyncio.run(mcp_calls())  # no X-Remem-User: the --mcp-user
        assert default_user["context"] == ""
    finally:
        server.stop()
