"""Evidence-recall metrics for retrieval benchmarks. Pure functions.

A ranked result is a list of ``(text, source_ids)`` pairs, best first."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from .._text import word_count

Ranked = Sequence[tuple[str, Sequence[str]]]


def recall_at_k(ranked: Ranked, evidence: set[str], k: int) -> float:
    """Share of ``evidence`` among the source ids of the top ``k`` results."""
    if not evidence:
        return 0.0
    found: set[str] = set()
    for _, sources in ranked[:k]:
        found.update(sources)
    return len(evidence & found) / len(evidence)


def recall_by_turns(ranked: Ranked, evidence: set[str], k: int) -> float:
    """Share of ``evidence`` among the first ``k`` distinct turns credited, in rank order."""
    if not evidence:
        return 0.0
    turns: list[str] = []
    seen: set[str] = set()
    for _, sources in ranked:
        for s in sources:
            if s not in seen:
                seen.add(s)
                turns.append(s)
        if len(turns) >= k:
            break
    return len(evidence & set(turns[:k])) / len(evidence)


def recall_within_words(
    ranked: Ranked, evidence: set[str], budget: int, turn_words: Mapping[str, int]
) -> float:
    """Recall counting results in rank order while their running cost stays within
    ``budget`` words. A result costs the words of its text or the words of the turns it
    newly credits (``turn_words``, words of "Speaker: text"), whichever is more."""
    if not evidence:
        return 0.0
    spent = 0
    counted: set[str] = set()
    for text, sources in ranked:
        new = [s for s in sources if s not in counted]
        cost = max(word_count(text), sum(turn_words.get(s, 0) for s in new))
        if spent + cost > budget:
            break
        spent += cost
        counted.update(sources)
    return len(evidence & counted) / len(evidence)


def current_first(ranked: Ranked, current: set[str], stale: set[str]) -> float:
    """1.0 if the first result that credits a current (``current``) or an outdated
    (``stale``) turn credits a current one and no outdated one, else 0.0 (also when no
    result credits either): does the memory surface the fact as it is now before what
    it used to be?"""
    for _, sources in ranked:
        src = set(sources)
        if src & current or src & stale:
            return 1.0 if src & current and not src & stale else 0.0
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    idx = max(0, min(len(s) - 1, math.ceil(q * len(s) / 100) - 1))
    return float(s[idx])
