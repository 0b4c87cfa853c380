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


def test_rows_on_the_int8_grid_rank_as_their_float_values() -> None:
    from remem.store.dense import Grid, decode_int8, encode_int8, to_grid

    m = unit_rows(9000, dim=96, topics=50)
    grid = to_grid(m)
    assert np.array_equal(grid.rows(), np.stack([decode_int8(encode_int8(r)) for r in m]))
    floats = grid.rows()
    q = m[11]
    exact_grid, exact_float = top_k(grid, q, 20), top_k(floats, q, 20)
    assert [i for i, _ in exact_grid] == [i for i, _ in exact_float]
    assert all(a == pytest.approx(b, abs=1e-6) for (_, a), (_, b) in zip(exact_grid, exact_float))
    # the sign stage codes the grid block by block exactly as it codes the float matrix
    signs_grid, signs_float = SignCodes(grid), SignCodes(floats)
    assert np.allclose(signs_grid.center, signs_float.center, atol=1e-6)
    assert np.array_equal(signs_grid.distances(q), signs_float.distances(q))
    half = Grid(grid.codes[:5000], grid.scales[:5000])
    grown = SignCodes(half)
    grown.extend(grid)
    fresh = SignCodes(half)
    fresh.extend(floats)
    assert np.array_equal(grown.distances(q), fresh.distances(q))
    # a few rows at a time, as a search reads the rows its first stage picked
    rows = np.array([3, 70, 4096, 8999])
    assert np.allclose(grid.dot(q, rows), floats[rows] @ q, atol=1e-6)
    assert np.allclose(grid.dot(q), floats @ q, atol=1e-6)


def test_saved_vectors_round_trip_without_copying_and_with_their_sign_codes(
        monkeypatch) -> None:  # noqa: ANN001
    from remem.store.dense import (VectorCache, grid_columns, to_grid, vector_columns,
                                   vectors_from_bytes, vectors_to_bytes)
    from remem.types import Scope

    monkeypatch.setattr(_dense, "EXACT_MAX", 100)
    monkeypatch.setattr(_dense, "RERANK_MIN", 50)
    m = unit_rows(400, dim=48, topics=20)
    columns = vector_columns()
    columns.extend(grid_columns([f"m{i}" for i in range(400)], ["a" if i % 2 else "b"
                                for i in range(400)], [None] * 400, to_grid(m)))
    cache = VectorCache("model-x", columns)
    blob = vectors_to_bytes(cache)  # builds the sign codes: the scope is past EXACT_MAX
    back = vectors_from_bytes(blob)
    assert back.signs is not None and back.signs.n == 400
    assert not back.grid.codes.flags.owndata  # a view of the blob, not a copy
    assert back.model == "model-x" and back.ids.tolist() == cache.ids.tolist()
    q = m[5]
    for scope in (Scope("u"), Scope("u", agent_id="a")):
        assert _dense.rank(back, scope, q, 10, None) == _dense.rank(cache, scope, q, 10, None)
    # a loaded cache takes new rows (the views are copied out on the first append)
    back.columns.extend(grid_columns(["new"], ["a"], [None], to_grid(m[5:6] * -1)))
    grown = VectorCache("model-x", back.columns, back.signs)
    assert _dense.rank(grown, Scope("u"), -m[5], 1, None)[0][0] == "new"
    with pytest.raises(ValueError):
        vectors_from_bytes(blob[:len(blob) // 2])
