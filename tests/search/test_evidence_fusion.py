"""Fusion that does not invent signal (search/fusion.py ``evidence``) and the query's
BM25 weight it is measured against (search/terms.py ``query_mass``). Pure functions."""

from __future__ import annotations

import math

import pytest

from remem.search.fusion import convex, evidence, lexical_trust
from remem.search.terms import query_mass


def test_lexical_trust_ramps_between_floor_and_full() -> None:
    assert lexical_trust(0.1, 0.3, 0.6) == 0.0
    assert lexical_trust(0.3, 0.3, 0.6) == 0.0
    assert lexical_trust(0.45, 0.3, 0.6) == pytest.approx(0.5)
    assert lexical_trust(0.6, 0.3, 0.6) == 1.0
    assert lexical_trust(1.7, 0.3, 0.6) == 1.0  # BM25 can exceed the mass on short texts
    assert lexical_trust(0.0, 0.5, 0.5) == 1.0  # no ramp: always trusted


def test_a_near_zero_bm25_gets_no_share_where_min_max_gave_it_all() -> None:
    # the remem demo's failure: one memory matched a query word by chance (raw 9.8e-07)
    scores = {"lexical": {"surf": 9.8e-07}, "dense": {"veg": 0.55, "surf": 0.25}}
    old = convex(scores, {"lexical": 1.0, "dense": 0.5})
    assert old["surf"]["lexical"] == 1.0  # min-max stretched it to the full range
    new = evidence(scores, {"lexical": 1.0, "dense": 1.0}, lexical_mass=12.0,
                   lexical_floor=0.3, lexical_full=0.6, dense_floor=0.2)
    assert new["surf"]["lexical"] == 0.0
    assert sum(new["veg"].values()) > sum(new["surf"].values())


def test_keyword_query_is_ranked_by_its_words_paraphrase_by_meaning() -> None:
    dense = {"a": 0.40, "b": 0.45}
    lexical = {"a": 9.0, "b": 1.0}
    # the best match explains 90% of the query's BM25 weight: lexical fully trusted
    kw = evidence({"lexical": lexical, "dense": dense}, lexical_mass=10.0,
                  lexical_floor=0.3, lexical_full=0.6, dense_floor=0.2)
    assert kw["a"]["lexical"] == 1.0 and kw["b"]["lexical"] == pytest.approx(1 / 9)
    assert sum(kw["a"].values()) > sum(kw["b"].values())
    # the same raw scores against a query 10x heavier (words found nowhere): 9% share
    para = evidence({"lexical": lexical, "dense": dense}, lexical_mass=100.0,
                    lexical_floor=0.3, lexical_full=0.6, dense_floor=0.2)
    assert para["a"]["lexical"] == 0.0
    assert sum(para["b"].values()) > sum(para["a"].values())


def test_dense_is_absolute_and_other_signals_pass_through() -> None:
    out = evidence({"dense": {"x": 0.2, "y": 0.6, "z": 1.0, "w": -0.1}, "graph": {"x": 0.5}},
                   {"dense": 2.0, "graph": 0.5}, dense_floor=0.2)
    assert out["x"]["dense"] == 0.0 and out["w"]["dense"] == 0.0
    assert out["y"]["dense"] == pytest.approx(2.0 * 0.5) and out["z"]["dense"] == 2.0
    assert out["x"]["graph"] == 0.25
    # a switched-off signal gives nothing
    assert "dense" not in evidence({"dense": {"x": 0.9}}, {"dense": 0.0}).get("x", {})


def test_without_term_statistics_lexical_is_trusted_relative_to_its_best() -> None:
    out = evidence({"lexical": {"a": 0.06, "b": 0.03}}, lexical_mass=None,
                   lexical_floor=0.3, lexical_full=0.6)
    assert out["a"]["lexical"] == 1.0 and out["b"]["lexical"] == pytest.approx(0.5)


def test_query_mass_sums_idf_and_counts_unseen_terms_as_rare() -> None:
    n = 100
    mass = query_mass(n, {"dog": 10, "zebra": 0})
    idf = lambda df: math.log((n - df + 0.5) / (df + 0.5))  # noqa: E731
    assert mass == pytest.approx(idf(10) + idf(0))
    assert idf(0) > idf(10)  # a word the memory never saw weighs the most
    assert query_mass(0, {"dog": 0}) is None and query_mass(5, {}) is None
    # a term in every memory weighs (almost) nothing
    assert query_mass(n, {"the": n}) == pytest.approx(1e-6)
