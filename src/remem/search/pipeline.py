"""The search pipeline: candidates from each index -> fusion -> adjustments -> hits.

``search(engine, ...)`` is what ``Memory.search`` delegates to once its arguments are
checked. Each stage is a pure function in ``stages``/``fusion``/``graph``; this module
only fetches what they need from the store and threads the score parts through, so
every hit can explain its score."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
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
    """Hybrid search in one scope (arguments already checked by ``Memory.search``):
    candidates -> fusion -> second rounds -> adjustments -> currentness -> hits."""
    allowed = engine.store.filter_ids(scope, filters) if filters is not None else None
    if allowed is not None and not allowed:
        return SearchResult([], "", budget_tokens)
    run = _Run(engine, query, scope, allowed, at, max(engine.config.candidates, limit))
    run.candidates()
    parts = run.fuse()
    parts = run.credit_segments(parts, filters)
    parts = run.second_rounds(parts)
    if allowed is not None:  # graph and segment credit may reach outside the filter
        parts = {d: p for d, p in parts.items() if d in allowed}
    parts = run.adjust(parts)
    parts, newer_of = run.currentness(parts)
    hits = run.hits(parts, newer_of, limit)
    if budget_tokens is not None:
        hits, context = packing.pack(hits, budget_tokens)
    else:
        context = packing.pack(hits, 10**9)[1]
    return SearchResult(hits, context, budget_tokens)


@dataclass
class _Run:
    """One search's state: the candidates' raw scores and records as stages fetch them."""

    engine: Engine
    query: str
    scope: Scope
    allowed: set[str] | None
    at: float | None
    n: int  # candidates per signal
    rankings: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, dict[str, float]] = field(default_factory=dict)
    records: dict[str, MemoryRecord] = field(default_factory=dict)
    mass: float | None = None  # the query's BM25 weight (evidence fusion)
    qv: Any = None  # the query vector
    ranges: list[Any] = field(default_factory=list)  # the query's time ranges
    _mentioned: set[str] | None = None

    @property
    def store(self) -> Any:
        return self.engine.store

    @property
    def cfg(self) -> Any:
        return self.engine.config

    def settle(self, parts: Parts) -> Parts:
        return _settle(self.store, parts, self.records, self.scope, self.at)

    def mentioned(self) -> set[str]:
        """The speakers the query names (asked of the store once per search)."""
        if self._mentioned is None:
            self._mentioned = stages.mentioned_names(
                self.query, self.store.speakers(self.scope.user_id))
        return self._mentioned

    def _dense(self, text: str) -> None:
        self.qv = self.engine.embed([text])[0]
        dense = self.store.dense(self.scope, self.qv, self.engine.embedder.name, self.n,
                                 self.allowed)
        self.rankings["dense"] = [i for i, _ in dense]
        self.raw["dense"] = dict(dense)

    def _dense_text(self) -> str:
        """What the dense index is asked: the query, or the named person's own line
        (``stages.in_voice``) unless the question is about now, where every turn of that
        person would look alike to the currentness step."""
        if self.cfg.speaker_voice and \
                recency.tense(self.query, as_of=self.at is not None) != recency.NOW:
            voiced = stages.in_voice(self.query, self.mentioned())
            if voiced is not None:
                return voiced
        return self.query

    def candidates(self) -> None:
        """Each index's candidates; those that may not be returned (out of scope,
        superseded, not valid at ``at``) leave before fusion, so they shift no score."""
        store, cfg, scope, query = self.store, self.cfg, self.scope, self.query
        if cfg.weights.get("lexical", 1.0):
            stats = None
            if cfg.fusion == "evidence":  # the query's whole BM25 weight, to scale by
                stats = store.doc_freqs(scope, list(terms_of(query).terms))
                self.mass = query_mass(*stats)
            terms = lexical_terms(store, scope, query, max_df=cfg.lexical_max_df,
                                  prune_min_rows=cfg.lexical_prune_min_rows,
                                  max_postings=cfg.lexical_max_postings, stats=stats)
            lex = store.lexical(scope, terms, self.n, self.allowed, cfg.keys_weight)
            self.rankings["lexical"] = [i for i, _ in lex]
            self.raw["lexical"] = dict(lex)
        if cfg.weights.get("dense", 1.0):
            self._dense(self._dense_text())
        if cfg.weights.get("graph", 0.0):
            self.rankings["graph"] = graph_ranking(store, cfg, scope, query, self.n)
        ok = self.settle({d: {} for r in self.rankings.values() for d in r})
        if cfg.owner_neutral and "dense" in self.raw and ok:
            # a question that names the memory's owner: embed it without the name, which
            # every memory shares and which would pull towards turns that repeat it
            names = stages.owners(self.mentioned(),
                                  {d: self.records[d].speaker for d in ok},
                                  {d: self.records[d].importance >= 0.5 for d in ok})
            if names:
                self._dense(stages.without_names(query, names))
                ok = self.settle({d: {} for r in self.rankings.values() for d in r})
        self.rankings = {k: [d for d in v if d in ok] for k, v in self.rankings.items()}
        self.raw = {k: {d: s for d, s in v.items() if d in ok} for k, v in self.raw.items()}

    def fuse(self) -> Parts:
        cfg, rankings, raw = self.cfg, self.rankings, self.raw
        if cfg.fusion in ("convex", "evidence") and "graph" in rankings:
            # the graph ranking has no calibrated score: use 1/rank
            raw["graph"] = {d: 1.0 / (i + 1) for i, d in enumerate(rankings["graph"])}
        if cfg.fusion == "convex":
            return convex({k: raw[k] for k in rankings}, cfg.weights)
        if cfg.fusion == "evidence":
            return evidence({k: raw[k] for k in rankings}, cfg.weights, lexical_mass=self.mass,
                            lexical_floor=cfg.lexical_floor, lexical_full=cfg.lexical_full,
                            dense_floor=cfg.dense_floor)
        return rrf(rankings, cfg.weights, cfg.rrf_k)

    def credit_segments(self, parts: Parts, filters: Mapping[str, Any] | None) -> Parts:
        cfg, records = self.cfg, self.records
        if not (cfg.segment_credit or not cfg.segment_hits):
            return parts
        segs = [d for d in parts if records[d].type == "segment"]
        if not segs or (filters is not None and "type" in filters):
            return parts
        eps = self.store.turns_of([e for d in segs for e in records[d].episode_ids])
        members = {d: [eps[e] for e in records[d].episode_ids if e in eps] for d in segs}
        parts = stages.credit_members(parts, members, cfg.segment_credit, keep=cfg.segment_hits)
        return self.settle(parts)

    def second_rounds(self, parts: Parts) -> Parts:
        """Optional rounds seeded from the first round's best hits."""
        cfg, store, records = self.cfg, self.store, self.records
        if cfg.prf_weight and "dense" in self.raw and parts:
            # pseudo-relevance feedback: search again from the query moved towards the
            # best first-round hits (their shared topic), so paraphrases of it can join
            seeds = [d for d, _ in order(parts)[: cfg.prf_hits]]
            vecs = store.vectors_of(self.scope.user_id, seeds, self.engine.embedder.name)
            if vecs:
                q2 = self.qv + cfg.prf_beta * np.mean(list(vecs.values()), axis=0)
                q2 = (q2 / (np.linalg.norm(q2) or 1.0)).astype(np.float32)
                again = store.dense(self.scope, q2, self.engine.embedder.name, self.n,
                                    self.allowed)
                parts = {d: dict(p) for d, p in parts.items()}
                for d, c in again:
                    x = max(0.0, (c - cfg.dense_floor) / (1.0 - cfg.dense_floor))
                    if x > 0:
                        parts.setdefault(d, {})["feedback"] = cfg.prf_weight * x
                parts = self.settle(parts)
        if cfg.hop_weight and parts:
            # the entities the best hits mention (not the query's own) lead to memories
            # about them (multi-hop questions)
            top = [d for d, _ in order(parts)[: cfg.hop_hits]]
            asked = query_entities(self.query, [e for d in top for e in records[d].entities])
            seeds = ({entity_key(e) for d in top for e in records[d].entities}
                     - {entity_key(e) for e in asked})
            if seeds:
                hop = graph_ranking(store, cfg, self.scope, self.query, self.n, entities=seeds)
                parts = {d: dict(p) for d, p in parts.items()}
                for i, d in enumerate(hop):
                    parts.setdefault(d, {})["hop"] = cfg.hop_weight / (i + 1)
                parts = self.settle(parts)
        return parts

    def adjust(self, parts: Parts) -> Parts:
        """Question penalty, role importance, people, time range, neighbours."""
        cfg, store, records, query = self.cfg, self.store, self.records, self.query
        if cfg.question_penalty:
            parts = stages.penalise(
                parts, {d: stages.is_bare_question(records[d].text) for d in parts},
                cfg.question_penalty, "question")
        if cfg.importance_weight:
            parts = stages.weigh_importance(parts, {d: records[d].importance for d in parts},
                                            cfg.importance_weight)
        if cfg.speaker_boost:
            names = self.mentioned()
            parts = stages.boost_mentioned(
                parts, {d: records[d].speaker for d in parts}, names, cfg.speaker_boost,
                own_words={d: records[d].importance >= 0.5 for d in parts})
        self.ranges = query_ranges(query, to_datetime(time.time()))  # type: ignore[arg-type]
        if cfg.time_boost and self.ranges:
            inside = {d: stages.overlaps(records[d].dates, said_date(records[d]), self.ranges)
                      for d in parts}
            parts = stages.boost_time(parts, inside, cfg.time_boost)
        if cfg.neighbour_factor:
            top = [d for d, _ in order(parts)[: cfg.neighbour_hits]]
            nbs = store.neighbours(top, cfg.neighbour_window)
            if self.allowed is not None:
                nbs = {d: [x for x in ns if x in self.allowed] for d, ns in nbs.items()}
            parts = stages.expand_neighbours(parts, top, nbs, cfg.neighbour_factor)
            parts = self.settle(parts)
        return parts

    def currentness(self, parts: Parts) -> tuple[Parts, dict[str, str]]:
        """For questions about now, later restatements outrank what they restate."""
        cfg, records = self.cfg, self.records
        when = recency.tense(self.query, has_time_range=bool(self.ranges),
                             as_of=self.at is not None)
        window = cfg.promote_window_now if when == recency.NOW else \
            cfg.promote_window if when == recency.CURRENT else 0
        if not window or not parts:
            return parts, {}
        vecs = self.store.vectors_of(self.scope.user_id, list(parts), self.engine.embedder.name) \
            if cfg.promote_min_sim else None
        return recency.promote_newer(
            parts, {d: records[d].event_time for d in parts},
            {d: records[d].speaker for d in parts}, window=window,
            ratio=cfg.promote_ratio, vectors=vecs, min_sim=cfg.promote_min_sim)

    def hits(self, parts: Parts, newer_of: Mapping[str, str], limit: int) -> list[Hit]:
        ranked = order(parts)
        if self.cfg.dedupe:
            ranked = stages.drop_covered(ranked, {d: self.records[d].source_ids for d, _ in ranked})
        ranked = ranked[:limit]
        order_ids = [d for d, _ in ranked]
        hits = []
        for doc, score in ranked:
            m = self.records.get(doc)
            if m is None:  # deleted between ranking and fetch
                continue
            explain = dict(parts[doc])
            if newer_of:
                recency.mark_outdated(explain, doc, newer_of, order_ids)
            for signal, values in self.raw.items():
                if doc in values:
                    explain[f"{signal}_raw"] = values[doc]
            hits.append(to_hit(m, score, explain))
        return hits


def to_hit(m: MemoryRecord, score: float, explain: dict[str, float]) -> Hit:
    return Hit(
        id=m.id, text=m.text, score=score, source_ids=m.source_ids, type=m.type,
        created_at=to_datetime(m.created_at),  # type: ignore[arg-type]
        event_time=to_datetime(m.event_time), metadata=m.metadata, speaker=m.speaker,
        user_id=m.scope.user_id, agent_id=m.scope.agent_id,
        session_id=m.scope.session_id, explain=explain,
        dates=tuple(d[2] for d in m.dates))
