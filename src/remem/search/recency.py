"""Currentness without an LLM: when a question asks how things are *now*, a newer
statement of the same thing comes before the older one; when it asks about *then*,
nothing moves. Pure functions.

People restate the same attribute as it changes ("I'm at Harland Bank" ... "they put me
in charge of the new branch"); both match "what does she do for a living now?", and the
older one is often worded more like the question. ``tense`` reads the question;
``promote_newer`` lets the latest comparably relevant statement by the same speaker take
the place of an earlier one. Older memories are never dropped: they stay in the results,
marked as possibly outdated, and ``as_of`` / past-tense questions see them as before."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np

from .stages import Parts, total

NOW, CURRENT, PAST, NEUTRAL = "now", "current", "past", "neutral"

# the question says it wants the present state (or the final outcome)
_NOW = re.compile(
    r"\b(now|nowadays|these days|currently|at the moment|at present|presently|still|"
    r"any ?more|no longer|this (?:year|month|week|term|season)|today|latest|newest|"
    r"most recent|in the end|end(?:ed|s)? up|final(?:ly)?|at this point)\b", re.I)
# the question is about a time before now
_PAST = re.compile(
    r"\b(did|was|were|had|used to|before|previously|originally|at first|first|"
    r"back (?:in|then|when)|ago|last (?:year|month|week|time)|initially|earlier|"
    r"recently|lately)\b", re.I)
_PRESENT = re.compile(r"\b(is|are|am|does|do|has|have|can)\b|"
                      r"\b(?:what|who|where|when|how|which|that|it|he|she|there)(?:'s|’s)\b", re.I)


def tense(query: str, *, has_time_range: bool = False, as_of: bool = False) -> str:
    """``now``: the question says it wants how things are now ("Is he still running?",
    "What does she do these days?", "Where did they end up going?"); ``current``:
    other present-tense questions ("Where does Bea live?"); ``past``: questions about a
    time ("Where did Bea live in 2022?", "What was his first job?", ``as_of``); else
    ``neutral``."""
    if as_of or has_time_range:
        return PAST
    if _NOW.search(query):
        return NOW
    if _PAST.search(query):
        return PAST
    if _PRESENT.search(query):
        return CURRENT
    return NEUTRAL


def promote_newer(parts: Parts, times: Mapping[str, float | None],
                  speakers: Mapping[str, str | None], *, window: int, ratio: float,
                  vectors: Mapping[str, np.ndarray] | None = None,
                  min_sim: float = 0.0) -> tuple[Parts, dict[str, str]]:
    """Let the latest restatement outrank what it restates.

    Among the ``window`` best candidates, for each candidate ``a`` (best first) the
    candidates said after it by the same speaker, at least ``ratio`` as relevant (and,
    with ``vectors``, at least ``min_sim`` similar to it) are lifted just above ``a``,
    in their own order (their "recency" part). Candidates outside the window never move.
    Returns the new parts and, per outranked candidate, the newer one (the engine marks
    those hits as possibly outdated)."""
    if window < 2 or not parts:
        return parts, {}
    ranked = sorted(parts, key=lambda d: (-total(parts[d]), d))[:window]
    base = {d: total(parts[d]) for d in ranked}
    score = dict(base)
    out: Parts = {d: dict(p) for d, p in parts.items()}
    newer_of: dict[str, str] = {}
    for a in ranked:
        ta = times.get(a)
        if ta is None or base[a] <= 0:
            continue
        later = [b for b in ranked if b != a and (times.get(b) or 0.0) > ta
                 and speakers.get(b) == speakers.get(a) and base[b] >= ratio * base[a]
                 and _similar(vectors, a, b, min_sim)]
        if not later:
            continue
        newer_of[a] = max(later, key=lambda d: (times[d], d))
        for b in later:  # above a, in their own order
            lift = score[a] * 1.001 + 1e-3 * base[b] - score[b]
            if lift > 0:
                out[b]["recency"] = out[b].get("recency", 0.0) + lift
                score[b] += lift
    return out, newer_of


def _similar(vectors: Mapping[str, np.ndarray] | None, a: str, b: str, min_sim: float) -> bool:
    if vectors is None:
        return True
    va, vb = vectors.get(a), vectors.get(b)
    return va is not None and vb is not None and float(va @ vb) >= min_sim


def mark_outdated(explain: dict[str, float], doc: str, newer_of: Mapping[str, str],
                  rank: Sequence[str]) -> None:
    """Flag a hit (``explain["outdated"] = 1.0``) when a newer restatement of it ranks
    above it: it may no longer be true."""
    b = newer_of.get(doc)
    if b is not None and b in rank and rank.index(b) < rank.index(doc):
        explain["outdated"] = 1.0
