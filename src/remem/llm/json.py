"""Tolerant JSON parsing of LLM replies. Pure."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import LLMError

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def _balanced(text: str, start: int) -> str | None:
    """The balanced {...} or [...] starting at ``start`` (string-aware), or None."""
    opener = text[start]
    closer = "}" if opener == "{" else "]"
    depth, in_str, esc = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return text[start : i + 1] if ch == closer else None
    return None


def parse_json(text: str) -> Any:
    """Parse the first JSON object or array in an LLM reply: plain, inside a ``` fence,
    or embedded in prose; trailing commas are forgiven. Raises ``LLMError`` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise LLMError("the LLM answered nothing")
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        cand = cand.strip()
        try:
            return json.loads(cand)
        except json.JSONDecodeError:
            pass
        for i, ch in enumerate(cand):
            if ch in "{[":
                chunk = _balanced(cand, i)
                if chunk is None:
                    continue
                for attempt in (chunk, re.sub(r",\s*([}\]])", r"\1", chunk)):
                    try:
                        return json.loads(attempt)
                    except json.JSONDecodeError:
                        continue
    raise LLMError(f"the LLM reply is not JSON: {text[:120]!r}")
