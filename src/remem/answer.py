"""Answer a question from memory with an LLM: ask about the retrieved, packed memories and
map citations back to the caller's turn ids. Without a usable reply it degrades to the
retrieved context. It receives the search result, not ``Memory``."""

from __future__ import annotations

import logging
from typing import Any

from .errors import LLMError
from .llm.base import LLM
from .llm.json import parse_json
from .types import Answer, Hit, SearchResult

log = logging.getLogger("remem.answer")

SYSTEM = (
    "You answer questions about a user from their long-term memory. Use ONLY the numbered "
    "memories given; each has the date it was said and the speaker. Resolve relative "
    "dates against that date. If the memories do not contain the answer, say you do not "
    "know. Reply with a JSON object: {\"answer\": \"...\", \"sources\": [numbers of the "
    "memories you used]}."
)


def build_prompt(question: str, hits: list[Hit]) -> list[dict[str, str]]:
    from .search.packing import format_hit

    lines = [f"[{i}] {format_hit(h)}" for i, h in enumerate(hits, start=1)]
    body = "Memories:\n" + ("\n".join(lines) or "(none)") + f"\n\nQuestion: {question}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": body}]


def cited_sources(reply: Any, hits: list[Hit]) -> tuple[str, ...]:
    """Map the reply's memory numbers to source ids; numbers it made up are dropped."""
    nums = reply.get("sources", []) if isinstance(reply, dict) else []
    out: dict[str, None] = {}
    for n in nums if isinstance(nums, list) else []:
        if isinstance(n, str) and n.strip().lstrip("[").rstrip("]").isdigit():
            n = int(n.strip().lstrip("[").rstrip("]"))
        if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= len(hits):
            out.update(dict.fromkeys(hits[n - 1].source_ids))
    return tuple(out)


def answer(question: str, result: SearchResult, *, llm: LLM) -> Answer:
    """Ask ``llm`` to answer ``question`` from the retrieved ``result`` (its hits and
    packed context); ``Memory.answer`` retrieves it first."""
    hits = list(result)
    all_sources = tuple(dict.fromkeys(s for h in hits for s in h.source_ids))
    try:
        c = llm.complete(build_prompt(question, hits), json=True)
        reply = parse_json(c.text)
        text = reply.get("answer") if isinstance(reply, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise LLMError("the reply has no 'answer' string")
    except LLMError as exc:
        log.warning("answer: LLM unusable, returning retrieved context only: %s", exc)
        return Answer(None, all_sources, result.context, tuple(hits), error=str(exc))
    usage = {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
             "seconds": round(c.seconds, 3)}
    return Answer(text.strip(), cited_sources(reply, hits), result.context, tuple(hits), usage)
