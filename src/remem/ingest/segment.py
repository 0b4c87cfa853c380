"""Topic segmentation of a batch of turns by embedding similarity. Pure.

A new segment starts where a turn's vector drifts away from the running centroid of the
current segment (cosine below ``threshold``), or when the segment is full -- the cheap form
of the event boundaries used by EM-LLM and LightMem."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._ids import new_id
from ..types import MemoryRecord, Scope


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


def segment_memories(scope: Scope, memories: list[MemoryRecord], vectors: np.ndarray,
                     now: float, meta: dict[str, Any], cfg: Any,
                     ) -> tuple[list[MemoryRecord], list[np.ndarray]]:
    """Topic segments over a batch's turn memories (``cfg``: an ``ExtractConfig``): one
    memory per segment whose text is its turns ("Speaker: text" lines), whose sources are
    all of them and whose vector is the mean of theirs."""
    turn_idx = [i for i, m in enumerate(memories) if m.type == "turn"]
    out: list[MemoryRecord] = []
    vecs: list[np.ndarray] = []
    for start, end in boundaries(vectors[turn_idx], threshold=cfg.segment_threshold,
                                 min_len=cfg.segment_min, max_len=cfg.segment_max):
        members = [memories[turn_idx[j]] for j in range(start, end)]
        if len(members) < 2:
            continue
        text = "\n".join(f"{m.speaker}: {m.text}" if m.speaker else m.text for m in members)
        out.append(MemoryRecord(
            id=new_id(), scope=scope, text=text, type="segment",
            source_ids=tuple(s for m in members for s in m.source_ids),
            episode_ids=tuple(e for m in members for e in m.episode_ids),
            created_at=now, updated_at=now, event_time=members[0].event_time,
            # the members' key lines once each (neighbouring turns share context lines)
            keys="\n".join(dict.fromkeys(k for m in members for k in m.keys.split("\n") if k)),
            metadata=meta,
            dates=tuple(d for m in members for d in m.dates),
            entities=tuple(dict.fromkeys(e for m in members for e in m.entities))))
        vecs.append(mean_vector(vectors[[turn_idx[j] for j in range(start, end)]]))
    return out, vecs
