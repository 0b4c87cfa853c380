"""LlamaIndex adapters: ``RememMemoryBlock`` (a long-term block for
``llama_index.core.memory.Memory``: messages flushed out of the short-term queue are
stored in remem; each turn, what remem recalls for the latest messages is injected) and
``RememRetriever`` (a ``BaseRetriever`` returning remem hits as nodes).

``memory`` is ``Memory``/``Client`` (run on a worker thread) or ``AsyncMemory``/
``AsyncClient`` (awaited).
"""

from __future__ import annotations

from typing import Any, List, Optional

from ._log import acall
from ._need import need

need("llama_index.core", "llamaindex")

from llama_index.core.base.llms.types import ChatMessage  # noqa: E402
from llama_index.core.base.base_retriever import BaseRetriever  # noqa: E402
from llama_index.core.memory.memory import BaseMemoryBlock  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402
from pydantic import Field  # noqa: E402

__all__ = ["RememMemoryBlock", "RememRetriever"]

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system",
          "tool": "tool", "function": "tool", "chatbot": "assistant", "model": "assistant"}


def _role(message: ChatMessage) -> str:
    return _ROLES.get(str(getattr(message.role, "value", message.role)), "user")


class RememMemoryBlock(BaseMemoryBlock[str]):
    """Long-term memory from remem for one user. ``aput`` stores messages (with the
    session id LlamaIndex gives them); ``aget`` searches with the last
    ``query_messages`` messages and returns remem's packed context (``budget_tokens``)."""

    name: str = Field(default="remem", description="The name of the memory block.")
    memory: Any = Field(description="remem Memory, Client, AsyncMemory or AsyncClient")
    user_id: str
    agent_id: Optional[str] = None
    limit: int = 5
    budget_tokens: Optional[int] = 400
    query_messages: int = 1

    async def _aget(self, messages: Optional[List[ChatMessage]] = None,
                    **block_kwargs: Any) -> str:
        texts = [m.content for m in (messages or []) if isinstance(m.content, str) and m.content.strip()]
        if not texts:
            return ""
        query = "\n".join(texts[-self.query_messages:])
        hits = await acall(self.memory, "search", query, user_id=self.user_id,
                           agent_id=self.agent_id, limit=self.limit,
                           budget_tokens=self.budget_tokens)
        return str(hits.context)

    async def _aput(self, messages: List[ChatMessage]) -> None:
        by_session: dict[Any, list[dict[str, Any]]] = {}
        for m in messages:
            if isinstance(m.content, str) and m.content.strip():
                by_session.setdefault(m.additional_kwargs.get("session_id"), []).append(
                    {"role": _role(m), "content": m.content})
        for session_id, turns in by_session.items():
            await acall(self.memory, "add", turns, user_id=self.user_id, agent_id=self.agent_id,
                        session_id=session_id)


class RememRetriever(BaseRetriever):
    """remem's hybrid search as LlamaIndex nodes (``TextNode`` with the memory id, the
    caller's turn ids in ``metadata["source_ids"]``, and the score)."""

    def __init__(self, memory: Any, *, user_id: str, agent_id: str | None = None,
                 session_id: str | None = None, limit: int = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.memory = memory
        self.scope = {"user_id": user_id, "agent_id": agent_id, "session_id": session_id}
        self.limit = limit

    @staticmethod
    def _nodes(hits: Any) -> List[NodeWithScore]:
        return [NodeWithScore(node=TextNode(id_=h.id, text=h.text, metadata={
            "source_ids": list(h.source_ids), "type": h.type, "speaker": h.speaker,
            "event_time": h.event_time.isoformat() if h.event_time else None}), score=h.score)
            for h in hits]

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        return self._nodes(self.memory.search(query_bundle.query_str, **self.scope,
                                              limit=self.limit))

    async def _aretrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        return self._nodes(await acall(self.memory, "search", query_bundle.query_str,
                                       **self.scope, limit=self.limit))
