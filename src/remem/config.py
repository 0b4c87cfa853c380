"""Retrieval settings (``SearchConfig``), kept apart from the engine so benchmarks and
the CLI can build and vary them without touching it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class SearchConfig:
    """Retrieval knobs. ``weights`` are per-signal RRF weights (0 switches a signal off)."""

    candidates: int = 50  # per signal (at least ``limit``)
    keys_weight: float = 0.5  # BM25 weight of the expanded keys column (text is 1.0)
    lexical_max_df: float | None = 0.25  # query terms in more rows than this share are dropped
    lexical_prune_min_rows: int = 2_000  # ... once the index has at least this many rows
    # and the rarest terms are kept only while their rows add up to at most this many:
    # bounds BM25 work in big scopes (no effect below ~20k memories)
    lexical_max_postings: int | None = 40_000
    # (pruning at 0.25 from the first row is neutral on LoCoMo dev: R@10 +0.006, R@1000w -0.005)
    # defaults below were set by `remem bench locomo DEV --tune` (coordinate ascent over
    # bench/ablate.py:GRID maximising mean(R@10 by turns, R@1000w) on the LoCoMo dev split)
    fusion: str = "convex"  # convex (min-max normalised scores) or rrf (reciprocal rank)
    rrf_k: float = 5.0
    weights: Mapping[str, float] = field(
        default_factory=lambda: {"lexical": 1.0, "dense": 0.5, "graph": 0.5})
    graph_alpha: float = 0.5  # damping of the second hop in the entity graph
    graph_hub_share: float = 0.05  # entities in more than this share of memories are hubs
    graph_hub_min: int = 20
    # query entities in more memories than this are hubs anyway, and the second hop goes
    # only through entities in at most graph_follow_max memories (200/30 before: same
    # LoCoMo dev recall, graph time at a 10k scope 1.18 -> 0.07 ms mean, 6.4 -> 1.9 max)
    graph_seed_max: int = 60
    graph_follow_max: int = 15
    speaker_boost: float = 1.0  # x fused score for memories by a person the query names
    time_boost: float = 1.0  # x fused score for memories inside the query's time range
    neighbour_factor: float = 0.0  # adjacent turns of a hit join at this x its score
    neighbour_window: int = 1
    neighbour_hits: int = 5  # how many top hits offer their neighbours
    question_penalty: float = 0.6  # x fused score taken from turns that only ask a question
    segment_credit: float = 0.5  # a segment hit lends this x its score to its turns
    segment_hits: bool = False  # return segments themselves (else they only lend credit)
    dedupe: bool = True  # drop hits whose source turns better hits already cover
