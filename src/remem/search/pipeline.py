"""The search pipeline: candidates from each index -> fusion -> adjustments -> hits.

``search(engine, ...)`` is what ``Memory.search`` delegates to once its arguments are
checked. Each stage is a pure function in ``stages``/``fusion``/``graph``; this module
only fetches what they need from the store and threads the score parts through, so
every hit can explain its score."""

from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np

from .._engine import Engine
from ..ingest.timeparse import query_ranges
from .._text import entity_key
from ..types import Hit, MemoryRecord, Scope, SearchResult, to_datetime
from . import packing, recency, stages
from .fusion import convex, evidence, order, rrf
from .graph import graph_ranking, query_entities
from .terms import lexical_terms, query_mass, terms_of

Parts = stages.Parts


def said_date(m: MemoryRecord) -> Any:
    return to_datetime(m.event_time).date() if m.event_time is not None else None  # type: ignore[union-attr]


def in_scope(m: MemoryRecord, scope: Scope) -> bool:
    return (m.scope.user_id == scope.user_id and m.status == "active"
            and (scope.agent_id is None or m.scope.agent_id == scope.agent_id)
            and (scope.session_id is None or m.scope.session_id == scope.session_id))


def valid(m: MemoryRecord, at: float | None, now: float) -> bool:
    """Current (``at`` None: not superseded by ``now``) or valid at time ``at``."""
    if at is None:
        return m.valid_to is None or m.valid_to > now
    start = m.valid_from if m.valid_from is not None else (
        m.event_time if m.event_time is not None else m.created_at)
    return start <= at and (m.valid_to is None or m.valid_to > at)


def _settle(store: Any, parts: Parts, records: dict[str, MemoryRecord], scope: Scope,
            at: float | None = None) -> Parts:
    """Fetch the records of ids that joined the ranking (into ``records``) and keep
    only live memories inside the scope that are valid (now, or at ``at``)."""
    missing = [d for d in parts if d not in records]
    if missing:
        records.update({m.id: m for m in store.fetch(missing, scope.user_id)})
    now = time.time()
    return {d: p for d, p in parts.items() if d in records and in_scope(records[d], scope)
            and valid(records[d], at, now)}


def search(engine: Engine, query: str, scope: Scope, *, limit: int,
           filters: Mapping[str, Any] | None, budget_tokens: int | None,
           at: float | None) -> SearchResult:
    """Hybrid search in one scope (arguments already checked by ``Memory.search``)."""
    store, cfg = engine.store, engine.config
    allowed = store.filter_ids(scope, filters) if filters is not None else None
    if allowed is not None and not allowed:
        return SearchResult([], "", budget_tokens)
    n = max(cfg.candidates, limit)
    rankings: dict[str, list[str]] = {}
    raw: dict[str, dict[str, float]] = {}
    mass = None
    if cfg.weights.get("lexical", 1.0):
        stats = None
        if cfg.fusion == "evidence":  # the query's whole BM25 weight, to scale by
            stats = store.doc_freqs(scope, list(terms_of(query).terms))
            mass = query_mass(*stats)
        terms = lexical_terms(store, scope, query, max_df=cfg.lexical_max_df,
                              prune_min_rows=cfg.lexical_prune_min_rows,
                              max_postings=cfg.lexical_max_postings, stats=stats)
        lex = store.lexical(scope, terms, n, allowed, cfg.keys_weight)
        rankings["lexical"] = [i for i, _ in lex]
        raw["lexical"] = dict(lex)
    if cfg.weights.get("dense", 1.0):
        qv = engine.embed([query])[0]
        dense = store.dense(scope, qv, engine.embedder.name, n, allowed)
        rankings["dense"] = [i for i, _ in dense]
        raw["dense"] = dict(dense)
    if cfg.weights.get("graph", 0.0):
        rankings["graph"] = graph_ranking(store, cfg, scope, query, n)
    # candidates that may not be returned leave before fusion, so they do not shift
    # the score normalisation: out of scope, superseded (or not valid at ``at``)
    records: dict[str, MemoryRecord] = {}
    ok = _settle(store, {d: {} for r in rankings.values() for d in r}, records, scope, at)
    if cfg.owner_neutral and "dense" in raw and ok:
        # a question that names the memory's owner: embed it without the name, which
        # every memory shares and which would pull towards turns that repeat it
        names = stages.owners(stages.mentioned_names(query, store.speakers(scope.user_id)),
                              {d: records[d].speaker for d in ok},
                              {d: records[d].importance >= 0.5 for d in ok})
        if names:
            qv = engine.embed([stages.without_names(query, names)])[0]
            dense = store.dense(scope, qv, engine.embedder.name, n, allowed)
            rankings["dense"] = [i for i, _ in dense]
            raw["dense"] = dict(dense)
            ok = _settle(store, {d: {} for r in rankings.values() for d in r}, records, scope, at)
    rankings = {k: [d for d in v if d in ok] for k, v in rankings.items()}
    raw = {k: {d: s for d, s in v.items() if d in ok} for k, v in raw.items()}
    if cfg.fusion in ("convex", "evidence"):
        if "graph" in rankings:  # the graph ranking has no calibrated score: use 1/rank
            raw["graph"] = {d: 1.0 / (i + 1) for i, d in enumerate(rankings["graph"])}
    if cfg.fusion == "convex":
        parts = convex({k: raw[k] for k in rankings}, cfg.weights)
    elif cfg.fusion == "evidence":
        parts = evidence({k: raw[k] for k in rankings}, cfg.weights, lexical_mass=mass,
                         lexical_floor=cfg.lexical_floor, lexical_full=cfg.lexical_full,
                         dense_floor=cfg.dense_floor)
    else:
        parts = rrf(rankings, cfg.weights, cfg.rrf_k)
    if cfg.segment_credit or not cfg.segment_hits:
        segs = [d for d in parts if records[d].type == "segment"]
        if segs and (filters is None or "type" not in filters):
            eps = store.turns_of([e for d in segs for e in records[d].episode_ids])
            members = {d: [eps[e] for e in records[d].episode_ids if e in eps] for d in segs}
            parts = stages.credit_members(parts, members, cfg.segment_credit,
                                          keep=cfg.segment_hits)
            parts = _settle(store, parts, records, scope, at)
    if cfg.prf_weight and "dense" in raw and parts:
        # pseudo-relevance feedback: search again from the query moved towards the best
        # first-round hits (their shared topic), so paraphrases of it can join
        seeds = [d for d, _ in order(parts)[: cfg.prf_hits]]
        vecs = store.vectors_of(scope.user_id, seeds, engine.embedder.name)
        if vecs:
            q2 = qv + cfg.prf_beta * np.mean(list(vecs.values()), axis=0)
            q2 = q2 / (np.linalg.norm(q2) or 1.0)
            again = dict(store.dense(scope, q2.astype(np.float32), engine.embedder.name, n, allowed))
            parts = {d: dict(p) for d, p in parts.items()}
            for d, c in again.items():
                x = max(0.0, (c - cfg.dense_floor) / (1.0 - cfg.dense_floor))
                if x > 0:
                    parts.setdefault(d, {})["feedback"] = cfg.prf_weight * x
            parts = _settle(store, parts, records, scope, at)
    if cfg.hop_weight and parts:
        # a second round seeded from what the first found: the entities the best hits
        # mention (not the query's own) lead to memories about them (multi-hop questions)
        top = [d for d, _ in order(parts)[: cfg.hop_hits]]
        asked = query_entities(query, [e for d in top for e in records[d].entities])
        seeds = {entity_key(e) for d in top for e in records[d].entities} - {entity_key(e) for e in asked}
        if seeds:
            hop = graph_ranking(store, cfg, scope, query, n, entities=seeds)
            parts = {d: dict(p) for d, p in parts.items()}
            for i, d in enumerate(hop):
                parts.setdefault(d, {})["hop"] = cfg.hop_weight / (i + 1)
            parts = _settle(store, parts, records, scope, at)
    if allowed is not None:  # graph and segment credit may reach outside the filter
        parts = {d: p for d, p in parts.items() if d in allowed}
    if cfg.question_penalty:
        parts = stages.penalise(
            parts, {d: stages.is_bare_question(records[d].text) for d in parts},
            cfg.question_penalty, "question")
    if cfg.importance_weight:
        parts = stages.weigh_importance(parts, {d: records[d].importance for d in parts},
                                        cfg.importance_weight)
    if cfg.speaker_boost:
        names = stages.mentioned_names(query, store.speakers(scope.user_id))
        parts = stages.boost_mentioned(
            parts, {d: records[d].speaker for d in parts}, names, cfg.speaker_boost,
            own_words={d: records[d].importance >= 0.5 for d in parts})
    rng = query_ranges(query, to_datetime(time.time()))  # type: ignore[arg-type]
    if cfg.time_boost:
        if rng:
            inside = {d: stages.overlaps(records[d].dates, said_date(records[d]), rng)
                      for d in parts}
            parts = stages.boost_time(parts, inside, cfg.time_boost)
    if cfg.neighbour_factor:
        top = [d for d, _ in order(parts)[: cfg.neighbour_hits]]
        nbs = store.neighbours(top, cfg.neighbour_window)
        if allowed is not None:
            nbs = {d: [n for n in ns if n in allowed] for d, ns in nbs.items()}
        parts = stages.expand_neighbours(parts, top, nbs, cfg.neighbour_factor)
        parts = _settle(store, parts, records, scope, at)
    when = recency.tense(query, has_time_range=bool(rng), as_of=at is not None)
    window = cfg.promote_window_now if when == recency.NOW else \
        cfg.promote_window if when == recency.CURRENT else 0
    newer_of: dict[str, str] = {}
    if window and parts:
        vecs = store.vectors_of(scope.user_id, list(parts), engine.embedder.name) \
            if cfg.promote_min_sim else None
        parts, newer_of = recency.promote_newer(
            parts, {d: records[d].event_time for d in parts},
            {d: records[d].speaker for d in parts}, window=window,
            ratio=cfg.promote_ratio, vectors=vecs, min_sim=cfg.promote_min_sim)
    ranked = order(parts)
    if cfg.dedupe:
        ranked = stages.drop_covered(ranked, {d: records[d].source_ids for d, _ in ranked})
    ranked = ranked[:limit]
    order_ids = [d for d, _ in ranked]
    hits = []
    for doc, score in ranked:
        m = records.get(doc)
        if m is None:  # deleted between ranking and fetch
            continue
        explain = dict(parts[doc])
        if newer_of:
            recency.mark_outdated(explain, doc, newer_of, order_ids)
        for signal, values in raw.items():
            if doc in values:
                explain[f"{signal}_raw"] = values[doc]
        hits.append(to_hit(m, score, explain))
    if budget_tokens is not None:
        hits, context = packing.pack(hits, budget_tokens)
    else:
        context = packing.pack(hits, 10**9)[1]
    return SearchResult(hits, context, budget_tokens)


def to_hit(m: MemoryRecord, score: float, explain: dict[str, float]) -> Hit:
    return Hit(
        id=m.id, text=m.text, score=score, source_ids=m.source_ids, type=m.type,
        created_at=to_datetime(m.created_at),  # type: ignore[arg-type]
        event_time=to_datetime(m.event_time), metadata=m.metadata, speaker=m.speaker,
        user_id=m.scope.user_id, agent_id=m.scope.agent_id,
        session_id=m.scope.session_id, explain=explain,
        dates=tuple(d[2] for d in m.dates))
