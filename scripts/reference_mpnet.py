#!/usr/bin/env python3
"""Write ``src/remem/embed/data/reference-mpnet.npy``: the original all-mpnet-base-v2's
vectors (sentence-transformers, float32 -> float16) of ``remem.embed._agreement.SENTENCES``,
against which ``remem model install quality`` and ``tests/quality`` check the 8-bit
model without torch. Needs the export environment and an unpacked model folder::

    pip install torch==2.13.0 sentence-transformers
    python scripts/reference_mpnet.py PATH/all-mpnet-base-v2

(the folder is what the part-wheels join to; ``remem.embed.models`` shows how). Also
prints the agreement of the installed quality model, if there is one, in float32.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from remem.embed import models
from remem.embed._agreement import SENTENCES


def main(argv: list[str]) -> int:
    src = Path(argv[1])
    digest = hashlib.sha256((src / "model.safetensors").read_bytes()).hexdigest()
    if digest != models.SAFETENSORS_SHA256:
        print(f"{src}/model.safetensors is not the upstream release", file=sys.stderr)
        return 1
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(src), device="cpu")
    ref = st.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    np.save(models.REFERENCE, ref.astype(np.float16))
    print(f"wrote {models.REFERENCE} ({len(SENTENCES)} x {ref.shape[1]})")
    if models.is_installed("quality"):
        got = models.load("quality").embed(SENTENCES)
        cos = (got * ref).sum(axis=1)
        print(f"installed quality model: mean cosine {cos.mean():.6f}, min {cos.min():.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
