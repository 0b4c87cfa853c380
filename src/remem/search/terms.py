"""Query terms for lexical search: the query's words as index terms (the analyser the
SQLite store indexes text with, ``remem._text.tokens`` + ``stem``), and the pruning of
terms too common to be worth scoring in a large index. Pure, but for ``lexical_terms``,
which asks the store for the document frequencies pruning needs and hands the store a
``QueryTerms``: the terms kept, and the query words they came from (for a store that
analyses text its own way, as PostgreSQL's English configuration does)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from .._text import content_words, stem, tokens, words
from ..store.protocol import QueryTerms
from ..types import Scope


def _analyse(query: str, limit: int = 64) -> dict[str, list[str]]:
    """Index term -> the query words it comes from, in query order."""
    out: dict[str, list[str]] = {}
    for word in content_words(query) or list(dict.fromkeys(words(query))):
        parts = tokens(word)
        for p in parts if len(parts) == 1 else [p for p in parts if len(p) > 1]:
            out.setdefault(stem(p), []).append(word)
    return dict(list(out.items())[:limit])


def query_terms(query: str, limit: int = 64) -> list[str]:
    """The query's content words (stopwords out unless nothing else is left) as index
    terms, de-duplicated in order. A word split by an apostrophe keeps its long parts
    ("Dmitri's" -> "dmitri")."""
    return list(_analyse(query, limit))


def terms_of(query: str) -> QueryTerms:
    """All the query's terms (nothing pruned), with the words they came from."""
    found = _analyse(query)
    return QueryTerms(tuple(found), tuple(dict.fromkeys(w for ws in found.values() for w in ws)))


def prune_terms(dfs: dict[str, int], max_rows: float,
                max_postings: int | None) -> list[str]:
    """Query terms worth scoring, in query order: those in at most ``max_rows``
    memories, then (with ``max_postings``) the rarest while their memories add up to at
    most that many. The rarest term always stays."""
    terms = list(dfs)
    keep = [t for t in terms if dfs[t] <= max_rows] or [min(terms, key=lambda t: dfs[t])]
    if max_postings is not None and sum(dfs[t] for t in keep) > max_postings:
        budget, kept = max_postings, set()
        for t in sorted(keep, key=lambda t: (dfs[t], t)):
            if kept and dfs[t] > budget:
                break
            kept.add(t)
            budget -= dfs[t]
        keep = [t for t in keep if t in kept]
    return keep


def query_mass(n: int, dfs: Mapping[str, int]) -> float | None:
    """The BM25 weight of a whole query in an index of ``n`` memories: the sum of its
    terms' idf (as the index scores them), a term found nowhere counting as if in half a
    memory. A memory's BM25 over this is the share of the query it explains. ``None``
    without statistics (no memories, no terms)."""
    if not n or not dfs:
        return None
    return sum(max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6) for df in dfs.values())


def lexical_terms(store: Any, scope: Scope, query: str, *, max_df: float | None,
                  prune_min_rows: int, max_postings: int | None,
                  stats: tuple[int, Mapping[str, int]] | None = None) -> QueryTerms:
    """The terms of ``query`` to rank the scope by. With ``max_df``, in an index of at
    least ``prune_min_rows`` memories, terms in more than that share of them are left
    out (they add little to BM25 but score most of the scope); with ``max_postings``,
    terms are then kept rarest first while the memories they occur in add up to at most
    that many. The rarest term always stays. A store without term statistics (its
    ``doc_freqs`` counts no memories) is never pruned. ``stats``: the store's
    ``doc_freqs`` of all the query's terms, if the caller has them already."""
    found = _analyse(query)
    terms = list(found)
    if max_df is not None and len(terms) > 1:
        n, dfs = stats if stats is not None else store.doc_freqs(scope, terms)
        dfs = {t: dfs.get(t, 0) for t in terms}
        if n and n >= prune_min_rows:
            terms = prune_terms(dfs, max_df * n, max_postings)
    return QueryTerms(tuple(terms), tuple(dict.fromkeys(w for t in terms for w in found[t])))
