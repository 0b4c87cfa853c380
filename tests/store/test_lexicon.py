"""The in-memory BM25 index and its tokenizer, and the bulk int8 vector decoding (pure)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remem._text import stem as _stem, tokens
from remem.search.terms import query_terms
from remem.store.lexicon import LexicalIndex


def test_tokenizer_folds_case_diacritics_and_stems() -> None:
    words = tokens("Café CAFÉ cafe — running runs; naïve_user 42")
    assert len(words) == 8  # café café cafe running runs naïve user 42
    counts = dict(Counter(_stem(w) for w in words))
    assert counts == {"cafe": 3, "run": 2, "naiv": 1, "user": 1, "42": 1}


def _bm25(tf: float, df: int, n: int, length: float, avg: float) -> float:
    idf = max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)
    return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avg))


def test_scores_are_bm25_with_weighted_keys() -> None:
    index = LexicalIndex()
    index.add([("zebra zebra horse", ""), ("horse cow", "zebra"), ("cow cow cow", ""),
               ("dog", ""), ("cat", "")])
    lengths = [3, 3, 3, 1, 1]
    avg = sum(lengths) / 5
    got = dict(index.search(["zebra"], 10, keys_weight=0.5))
    assert got[0] == pytest.approx(_bm25(2, 2, 5, 3, avg))
    assert got[1] == pytest.approx(_bm25(0.5, 2, 5, 3, avg))
    assert list(got) == [0, 1]
    assert dict(index.search(["zebra"], 10, keys_weight=0.0)) == pytest.approx({0: got[0]})
    both = dict(index.search(["zebra", "cow"], 10))
    assert both[1] == pytest.approx(got[1] + _bm25(1, 2, 5, 3, avg))
    assert index.search(["unknown"], 10) == [] and index.search([], 10) == []


def test_removed_documents_leave_scores_and_statistics() -> None:
    index = LexicalIndex()
    index.add([("zebra", ""), ("zebra horse", ""), ("horse", ""), ("cow", ""), ("dog", "")])
    index.remove([0, 0])  # twice: counted once
    assert index.dead == 1 and index.doc_freq("zebra") == 1
    fresh = LexicalIndex()
    fresh.add([("zebra horse", ""), ("horse", ""), ("cow", ""), ("dog", "")])
    got = index.search(["zebra", "horse"], 10)
    want = fresh.search(["zebra", "horse"], 10)
    assert [p for p, _ in got] == [p + 1 for p, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want])


def test_mask_and_limit() -> None:
    index = LexicalIndex()
    index.add([(f"apple {'pie ' * i}", "") for i in range(10)])
    mask = np.array([i % 2 == 0 for i in range(10)])
    hits = index.search(["pie"], 3, mask=mask)
    assert len(hits) == 3 and all(p % 2 == 0 for p, _ in hits)
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=12), st.text(max_size=30))
def test_any_text_indexes_and_searches(texts: list[str], query: str) -> None:
    index = LexicalIndex()
    index.add([(t, t[::-1]) for t in texts])
    hits = index.search(query_terms(query), 5)
    assert len(hits) <= 5 and all(0 <= p < len(texts) and s > 0 for p, s in hits)


def test_int8_vectors_decode_the_same_one_by_one_and_in_bulk() -> None:
    from remem.errors import StoreError
    from remem.store.dense import decode_int8, decode_int8_rows, encode_int8

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((7, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    blobs = [encode_int8(v) for v in vectors]
    grid = decode_int8_rows(blobs)
    assert grid.codes.dtype == np.int8 and grid.codes.shape == (7, 384) and len(grid) == 7
    bulk = grid.rows()
    assert bulk.dtype == np.float32 and bulk.shape == (7, 384)
    assert np.array_equal(bulk, np.array([decode_int8(b) for b in blobs]))
    assert np.min(np.sum(bulk * vectors, axis=1) / np.linalg.norm(bulk, axis=1)) > 0.999
    with pytest.raises(StoreError, match="dimension"):
        decode_int8_rows(blobs[:2] + [encode_int8(vectors[0][:8])])
    assert decode_int8_rows([]).codes.shape == (0, 0)
