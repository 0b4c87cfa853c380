"""Dense top-k (pure numpy): exact scan, and the sign-bit first stage of large scopes."""

from __future__ import annotations

import numpy as np
import pytest

from remem.store import dense as _dense
from remem.store.dense import SignCodes, top_k


def unit_rows(n: int, dim: int = 64, seed: int = 0, topics: int = 0) -> np.ndarray:
    """Unit rows sharing a common direction (like sentence embeddings); with ``topics``,
    each row is one of that many topic directions plus noise, so neighbours are real."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n, dim)).astype(np.float32) + 1.0
    if topics:
        centres = rng.standard_normal((topics, dim)).astype(np.float32) * 2.0
        rows = rows * 0.6 + centres[rng.integers(0, topics, n)]
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_exact_scan_orders_by_dot_product_and_respects_the_mask() -> None:
    m = unit_rows(500)
    q = m[7]
    hits = top_k(m, q, 5)
    assert hits[0][0] == 7 and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    scores = m @ q
    assert [i for i, _ in hits] == list(np.argsort(-scores, kind="stable")[:5])
    mask = np.arange(500) % 2 == 1
    assert all(i % 2 == 1 for i, _ in top_k(m, q, 5, mask))
    assert top_k(m, q, 5, np.zeros(500, bool)) == []
    assert top_k(m[:0], q, 5) == [] and top_k(m, q, 0) == []


def test_sign_stage_finds_the_exact_top_hits_with_exact_scores(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(_dense, "RERANK_MIN", 300)
    monkeypatch.setattr(_dense, "RERANK_PER_HIT", 30)
    m = unit_rows(6000, dim=384, topics=300)  # ~20 rows per topic
    signs = SignCodes(m)
    overlap = []
    for qi in range(0, 6000, 300):
        q = m[qi] + 0.05 * unit_rows(1, dim=384, seed=qi)[0]
        q /= np.linalg.norm(q)
        exact, fast = top_k(m, q, 10), top_k(m, q, 10, signs=signs)
        assert fast[0][0] == exact[0][0]
        got = dict(fast)
        assert all(got[i] == pytest.approx(s, abs=1e-6) for i, s in exact if i in got)
        overlap.append(len(got.keys() & dict(exact).keys()) / 10)
    assert np.mean(overlap) >= 0.95
    mask = np.arange(6000) < 50  # a small session inside a big scope: all of it is found
    fast = top_k(m, m[3], 100, mask, signs)
    assert sorted(i for i, _ in fast) == list(range(50))


def test_sign_codes_extend_like_a_fresh_build_and_report_staleness() -> None:
    m = unit_rows(1000)
    grown = SignCodes(m[:400])
    grown.extend(m[:700])
    grown.extend(m)  # past the spare capacity: regrows
    fresh = SignCodes(m[:400])  # same centre (the first 400 rows' mean)
    fresh.extend(m)
    q = m[5]
    assert np.array_equal(grown.distances(q), fresh.distances(q))
    assert len(grown.distances(q)) == 1000 and grown.distances(q)[5] == 0
    assert grown.stale(800) and not grown.stale(799)


def test_popcount_fallback_matches_numpy() -> None:
    words = np.random.default_rng(1).integers(0, 2**63, 1000, dtype=np.int64).astype(np.uint64)
    expected = np.array([bin(int(w)).count("1") for w in words])
    assert np.array_equal(_dense._popcount(words), expected)
    table = _dense._POP8[words.view(np.uint8)].reshape(len(words), 8).sum(axis=1)
    assert np.array_equal(table, expected)
