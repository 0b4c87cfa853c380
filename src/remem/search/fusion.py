"""Rank fusion. Pure functions over ranked lists of ids."""

from __future__ import annotations

from typing import Mapping, Sequence


def rrf(
    rankings: Mapping[str, Sequence[str]],
    weights: Mapping[str, float] | None = None,
    k: float = 60.0,
) -> dict[str, dict[str, float]]:
    """Weighted reciprocal rank fusion.

    ``rankings`` maps a signal name to ids best-first. Returns, per id, each signal's
    contribution ``weight / (k + rank)`` (rank from 1); the fused score is their sum.
    """
    parts: dict[str, dict[str, float]] = {}
    for signal, ids in rankings.items():
        w = 1.0 if weights is None else weights.get(signal, 1.0)
        if w == 0:
            continue
        for rank, doc in enumerate(ids, start=1):
            parts.setdefault(doc, {})[signal] = w / (k + rank)
    return parts


def convex(
    scores: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float] | None = None,
) -> dict[str, dict[str, float]]:
    """Weighted sum of min-max normalised scores (per signal, over its candidates).

    ``scores`` maps a signal to {id: raw score}. Each signal's scores are scaled to 0..1
    and multiplied by the signal's weight; an id a signal did not return gets 0 from it.
    """
    parts: dict[str, dict[str, float]] = {}
    for signal, values in scores.items():
        w = 1.0 if weights is None else weights.get(signal, 1.0)
        if w == 0 or not values:
            continue
        lo, hi = min(values.values()), max(values.values())
        span = hi - lo
        for doc, v in values.items():
            parts.setdefault(doc, {})[signal] = w * ((v - lo) / span if span > 0 else 1.0)
    return parts


def order(parts: Mapping[str, Mapping[str, float]]) -> list[tuple[str, float]]:
    """Sort fused parts into (id, total score), best first; ties broken by id for stability."""
    scored = [(doc, sum(p.values())) for doc, p in parts.items()]
    scored.sort(key=lambda x: (-x[1], x[0]))
    return scored
