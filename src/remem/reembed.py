"""Move a store to another embedding model (``Memory.reembed``, ``remem reembed``).

Every memory of every user, whatever its status, gets a vector of the new model; texts,
keys, times, links and ``updated_at`` stay as they were, and each change is recorded in
history as ``REEMBED`` (``detail``: the old and the new model). Vectors are written in
batches of one transaction each, so an interrupted run loses nothing and a re-run
continues where it stopped: memories that already have a vector of the new model are
skipped. Texts are embedded as ``add`` embeds them (a turn as ``Speaker: text`` with
pronouns resolved against the turn before it; a segment's vector is the mean of its
turns' vectors).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .ingest import extract
from .ingest.segment import mean_vector
from .embed.base import Embedder
from .errors import EmbedderError, RememError
from .types import MemoryRecord


@dataclass(frozen=True)
class ReembedReport:
    model: str  # the new embedder's name
    dim: int
    users: int
    memories: int  # every memory in the store
    reembedded: int  # given a vector of the new model by this run
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "dim": self.dim, "users": self.users,
                "memories": self.memories, "reembedded": self.reembedded,
                "seconds": round(self.seconds, 2)}


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    try:
        vecs = embedder.embed(texts)
    except RememError:
        raise
    except Exception as exc:
        raise EmbedderError(f"embedder {embedder.name} failed: {exc}") from exc
    if vecs.shape != (len(texts), embedder.dim):
        raise EmbedderError(f"embedder {embedder.name} returned shape {vecs.shape}, "
                            f"expected ({len(texts)}, {embedder.dim})")
    return vecs


def embed_text(engine: Any, rec: MemoryRecord) -> str:
    """What ``add``/``update`` embed for this memory (``Memory._rederive`` for turns)."""
    said = rec.event_time if rec.event_time is not None else rec.created_at
    turns = [extract.Turn("user", rec.text, rec.speaker)]
    times = [said]
    if rec.type == "turn" and rec.episode_ids:
        ctx = engine.store.episode_context(rec.episode_ids[0])
        if ctx is not None and ctx[1] is not None:
            prev = ctx[1]
            turns.insert(0, extract.Turn(prev["role"], prev["content"], prev["name"]))
            times.insert(0, prev["timestamp"])
    return extract.session_candidates(turns, times, engine.extract_config)[-1][0].embed_text


def run(engine: Any, embedder: Embedder, *, batch_size: int = 256,
        progress: Callable[[int, int], None] | None = None) -> ReembedReport:
    """Give every memory a vector of ``embedder`` (see the module docstring)."""
    started = time.perf_counter()
    store, name = engine.store, embedder.name
    users = store.user_ids()
    todo_total = total = 0
    for user in users:  # a cheap first pass for the progress bar's total
        rows = store.embed_rows(user, name)
        total += len(rows)
        todo_total += sum(1 for _, vec in rows if vec is None)
    done = 0
    if progress:
        progress(0, todo_total)

    def write(items: list[tuple[str, np.ndarray]]) -> None:
        nonlocal done
        store.set_vectors(items, name)
        done += len(items)
        if progress:
            progress(done, todo_total)

    for user in users:
        rows = store.embed_rows(user, name)
        have = {rec.id: vec for rec, vec in rows if vec is not None}
        plain = [rec for rec, vec in rows if vec is None and rec.type != "segment"]
        for start in range(0, len(plain), batch_size):
            batch = plain[start:start + batch_size]
            vecs = _embed(embedder, [embed_text(engine, rec) for rec in batch])
            have.update((rec.id, v) for rec, v in zip(batch, vecs))
            write([(rec.id, v) for rec, v in zip(batch, vecs)])
        by_episode = {rec.episode_ids[0]: have[rec.id] for rec, _ in rows
                      if rec.type == "turn" and rec.episode_ids and rec.id in have}
        segments = [rec for rec, vec in rows if vec is None and rec.type == "segment"]
        for start in range(0, len(segments), batch_size):
            batch = segments[start:start + batch_size]
            members = [[by_episode[e] for e in rec.episode_ids if e in by_episode]
                       for rec in batch]
            orphans = [i for i, m in enumerate(members) if not m]
            extra = _embed(embedder, [embed_text(engine, batch[i]) for i in orphans]) \
                if orphans else None
            vecs = [mean_vector(np.stack(m)) if m else None for m in members]
            for j, i in enumerate(orphans):
                vecs[i] = extra[j]  # type: ignore[index]
            write([(rec.id, v) for rec, v in zip(batch, vecs)])  # type: ignore[misc]
    engine.embedder = embedder
    return ReembedReport(name, embedder.dim, len(users), total, done,
                         time.perf_counter() - started)
