"""A deterministic, dependency-free embedder for tests and offline experiments.

Feature hashing of word unigrams and character trigrams into ``dim`` buckets with signed
hashes, then L2 normalisation. Same text, same vector, on every machine."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from .._text import words
from .base import l2_normalise


class HashingEmbedder:
    """Bag-of-words + char-trigram feature hashing. Not semantic; fast and reproducible."""

    def __init__(self, dim: int = 256) -> None:
        if not isinstance(dim, int) or dim < 8:
            raise ValueError("dim must be an int >= 8")
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _features(self, text: str) -> list[str]:
        toks = words(text)
        feats = [f"w:{t}" for t in toks]
        for t in toks:
            padded = f"#{t}#"
            feats.extend(f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2))
        return feats

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for f in self._features(text):
                h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return l2_normalise(out)
