"""The adapters' own contracts with the real frameworks, on an embedded ``Memory`` and
over a real server (``Client``): LangGraph store semantics (replace, delete, filters,
namespaces, scoping), chat histories read back exactly and in order, the agents session
(limit, pop, clear)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Iterator

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

import remem
from remem import HashingEmbedder, InvalidInput, Memory
from remem.integrations.langchain import RememChatMessageHistory
from remem.integrations.langgraph import RememStore
from remem.integrations.openai_agents import RememSession

from server.kit import Server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    s = Server(tmp_path_factory.mktemp("adapters-serve"))
    try:
        yield s, str(s.create_key("--tenant", "adapters")["key"])
    finally:
        s.stop()


@pytest.fixture(params=["memory", "client"])
def memory(request: pytest.FixtureRequest, tmp_path: Path,
           served: tuple[Server, str]) -> Iterator[Any]:
    if request.param == "memory":
        with Memory(tmp_path / "m.db", embedder=HashingEmbedder()) as m:
            yield m
    else:
        with remem.Client(served[0].url, api_key=served[1]) as c:
            yield c


def test_langgraph_store_semantics(memory: Any, tmp_path: Path) -> None:
    user = f"lg-{tmp_path.name}"
    store = RememStore(memory)
    store.put((user, "prefs"), "food", {"text": "likes spicy ramen", "stars": 5})
    store.put((user, "prefs"), "music", {"text": "listens to fado", "stars": 3})
    store.put((user, "trips"), "2024", {"content": "went to Kyoto in spring"})
    store.put((user, "prefs"), "food", {"text": "likes mild curry", "stars": 4})  # replace
    got = store.get((user, "prefs"), "food")
    assert got is not None and got.value == {"text": "likes mild curry", "stars": 4}
    assert got.namespace == (user, "prefs") and got.key == "food"
    found = store.search((user,), query="which curry do I like?", limit=5)
    assert [i.key for i in found][0] == "food" and found[0].score is not None
    assert "ramen" not in str([i.value for i in found])  # the old value is gone
    assert {i.key for i in store.search((user, "prefs"))} == {"food", "music"}
    assert [i.key for i in store.search((user, "prefs"), filter={"stars": {"$gte": 4}})] == ["food"]
    assert store.list_namespaces(prefix=(user,)) == [(user, "prefs"), (user, "trips")]
    store.delete((user, "prefs"), "food")
    assert store.get((user, "prefs"), "food") is None
    assert asyncio.run(store.aget((user, "trips"), "2024")).value["content"].startswith("went")
    with pytest.raises(InvalidInput):
        store.search(("*",), query="anything")  # no unscoped reads
    other = RememStore(memory, user_at=1)
    other.put(("notes", user), "k", {"text": "second layout"})
    assert other.get(("notes", user), "k").value == {"text": "second layout"}
    assert "second layout" in [h.text for h in memory.search("layout", user_id=user)]


def test_langchain_history_reads_back_exactly(memory: Any, tmp_path: Path) -> None:
    user = f"lc-{tmp_path.name}"
    h = RememChatMessageHistory(memory, user_id=user, session_id="s1")
    msgs = [SystemMessage("be brief"), HumanMessage("hi, I'm Ana", name="Ana"),
            AIMessage("", tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "c1"}]),
            ToolMessage("result 42", tool_call_id="c1"), AIMessage("Hello Ana")]
    h.add_messages(msgs)
    h.add_user_message("bye")
    back = RememChatMessageHistory(memory, user_id=user, session_id="s1").messages
    assert [type(m).__name__ for m in back] == ["SystemMessage", "HumanMessage", "AIMessage",
                                                "ToolMessage", "AIMessage", "HumanMessage"]
    assert back[2].tool_calls[0]["name"] == "lookup" and back[1].name == "Ana"
    assert RememChatMessageHistory(memory, user_id=user, session_id="s2").messages == []
    assert asyncio.run(h.aget_messages()) == back
    h.clear()
    assert h.messages == []


def test_agents_session_limit_pop_clear(memory: Any, tmp_path: Path) -> None:
    user = f"oa-{tmp_path.name}"
    s = RememSession("s1", memory, user_id=user)
    items = [{"role": "user", "content": f"message {i}"} for i in range(5)]

    async def run() -> None:
        await s.add_items(items[:3])
        await s.add_items(items[3:])
        assert await s.get_items() == items
        assert await s.get_items(limit=2) == items[3:]
        assert await s.pop_item() == items[4]
        assert await s.get_items() == items[:4]
        await s.clear_session()
        assert await s.get_items() == [] and await s.pop_item() is None

    asyncio.run(run())
