"""LLM-free maintenance: merge near-duplicates, build extractive summaries and entity
profiles, forget what has faded. ``Memory.maintain`` runs it; ``remem maintain`` and the
server's schedule call that.

What maintenance never does: touch a raw episode (what was said stays verbatim), or
change a memory without a history entry (``actor`` "maintain", with a ``detail`` saying
what and why). Forgetting archives by default (excluded from search, restorable with
``Memory.restore``); it deletes only under an explicit ``hard_delete`` policy.

Scoring and grouping are pure functions over vectors and texts; ``maintain`` applies
their decisions through the store's transactional lifecycle methods (the store and
embedder of the ``Engine`` it is given)."""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np

from ._engine import Engine
from ._ids import new_id
from .config import ForgetPolicy, MaintainConfig
from .ingest.entities import normalise
from .ingest.segment import mean_vector
from .store.sql import DERIVED_TYPES, UNRANKED_TYPES
from .types import MaintainReport, MemoryRecord, Scope

log = logging.getLogger("remem.lifecycle")

SUMMARY_TYPES = UNRANKED_TYPES  # written by maintenance, not ranked by search
_WORD = re.compile(r"\w+")


# -- pure parts ----------------------------------------------------------------------
def word_set(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def near_duplicate_groups(matrix: np.ndarray, texts: Sequence[str], kinds: Sequence[Any], *,
                          cosine: float, overlap: float, block: int = 512) -> list[list[int]]:
    """Groups (row indexes, ascending) of rows that are near-duplicates of each other:
    same ``kinds`` value (e.g. type and speaker), vector cosine >= ``cosine`` and word
    Jaccard >= ``overlap``, joined transitively. Rows must be unit vectors."""
    n = len(texts)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    words: dict[int, frozenset[str]] = {}
    m = np.asarray(matrix, dtype=np.float32)
    for start in range(0, n, block):
        sims = m[start:start + block] @ m.T
        rows, cols = np.nonzero(sims >= cosine)
        for r, c in zip(rows.tolist(), cols.tolist()):
            i = start + r
            if c <= i or kinds[i] != kinds[c] or find(i) == find(c):
                continue
            wi = words.setdefault(i, word_set(texts[i]))
            wc = words.setdefault(c, word_set(texts[c]))
            if jaccard(wi, wc) >= overlap:
                parent[max(find(i), find(c))] = min(find(i), find(c))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def central_rows(matrix: np.ndarray, k: int, diversity: float = 0.5) -> list[int]:
    """Up to ``k`` rows that best represent the set: maximal marginal relevance between
    closeness to the centroid and distance to rows already chosen. Ascending order."""
    if len(matrix) == 0 or k <= 0:
        return []
    centre = mean_vector(matrix)
    relevance = matrix @ centre
    chosen: list[int] = []
    best_sim = np.full(len(matrix), -1.0, dtype=np.float32)
    while len(chosen) < min(k, len(matrix)):
        score = (1 - diversity) * relevance - diversity * np.maximum(best_sim, 0)
        score[chosen] = -np.inf
        pick = int(np.argmax(score))
        chosen.append(pick)
        best_sim = np.maximum(best_sim, matrix @ matrix[pick])
    return sorted(chosen)


def retention(age_days: float, access_count: int, importance: float,
              half_life_days: float) -> float:
    """Share of a memory's strength left after ``age_days`` (1.0 = fresh)."""
    strength = (1.0 + math.log1p(max(access_count, 0))) * (0.5 + max(0.0, min(importance, 1.0)))
    return 0.5 ** (max(age_days, 0.0) / (half_life_days * strength))


def _day(t: float | None) -> str:
    return datetime.fromtimestamp(t or 0, tz=timezone.utc).date().isoformat()


def _line(m: MemoryRecord) -> str:
    return f"{m.speaker}: {m.text}" if m.speaker else m.text


# -- applying it ---------------------------------------------------------------------
class _Run:
    """One maintenance pass over one user."""

    def __init__(self, engine: Engine, user_id: str, cfg: MaintainConfig, now: float,
                 report: MaintainReport) -> None:
        self.store, self.user, self.cfg, self.now = engine.store, user_id, cfg, now
        self.report = report
        self.model = engine.embedder.name
        self._active: tuple[list[MemoryRecord], np.ndarray] | None = None

    def active(self) -> tuple[list[MemoryRecord], np.ndarray]:
        """The user's ranked memories and their vectors, read once per pass and again only
        after a step changed them (summaries and profiles are not among them)."""
        if self._active is None:
            ids, matrix = self.store.vectors(Scope(self.user), self.model)
            # fetched without the user (uncached): access counts change without a new version
            records = {r.id: r for r in self.store.fetch(ids) if r.scope.user_id == self.user}
            keep = [i for i, d in enumerate(ids) if d in records and records[d].status == "active"]
            self._active = ([records[ids[i]] for i in keep],
                            matrix[keep] if len(keep) else matrix[:0])
        return self._active

    def dedupe(self) -> None:
        recs, matrix = self.active()
        pick = [i for i, r in enumerate(recs) if r.type not in DERIVED_TYPES]
        if len(pick) < 2:
            return
        sub = [recs[i] for i in pick]
        groups = near_duplicate_groups(
            matrix[pick], [r.text for r in sub],
            [(r.type, r.speaker, r.scope.agent_id, r.valid_to is None) for r in sub],
            cosine=self.cfg.dedupe_cosine, overlap=self.cfg.dedupe_overlap)
        for g in groups:
            members = sorted((sub[i] for i in g), key=lambda r: (r.created_at, r.id))
            kept = self.store.merge(members[0].id, [r.id for r in members[1:]], actor="maintain")
            self._active = None
            if kept is not None and kept.updated_at != members[0].updated_at:
                # (unchanged: another worker's maintain merged them first)
                self.report.merged += len(members) - 1

    def _replace(self, existing: MemoryRecord | None, new: MemoryRecord, vec: np.ndarray) -> bool:
        """Store ``new`` unless ``existing`` already says the same; retire ``existing``."""
        if existing is not None and existing.text == new.text:
            return False
        self.store.add([], [new], vec[None, :], self.model, actor="maintain")
        if existing is not None:
            self.store.delete(existing.id, actor="maintain", detail={"replaced_by": new.id})
        return True

    def _existing(self, kind: str, key_name: str) -> dict[str, MemoryRecord]:
        """The current summary/profile per key. Two maintenance runs at once (e.g. two
        server workers) may both have written one: the newest stays, the others go."""
        ids = self.store.filter_ids(Scope(self.user), {"type": kind})
        recs = sorted((r for r in self.store.fetch(list(ids)) if r.status == "active"
                       and r.scope.user_id == self.user), key=lambda r: (r.created_at, r.id))
        out: dict[str, MemoryRecord] = {}
        for r in recs:
            key = str(r.metadata.get(key_name))
            if key in out:
                self.store.delete(out[key].id, actor="maintain", detail={"duplicate_of": r.id})
            out[key] = r
        return out

    def _derived(self, kind: str, scope: Scope, text: str, members: list[MemoryRecord],
                 vec: np.ndarray, meta: dict[str, Any]) -> MemoryRecord:
        return MemoryRecord(
            id=new_id(), scope=scope, text=text, type=kind,
            source_ids=tuple(dict.fromkeys(s for m in members for s in m.source_ids)),
            episode_ids=tuple(dict.fromkeys(e for m in members for e in m.episode_ids)),
            created_at=self.now, updated_at=self.now,
            event_time=max((m.event_time or m.created_at) for m in members),
            keys="\n".join(m.keys for m in members), metadata=meta,
            entities=tuple(dict.fromkeys(e for m in members for e in m.entities)),
            dates=tuple(d for m in members for d in m.dates))

    def summaries(self) -> None:
        recs, matrix = self.active()
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(recs):
            if r.type == "turn":
                key = f"session:{r.scope.session_id}" if r.scope.session_id else \
                    f"day:{_day(r.event_time)}"
                groups.setdefault(key, []).append(i)
        existing = self._existing("summary", "summary_of")
        for key, rows in groups.items():
            if len(rows) < self.cfg.summary_min_turns or len(rows) <= self.cfg.summary_turns:
                continue  # too short to summarise: the "summary" would quote every turn
            rows.sort(key=lambda i: (recs[i].event_time or 0, recs[i].created_at))
            chosen = [rows[j] for j in central_rows(matrix[rows], self.cfg.summary_turns)]
            members = [recs[i] for i in chosen]
            scopes = {(recs[i].scope.agent_id, recs[i].scope.session_id) for i in rows}
            agent, session = scopes.pop() if len(scopes) == 1 else (None, None)
            when = _day(min(recs[i].event_time or recs[i].created_at for i in rows))
            text = f"Summary of {len(rows)} turns ({when}):\n" + "\n".join(map(_line, members))
            new = self._derived("summary", Scope(self.user, agent, session), text, members,
                                mean_vector(matrix[rows]),
                                {"summary_of": key, "turns": len(rows)})
            if self._replace(existing.get(key), new, mean_vector(matrix[rows])):
                self.report.summaries += 1

    def profiles(self) -> None:
        recs, matrix = self.active()
        by_entity: dict[str, list[int]] = {}
        names: dict[str, str] = {}
        for i, r in enumerate(recs):
            if r.type in DERIVED_TYPES:
                continue
            for name in r.entities:
                key = normalise(name)
                if key:
                    by_entity.setdefault(key, []).append(i)
                    names.setdefault(key, name)
        existing = self._existing("profile", "profile_of")
        for key, rows in sorted(by_entity.items()):
            if len(rows) < self.cfg.profile_min_mentions:
                continue
            chosen = [rows[j] for j in central_rows(matrix[rows], self.cfg.profile_turns)]
            members = sorted((recs[i] for i in chosen), key=lambda m: m.event_time or 0)
            text = (f"What is known about {names[key]} ({len(rows)} mentions):\n"
                    + "\n".join(f"[{_day(m.event_time)}] {_line(m)}" for m in members))
            vec = mean_vector(matrix[rows])
            new = self._derived("profile", Scope(self.user), text, members, vec,
                                {"profile_of": key, "mentions": len(rows)})
            if self._replace(existing.get(key), new, vec):
                self.report.profiles += 1

    def forget(self, policy: ForgetPolicy) -> None:
        recs, _ = self.active()
        faded: dict[str, str] = {}
        for r in recs:
            if r.type not in policy.types:
                continue
            said = r.event_time if r.event_time is not None else r.created_at
            if (self.now - said) / 86400 < policy.min_age_days:
                continue
            age = (self.now - max(said, r.last_access or 0.0)) / 86400
            kept = retention(age, r.access_count, r.importance, policy.half_life_days)
            if kept < policy.threshold:
                faded[r.id] = f"retention {kept:.3f} < {policy.threshold} after {age:.0f} days"
        if not faded:
            return
        self._active = None
        if policy.hard_delete:
            for mid, reason in faded.items():
                if self.store.delete(mid, actor="maintain", detail={"reason": reason}):
                    self.report.deleted += 1
            return
        for reason in set(faded.values()):
            ids = [m for m, r in faded.items() if r == reason]
            self.report.archived += len(self.store.set_status(ids, "archived", actor="maintain",
                                                              reason=reason))


def maintain(engine: Engine, user_id: str | None = None, config: MaintainConfig | None = None,
             now: float | None = None) -> MaintainReport:
    """One maintenance pass over ``user_id`` (or every user). A failure on one user is
    logged and reported in ``errors``; the other users are still maintained."""
    cfg = config or MaintainConfig()
    report = MaintainReport()
    t0 = time.perf_counter()
    users = [user_id] if user_id is not None else engine.store.user_ids()
    for user in users:
        run = _Run(engine, user, cfg, time.time() if now is None else now, report)
        try:
            if cfg.dedupe:
                run.dedupe()
            if cfg.forget is not None:
                run.forget(cfg.forget)
            if cfg.summaries:
                run.summaries()
            if cfg.profiles:
                run.profiles()
        except Exception as exc:  # one user's failure must not stop the others
            if user_id is not None:
                raise
            log.exception("maintenance of user %r failed", user)
            report.errors.append(f"{user}: {exc}")
        report.users += 1
    report.seconds = time.perf_counter() - t0
    return report
