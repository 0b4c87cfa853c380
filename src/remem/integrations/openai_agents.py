"""OpenAI Agents SDK adapters: ``RememSession`` (a ``Session``: the conversation history
of one session kept in remem, so ``Runner.run(agent, input, session=...)`` resumes it)
and ``recall_tool`` (a function tool the agent calls to search everything the user ever
said, across sessions).

``memory`` is any of ``Memory``, ``Client`` (run on a worker thread), ``AsyncMemory``
or ``AsyncClient`` (awaited).
"""

from __future__ import annotations

import json
from typing import Any

from ._log import TurnLog, acall
from ._need import need

need("agents", "openai-agents")

from agents import FunctionTool, SessionABC, function_tool  # noqa: E402
from agents.memory.session_settings import SessionSettings  # noqa: E402

__all__ = ["RememSession", "recall_tool"]

_KEY = "openai_agents_item"
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or p.get("refusal") or "") for p in content
                         if isinstance(p, dict)).strip()
    return ""


def _turn(item: Any) -> tuple[str, str]:
    """remem's role and text for one input item (a message, or a tool call / output)."""
    if not isinstance(item, dict):
        item = dict(item)
    role = item.get("role")
    if role in _ROLES and (text := _text(item.get("content"))):
        return _ROLES[role], text
    if item.get("type") == "function_call":
        return "assistant", f"[tool call] {item.get('name')}({item.get('arguments', '')})"
    if item.get("type") == "function_call_output":
        out = item.get("output")
        return "tool", f"[tool output] {out if isinstance(out, str) else json.dumps(out)}"
    return "tool", f"[{item.get('type', 'item')}]"


class RememSession(SessionABC):
    """One agent session (``session_id``) of ``user_id`` in remem. Items come back
    exactly as added (each rides in its turn's metadata); their text is searchable with
    the rest of the user's memories, e.g. by ``recall_tool`` in a later session."""

    def __init__(self, session_id: str, memory: Any, *, user_id: str,
                 agent_id: str | None = None,
                 session_settings: SessionSettings | None = None) -> None:
        self.session_id = session_id
        self.session_settings = session_settings
        self.log = TurnLog(memory, _KEY, user_id=user_id, session_id=session_id,
                           agent_id=agent_id)

    async def get_items(self, limit: int | None = None) -> list[Any]:
        rows = await self.log.arows()
        if limit is not None:
            rows = rows[-limit:] if limit > 0 else []
        return [r.metadata[_KEY] for r in rows]

    async def add_items(self, items: list[Any]) -> None:
        pairs = []
        for item in items:
            native = json.loads(json.dumps(item, default=lambda o: o.model_dump()
                                           if hasattr(o, "model_dump") else str(o)))
            role, text = _turn(native)
            pairs.append(self.log.message(role, text, native))
        await self.log.aappend(pairs)

    async def pop_item(self) -> Any | None:
        rows = await self.log.arows()
        if not rows:
            return None
        await self.log.adelete(rows[-1].id)
        return rows[-1].metadata[_KEY]

    async def clear_session(self) -> None:
        await self.log.aclear()


def recall_tool(memory: Any, *, user_id: str, agent_id: str | None = None, limit: int = 5,
                budget_tokens: int | None = 500, name: str = "recall") -> FunctionTool:
    """A function tool ``recall(query)`` answering with what remem remembers about the
    user for ``query`` (the packed context: dated, by session), across all sessions."""

    async def recall(query: str) -> str:
        hits = await acall(memory, "search", query, user_id=user_id, agent_id=agent_id,
                           limit=limit, budget_tokens=budget_tokens)
        return str(hits.context) or "nothing remembered about that"

    return function_tool(
        recall, name_override=name,
        description_override="Search long-term memory: what the user said in earlier "
                             "conversations. Args: query: what to look for.")
