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


def lexical_trust(best_share: float, floor: float, full: float) -> float:
    """How far to trust lexical matching for a query, from the share of the query's
    BM25 weight its best match explains: 0 at or below ``floor`` (a paraphrase shares a
    word or two with some memory by chance), 1 from ``full`` up, linear between."""
    if full <= floor:
        return 1.0
    return min(1.0, max(0.0, (best_share - floor) / (full - floor)))


def evidence(
    scores: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float] | None = None,
    *,
    lexical_mass: float | None = None,
    lexical_floor: float = 0.0,
    lexical_full: float = 1.0,
    dense_floor: float = 0.0,
) -> dict[str, dict[str, float]]:
    """Weighted sum of scores each signal trusts only as far as it has evidence for
    this query (min-max scaling would stretch a weak best match to full weight):

    - ``lexical``: BM25 relative to the best match, times ``lexical_trust`` of the best
      match's share of ``lexical_mass`` (the BM25 weight of the whole query, see
      ``terms.query_mass``): a keyword query is ranked by its words, a paraphrase by
      meaning. Without a mass (a store with no term statistics) lexical is trusted
      fully, relative to its best match.
    - ``dense``: cosine above ``dense_floor`` (what unrelated texts reach), rescaled so
      that 1.0 stays 1.0: an absolute scale, the same for every query.
    - any other signal, already on a 0..1 scale (the graph's 1/rank), as it is.
    """
    parts: dict[str, dict[str, float]] = {}
    for signal, values in scores.items():
        w = 1.0 if weights is None else weights.get(signal, 1.0)
        if w == 0 or not values:
            continue
        if signal == "lexical":
            best = max(values.values())
            if best <= 0:
                continue
            trust = 1.0 if not lexical_mass else lexical_trust(
                best / lexical_mass, lexical_floor, lexical_full)
            scale = trust / best
            for doc, v in values.items():
                parts.setdefault(doc, {})[signal] = w * v * scale
        elif signal == "dense":
            for doc, v in values.items():
                parts.setdefault(doc, {})[signal] = w * max(0.0, (v - dense_floor) / (1.0 - dense_floor))
        else:
            for doc, v in values.items():
                parts.setdefault(doc, {})[signal] = w * v
    return parts


def order(parts: Mapping[str, Mapping[str, float]]) -> list[tuple[str, float]]:
    """Sort fused parts into (id, total score), best first; ties broken by id for stability."""
    scored = [(doc, sum(p.values())) for doc, p in parts.items()]
    scored.sort(key=lambda x: (-x[1], x[0]))
    return scored
