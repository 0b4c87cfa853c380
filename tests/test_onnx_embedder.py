"""The packaged ONNX embedder (all-MiniLM-L6-v2 int8) through its public surface. No torch."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from remem import EmbedderError, InvalidInput
from remem.embed.base import Embedder
from remem.embed.onnx import DEFAULT_MODEL_DIR, OnnxEmbedder, _run_parallel

TEXTS = [
    "I adopted a puppy last week.",
    "",
    "ok",
    "The quarterly report is due at the end of the month, so please send me your numbers.",
    "Remind me to call my mother on Sunday.",
    "東京は日本の首都です。",
    "SELECT * FROM users;",
    "word " * 400,  # longer than max_length: truncated
    "We are planning a trip to Japan in April to see the cherry blossoms with friends.",
    "yes",
]


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


def test_constructor_is_cheap_and_reads_metadata() -> None:
    e = OnnxEmbedder()
    assert isinstance(e, Embedder)
    assert e.name == "all-MiniLM-L6-v2-int8"
    assert e.dim == 384
    assert e._session is None  # nothing loaded until the first embed()


def test_shape_dtype_unit_norm(embedder: OnnxEmbedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input(embedder: OnnxEmbedder) -> None:
    for empty in ([], ()):
        out = embedder.embed(empty)
        assert out.shape == (0, 384)
        assert out.dtype == np.float32


def test_empty_input_does_not_load_model() -> None:
    e = OnnxEmbedder()
    assert e.embed([]).shape == (0, 384)
    assert e._session is None


def test_deterministic(embedder: OnnxEmbedder) -> None:
    first = embedder.embed(TEXTS)
    np.testing.assert_array_equal(first, embedder.embed(TEXTS))
    np.testing.assert_allclose(first, OnnxEmbedder(threads=1).embed(TEXTS), atol=1e-5)


def test_semantic_sanity(embedder: OnnxEmbedder) -> None:
    puppy, dog, stocks = embedder.embed(
        ["I adopted a puppy last week", "getting a new dog", "the stock market fell"]
    )
    assert float(puppy @ dog) > float(puppy @ stocks) + 0.2


def test_batch_equals_one_at_a_time() -> None:
    e = OnnxEmbedder(batch_size=3)  # several batches of differing padded widths
    batched = e.embed(TEXTS)
    single = np.concatenate([e.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_parallel_batches_equal_sequential() -> None:
    texts = TEXTS * 5  # many batches of differing widths, run on two threads at once
    parallel = OnnxEmbedder(threads=2, batch_size=2, batch_tokens=64).embed(texts)
    sequential = OnnxEmbedder(threads=1, batch_size=2, batch_tokens=64).embed(texts)
    np.testing.assert_array_equal(parallel, sequential)


def test_run_parallel_runs_every_batch_once_and_reraises() -> None:
    batches = [np.array([i]) for i in range(20)]
    seen: list[int] = []
    _run_parallel(lambda rows: seen.append(int(rows[0])), batches, workers=3)
    assert sorted(seen) == list(range(20))

    def fail(rows: np.ndarray) -> None:
        if int(rows[0]) == 7:
            raise EmbedderError("batch 7 failed")

    with pytest.raises(EmbedderError, match="batch 7"):
        _run_parallel(fail, batches, workers=2)


def test_order_is_preserved(embedder: OnnxEmbedder) -> None:
    forward = embedder.embed(TEXTS)
    backward = embedder.embed(TEXTS[::-1])
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-4)


def test_truncates_to_max_length(embedder: OnnxEmbedder) -> None:
    assert embedder.max_length == 256
    a, b = embedder.embed(["word " * 300, "word " * 600])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_thread_safe_first_use() -> None:
    e = OnnxEmbedder()
    expected = OnnxEmbedder().embed(TEXTS)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(e.embed(TEXTS))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 4
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-5)


def test_rejects_a_bare_string(embedder: OnnxEmbedder) -> None:
    with pytest.raises(InvalidInput):
        embedder.embed("not a list")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        embedder.embed(["ok", 3])  # type: ignore[list-item]


def test_rejects_bad_options() -> None:
    with pytest.raises(InvalidInput):
        OnnxEmbedder(batch_size=0)
    with pytest.raises(InvalidInput):
        OnnxEmbedder(threads=0)
    with pytest.raises(InvalidInput):
        OnnxEmbedder(batch_tokens=0)
    assert OnnxEmbedder(threads=3).threads == 3
    assert OnnxEmbedder().threads >= 1  # default: the usable cores


def test_missing_model_dir(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="not found") as info:
        OnnxEmbedder(tmp_path / "nope")
    assert info.value.__cause__ is not None


def test_missing_model_file(tmp_path: Path) -> None:
    for name in ("model.json", "tokenizer.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    e = OnnxEmbedder(tmp_path)  # metadata alone is enough to construct
    with pytest.raises(EmbedderError, match="model.onnx"):
        e.embed(["hello"])


def test_corrupt_model_file(tmp_path: Path) -> None:
    for name in ("model.json", "tokenizer.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    (tmp_path / "model.onnx").write_bytes(b"this is not an onnx model")
    with pytest.raises(EmbedderError) as info:
        OnnxEmbedder(tmp_path).embed(["hello"])
    assert info.value.__cause__ is not None


def test_bad_metadata(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(EmbedderError):
        OnnxEmbedder(tmp_path)
    (tmp_path / "model.json").write_text('{"name": "x"}', encoding="utf-8")
    with pytest.raises(EmbedderError):
        OnnxEmbedder(tmp_path)
