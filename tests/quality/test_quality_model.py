"""The installed quality model (all-mpnet-base-v2, 8-bit) against the original model's
vectors (``remem/embed/data/reference-mpnet.npy``, made with sentence-transformers by
``scripts/reference_mpnet.py``). No torch.

Deselected by default (``-m "not quality"`` in pyproject); ``make test-quality`` installs
the model and runs these. They FAIL, not skip, when the model is not installed."""

from __future__ import annotations

import numpy as np
import pytest

from remem import Memory
from remem.embed import models
from remem.embed._agreement import SENTENCES

pytestmark = pytest.mark.quality


@pytest.fixture(scope="module")
def quality() -> models.OnnxEmbedder:
    assert models.is_installed("quality"), (
        f"the quality model is not installed in {models.model_dir('quality')}: "
        "run `remem model install quality` (or make test-quality)")
    return models.load("quality")


def test_agrees_with_the_original_model(quality: models.OnnxEmbedder) -> None:
    cos = models.agreement(quality, SENTENCES)
    assert cos.mean() >= models.MIN_MEAN_COSINE and cos.min() >= models.MIN_MIN_COSINE, (
        cos.mean(), cos.min())


def test_metadata_and_batch_invariance(quality: models.OnnxEmbedder) -> None:
    assert quality.name == models.QUALITY_NAME and quality.dim == 768
    assert quality.max_length == 384
    batched = quality.embed(SENTENCES)
    alone = np.vstack([quality.embed([s]) for s in SENTENCES[:12]])
    np.testing.assert_allclose(alone, batched[:12], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_memory_uses_it_by_name(tmp_path) -> None:
    with Memory(tmp_path / "m.db", embedder="quality") as mem:
        mem.add([{"role": "user", "name": "Bea", "content": "I have a grey cat called Miso."},
                 {"role": "user", "name": "Bea", "content": "Work has been busy this week."}],
                user_id="bea")
        assert mem.embedder.name == models.QUALITY_NAME
        assert "Miso" in mem.search("Does she own any pets?", user_id="bea")[0].text
