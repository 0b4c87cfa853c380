"""LangChain adapters: ``RememRetriever`` (a ``BaseRetriever``: remem's hybrid search as
``Document``s) and ``RememChatMessageHistory`` (a ``BaseChatMessageHistory``: one chat
session kept in remem, each message a searchable turn).

``memory`` is ``Memory`` or ``Client`` (sync calls; LangChain's async methods run them
on a worker thread), or ``AsyncMemory``/``AsyncClient`` for the async methods only.
"""

from __future__ import annotations

from typing import Any, Sequence

from ._log import TurnLog, acall
from ._need import need

need("langchain_core", "langchain")

from langchain_core.callbacks import (  # noqa: E402
    AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun)
from langchain_core.chat_history import BaseChatMessageHistory  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.messages import BaseMessage, messages_from_dict, message_to_dict  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from pydantic import ConfigDict  # noqa: E402

__all__ = ["RememChatMessageHistory", "RememRetriever"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool",
          "function": "tool", "chat": "user"}
_KEY = "langchain_message"


def _document(hit: Any) -> Document:
    return Document(page_content=hit.text, id=hit.id, metadata={
        "id": hit.id, "score": hit.score, "source_ids": list(hit.source_ids), "type": hit.type,
        "speaker": hit.speaker, "session_id": hit.session_id,
        "event_time": hit.event_time.isoformat() if hit.event_time else None,
        "metadata": dict(hit.metadata)})


class RememRetriever(BaseRetriever):
    """Documents for a query from one remem scope, best first (``k`` of them; with
    ``budget_tokens`` only what fits). Each document's metadata has the memory id, score,
    the caller's turn ids (``source_ids``), speaker and time."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Any
    user_id: str
    agent_id: str | None = None
    session_id: str | None = None
    k: int = 5
    budget_tokens: int | None = None
    filters: dict[str, Any] | None = None

    def _args(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "session_id": self.session_id,
                "limit": self.k, "budget_tokens": self.budget_tokens, "filters": self.filters}

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [_document(h) for h in self.memory.search(query, **self._args())]

    async def _aget_relevant_documents(
            self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun) -> list[Document]:
        return [_document(h) for h in await acall(self.memory, "search", query, **self._args())]


class RememChatMessageHistory(BaseChatMessageHistory):
    """The messages of one chat session (``session_id``) of ``user_id``, kept in remem:
    read back in order and exactly (the LangChain message rides in each turn's metadata),
    and searchable with everything else the user said. ``clear()`` deletes the session.
    Messages without text (e.g. a bare tool call) are kept but not indexed as text."""

    def __init__(self, memory: Any, *, user_id: str, session_id: str,
                 agent_id: str | None = None) -> None:
        self.log = TurnLog(memory, _KEY, user_id=user_id, session_id=session_id,
                           agent_id=agent_id)

    def _pairs(self, messages: Sequence[BaseMessage]) -> list[Any]:
        out = []
        for msg in messages:
            text = msg.text if isinstance(msg.text, str) else str(msg.text)
            if not text.strip():
                text = f"[{msg.type} message]"
            turn, meta = self.log.message(_ROLES.get(msg.type, "user"), text, message_to_dict(msg))
            if msg.name:
                turn["name"] = msg.name
            out.append((turn, meta))
        return out

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        return messages_from_dict([r.metadata[_KEY] for r in self.log.rows()])

    async def aget_messages(self) -> list[BaseMessage]:
        return messages_from_dict([r.metadata[_KEY] for r in await self.log.arows()])

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        self.log.append(self._pairs(messages))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await self.log.aappend(self._pairs(messages))

    def clear(self) -> None:
        self.log.clear()

    async def aclear(self) -> None:
        await self.log.aclear()
