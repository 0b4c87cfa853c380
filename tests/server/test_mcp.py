"""MCP with the SDK's own client: over streamable HTTP (mounted by ``remem serve`` at
/mcp, behind the API keys) and over stdio (``remem mcp``), on the same store."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from .kit import Server, env


async def _http_session(server: Server, key: str, user: str | None, calls: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if user is not None:
        headers["X-Remem-User"] = user
    async with create_mcp_http_client(headers=headers) as http:
        async with Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as c:
            return await calls(c)


def _stdio(server: Server, *args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "remem.cli", "--db", str(server.db), "--embedder", "hashing", "mcp", *args],
        env=env(server.tmp), cwd=str(server.tmp))


def test_tools_are_described_for_an_llm(server: Server, new_key: Any) -> None:
    async def calls(c: Client) -> Any:
        return (await c.list_tools()).tools

    tools = {t.name: t for t in asyncio.run(_http_session(server, new_key("mcp-doc"), None, calls))}
    assert set(tools) == {"remember", "recall", "list", "forget"}
    for t in tools.values():
        assert t.description and len(t.description) > 80, t.name
        assert "ctx" not in t.input_schema.get("properties", {})
    assert "budget_tokens" in tools["recall"].input_schema["properties"]


def test_remember_and_recall_over_http_then_stdio(server: Server, new_key: Any) -> None:
    key = new_key("mcp-t")

    async def over_http(c: Client) -> dict[str, Any]:
        r = await c.call_tool("remember", {"content": "Ana is allergic to shellfish and cats.",
                                           "speaker": "Ana", "when": "2024-05-03T09:00:00Z"})
        assert not r.is_error, r.content
        stored = r.structured_content
        recalled = await c.call_tool("recall", {"query": "what is Ana allergic to?",
                                                "budget_tokens": 200})
        assert not recalled.is_error, recalled.content
        listed = await c.call_tool("list", {"limit": 5})
        bad = await c.call_tool("recall", {"query": "   "})
        return {"stored": stored, "recalled": recalled.structured_content,
                "listed": listed.structured_content, "bad": bad}

    out = asyncio.run(_http_session(server, key, "ana", over_http))
    mid = out["stored"]["memory_ids"][0]
    assert "shellfish" in out["recalled"]["context"] and "[2024-05-03]" in out["recalled"]["context"]
    assert mid in {s["id"] for s in out["recalled"]["sources"]}
    assert mid in {m["id"] for m in out["listed"]["memories"]}
    assert out["bad"].is_error and "query" in out["bad"].content[0].text

    # the same memory over REST, as tenant mcp-t's user "ana"
    with server.client(key) as rest:
        assert rest.get(f"/v1/memories/{mid}").json()["user_id"] == "ana"

    async def over_stdio() -> dict[str, Any]:
        async with Client(_stdio(server, "--user", "ana", "--tenant", "mcp-t")) as c:
            before = await c.call_tool("recall", {"query": "shellfish allergy"})
            r = await c.call_tool("remember", {"content": "Ana's sister Rita lives in Porto."})
            after = await c.call_tool("recall", {"query": "where does Rita live?"})
            gone = await c.call_tool("forget", {"memory_id": mid})
            again = await c.call_tool("forget", {"memory_id": mid})
            return {"before": before.structured_content, "new": r.structured_content,
                    "after": after.structured_content, "gone": gone, "again": again}

    s = asyncio.run(over_stdio())
    assert mid in {x["id"] for x in s["before"]["sources"]}  # remembered over HTTP
    assert "Porto" in s["after"]["context"]
    assert s["new"]["memory_ids"][0] in {x["id"] for x in s["after"]["sources"]}
    assert not s["gone"].is_error and s["again"].is_error
    with server.client(key) as rest:
        assert rest.get(f"/v1/memories/{mid}").status_code == 404


def test_mcp_is_scoped_to_the_tenant_and_user(server: Server, new_key: Any) -> None:
    key_a, key_b = new_key("mcp-a"), new_key("mcp-b")

    async def remember(c: Client) -> str:
        r = await c.call_tool("remember", {"content": "The vault code is 4711."})
        return str(r.structured_content["memory_ids"][0])

    mid = asyncio.run(_http_session(server, key_a, "ana", remember))

    async def probe(c: Client) -> dict[str, Any]:
        recalled = await c.call_tool("recall", {"query": "vault code 4711"})
        listed = await c.call_tool("list", {})
        forget = await c.call_tool("forget", {"memory_id": mid})
        return {"recall": recalled.structured_content, "list": listed.structured_content,
                "forget": forget}

    for key, user in ((key_b, "ana"), (key_a, "bob"), (key_a, None)):  # other tenant / users
        seen = asyncio.run(_http_session(server, key, user, probe))
        assert "4711" not in seen["recall"]["context"] and seen["list"]["total"] == 0
        assert seen["forget"].is_error

    async def stdio_probe() -> Any:
        async with Client(_stdio(server, "--user", "ana", "--tenant", "mcp-b")) as c:
            return (await c.call_tool("recall", {"query": "vault code"})).structured_content

    assert "4711" not in asyncio.run(stdio_probe())["context"]
    still = asyncio.run(_http_session(server, key_a, "ana", probe))
    assert "4711" in still["recall"]["context"]
