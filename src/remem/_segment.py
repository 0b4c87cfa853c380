"""Topic segmentation of a batch of turns by embedding similarity. Pure.

A new segment starts where a turn's vector drifts away from the running centroid of the
current segment (cosine below ``threshold``), or when the segment is full -- the cheap form
of the event boundaries used by EM-LLM and LightMem."""

from __future__ import annotations

import numpy as np


def boundaries(vectors: np.ndarray, *, threshold: float = 0.25, min_len: int = 2,
               max_len: int = 8) -> list[tuple[int, int]]:
    """Split rows ``0..n`` into contiguous segments; returns ``(start, end)`` half-open."""
    n = len(vectors)
    if n == 0:
        return []
    segments: list[tuple[int, int]] = []
    start = 0
    centroid = vectors[0].astype(np.float32).copy()
    for i in range(1, n):
        length = i - start
        c = centroid / (np.linalg.norm(centroid) or 1.0)
        sim = float(vectors[i] @ c)
        if length >= max_len or (length >= min_len and sim < threshold):
            segments.append((start, i))
            start, centroid = i, vectors[i].astype(np.float32).copy()
        else:
            centroid += vectors[i]
    segments.append((start, n))
    return segments


def mean_vector(vectors: np.ndarray) -> np.ndarray:
    v = vectors.mean(axis=0)
    norm = np.linalg.norm(v)
    return (v / norm if norm else v).astype(np.float32)
