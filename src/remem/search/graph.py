"""The entity graph as a ranking signal: memories reached from the query's entities over
the co-mention graph (HippoRAG-style personalised PageRank, two steps). Pure functions,
plus ``graph_ranking`` which asks the store for the neighbourhood."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from ..ingest.entities import normalise as normalise_entity
from ..types import Scope


def query_entities(query: str, keys: Iterable[str], max_words: int = 4) -> set[str]:
    """Entity keys that appear in the query as whole word sequences (1..max_words)."""
    toks = [normalise_entity(w) for w in query.split()]
    toks = [t for t in toks if t]
    grams = {" ".join(toks[i:i + n]) for n in range(1, max_words + 1)
             for i in range(len(toks) - n + 1)}
    return grams & set(keys)


def spread(seeds: Mapping[int, float], links: Sequence[tuple[str, int]],
           df: Mapping[int, int], alpha: float = 0.5) -> dict[str, float]:
    """Two steps of personalised PageRank on the memory-entity graph, HippoRAG-style.

    ``seeds``: entity id -> weight (the query's entities). ``links``: (memory, entity)
    edges of the neighbourhood (memories of the seeds and of their co-mentioned
    entities). Mass flows seed -> memories (split by the entity's degree ``df``) ->
    their other entities -> those entities' memories, damped by ``alpha``."""
    by_entity: dict[int, list[str]] = {}
    by_memory: dict[str, list[int]] = {}
    for m, e in links:
        by_entity.setdefault(e, []).append(m)
        by_memory.setdefault(m, []).append(e)
    score: dict[str, float] = {}
    for e, w in seeds.items():
        for m in by_entity.get(e, ()):
            score[m] = score.get(m, 0.0) + w / max(df.get(e, 1), 1)
    mass: dict[int, float] = {}
    for m, s in list(score.items()):
        others = [e for e in by_memory.get(m, ()) if e not in seeds]
        for e in others:
            mass[e] = mass.get(e, 0.0) + s / len(others)
    for e, s in mass.items():
        for m in by_entity.get(e, ()):
            score[m] = score.get(m, 0.0) + alpha * s / max(df.get(e, 1), 1)
    return score


def graph_ranking(store: Any, config: Any, scope: Scope, query: str, n: int,
                  entities: Iterable[str] | None = None) -> list[str]:
    """Memories reached from the query's entities (or the given entity keys: a second
    round seeded from what the first found) over the co-mention graph, best first."""
    stats = store.entity_stats(scope.user_id)
    if not stats:
        return []
    total = store.scope_size(scope.user_id)
    hub = min(config.graph_seed_max,
              max(config.graph_hub_min, int(config.graph_hub_share * total)))
    keys = query_entities(query, stats) if entities is None else set(entities) & set(stats)
    seeds = {stats[k][0]: 1.0 for k in keys if stats[k][1] <= hub}
    if not seeds:
        return []
    links = store.entity_links(scope, list(seeds), config.graph_follow_max)
    df = {i: c for i, c in stats.values()}
    scores = spread(seeds, links, df, config.graph_alpha)
    return [m for m, _ in sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:n]]
