"""Pack hits into a context string for an LLM prompt, within a token budget. Pure."""

from __future__ import annotations

import math
from typing import Sequence

from ..types import Hit


def estimate_tokens(text: str) -> int:
    """Cheap, tokenizer-free estimate: ~4 characters or ~0.75 words per token, whichever
    is larger (close to GPT/Llama tokenizers on English chat)."""
    return max(math.ceil(len(text) / 4), math.ceil(len(text.split()) * 4 / 3))


def format_hit(hit: Hit) -> str:
    """One context line: ``[2023-05-08] Caroline: text (yesterday = 7 May 2023)``."""
    when = hit.event_time.strftime("%Y-%m-%d") if hit.event_time else "undated"
    who = f"{hit.speaker}: " if hit.speaker else ""
    line = f"[{when}] {who}{hit.text}"
    if hit.dates:
        line += " (dates mentioned: " + "; ".join(hit.dates) + ")"
    return line


def dedupe(hits: Sequence[Hit]) -> list[Hit]:
    """Drop hits whose source turns are all covered by better-ranked hits, and repeats of
    the same text."""
    covered: set[str] = set()
    texts: set[str] = set()
    out = []
    for h in hits:
        key = " ".join(h.text.split()).lower()
        if (h.source_ids and covered.issuperset(h.source_ids)) or key in texts:
            continue
        covered.update(h.source_ids)
        texts.add(key)
        out.append(h)
    return out


def pack(hits: Sequence[Hit], budget_tokens: int) -> tuple[list[Hit], str]:
    """Choose hits in rank order while they fit in ``budget_tokens`` (de-duplicated), then
    lay them out chronologically, one line each, grouped under session headers."""
    chosen: list[tuple[Hit, str]] = []
    used = 0
    ranks = {id(h): i for i, h in enumerate(hits)}
    for h in dedupe(hits):
        line = format_hit(h)
        cost = estimate_tokens(line) + 1
        if used + cost > budget_tokens:
            continue  # a shorter, lower-ranked hit may still fit
        chosen.append((h, line))
        used += cost
    chosen.sort(key=lambda x: (x[0].event_time is None, x[0].event_time or 0, x[0].id))
    while True:
        text = layout(chosen)
        if estimate_tokens(text) <= budget_tokens or not chosen:
            return [h for h, _ in chosen], text
        # session headers pushed it over: drop the lowest-ranked hit and retry
        worst = max(range(len(chosen)), key=lambda i: ranks[id(chosen[i][0])])
        chosen.pop(worst)


def layout(chosen: Sequence[tuple[Hit, str]]) -> str:
    lines: list[str] = []
    last_session: object = object()
    for h, line in chosen:
        if h.session_id != last_session and h.session_id:
            lines.append(f"## session {h.session_id}")
        last_session = h.session_id
        lines.append(line)
    return "\n".join(lines)
