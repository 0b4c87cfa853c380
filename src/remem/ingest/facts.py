"""Optional LLM extraction: atomic facts, preferences, plans and events from a batch of
turns, with provenance, deciding ADD / SUPERSEDE / NOOP against similar current facts.

Cheap in calls (LightMem's lesson): one call per batch of up to ``batch_turns`` turns of
one ``add`` (usually a session), never one per turn; the similar known facts go in the
same prompt, so the decision costs no extra call. Safe: it runs after the raw turns are
committed, so nothing the LLM does (or fails to do) can lose a turn; its output is
validated (made-up turn or fact references are dropped, never guessed) and a SUPERSEDE
only ever closes the old fact's validity, it never deletes or rewrites it.

Prompt building and reply parsing are pure; ``extract`` applies them through the
``Engine`` it is given (store, embedder, LLM)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np

from .._engine import Engine
from .._ids import new_id
from ..errors import LLMError, RememError
from ..llm.json import parse_json
from ..types import MemoryRecord, Scope, Turn
from .extract import session_candidates

log = logging.getLogger("remem.facts")

FACT_TYPES = ("fact", "preference", "plan", "event")
ACTIONS = ("ADD", "SUPERSEDE", "NOOP")
MAX_FACT_CHARS = 1000
KNOWN_FACTS = 20  # similar current facts shown to the LLM with each batch

SYSTEM = (
    "You turn a conversation into durable long-term memories about the people in it.\n"
    "Return a JSON object {\"facts\": [...]} where each item is\n"
    "{\"text\": one self-contained sentence that names the person (no pronouns like I/you/"
    "he), \"type\": \"fact\" | \"preference\" | \"plan\" | \"event\", \"sources\": [refs of "
    "the turns it comes from, e.g. \"T3\"], \"date\": \"YYYY-MM-DD\" when it happened or "
    "will happen (resolve words like 'yesterday' against the turn's date) or null, "
    "\"action\": \"ADD\" | \"SUPERSEDE\" | \"NOOP\", \"replaces\": a known fact ref such "
    "as \"K2\" or null}.\n"
    "Use ADD for new information, SUPERSEDE when it updates or contradicts a known fact "
    "(give that fact in replaces), NOOP when a known fact already says it (give it in "
    "replaces). Skip greetings and small talk. Use only the refs given."
)


@dataclass(frozen=True)
class Fact:
    """One validated item of an LLM reply (refs resolved to indexes)."""

    text: str
    type: str
    sources: tuple[int, ...]  # indexes into the batch's turns
    date: str | None
    action: str
    replaces: int | None  # index into the known facts


@dataclass
class ExtractReport:
    """What extraction did for one ``add`` (all zero and ``error`` set if it failed)."""

    calls: int = 0
    added: list[str] = field(default_factory=list)
    superseded: int = 0
    noop: int = 0
    dropped: int = 0  # reply items that were invalid (made-up refs, empty, wrong type)
    error: str | None = None


def build_prompt(turns: Sequence[MemoryRecord], known: Sequence[MemoryRecord]) -> list[dict[str, str]]:
    def day(t: float | None) -> str:
        return datetime.fromtimestamp(t or 0, tz=timezone.utc).date().isoformat()

    lines = ["Conversation:"]
    lines += [f"T{i} [{day(m.event_time)}] {m.speaker or 'user'}: {m.text}"
              for i, m in enumerate(turns, start=1)]
    lines.append("\nKnown facts:" if known else "\nKnown facts: (none)")
    lines += [f"K{i} [{day(m.valid_from or m.event_time)}] {m.text}"
              for i, m in enumerate(known, start=1)]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


_REF = re.compile(r"^\s*\[?([TK])(\d+)\]?\s*$", re.I)


def _ref(value: Any, kind: str, n: int) -> int | None:
    """``"T3"`` -> 2 (0-based) if it names one of ``n`` items of ``kind``; else None."""
    if isinstance(value, str):
        m = _REF.match(value)
        if m and m.group(1).upper() == kind and 1 <= int(m.group(2)) <= n:
            return int(m.group(2)) - 1
    return None


def parse_facts(reply: Any, n_turns: int, n_known: int) -> tuple[list[Fact], int]:
    """Validated facts from a parsed reply and how many items were dropped. An item with
    no valid source turn is dropped (provenance is mandatory); a SUPERSEDE or NOOP whose
    ``replaces`` is not a known fact becomes an ADD / is dropped."""
    items = reply.get("facts") if isinstance(reply, dict) else reply
    if not isinstance(items, list):
        raise LLMError("the reply has no 'facts' list")
    facts: list[Fact] = []
    dropped = 0
    for it in items:
        if not isinstance(it, dict) or not isinstance(it.get("text"), str):
            dropped += 1
            continue
        text = " ".join(it["text"].split())[:MAX_FACT_CHARS]
        kind = str(it.get("type", "fact")).lower()
        srcs = it.get("sources") if isinstance(it.get("sources"), list) else []
        sources = tuple(dict.fromkeys(i for s in srcs if (i := _ref(s, "T", n_turns)) is not None))
        action = str(it.get("action", "ADD")).upper()
        target = _ref(it.get("replaces"), "K", n_known)
        date = it.get("date") if isinstance(it.get("date"), str) else None
        if date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date.strip()):
            date = None
        if not text or kind not in FACT_TYPES or not sources or action not in ACTIONS:
            dropped += 1
            continue
        if action != "ADD" and target is None:
            if action == "NOOP":
                dropped += 1
                continue
            action = "ADD"  # a supersede of nothing we know is just new information
        facts.append(Fact(text, kind, sources, date and date.strip(), action,
                          target if action != "ADD" else None))
    return facts, dropped


def _known(engine: Engine, scope: Scope, turn_vecs: np.ndarray, k: int) -> list[MemoryRecord]:
    """Up to ``k`` current facts of the user most similar to the batch's turns."""
    fact_ids = engine.store.filter_ids(Scope(scope.user_id), {"type": list(FACT_TYPES)})
    if not fact_ids or not len(turn_vecs):
        return []
    ids, matrix = engine.store.vectors(Scope(scope.user_id), engine.embedder.name)
    rows = [i for i, d in enumerate(ids) if d in fact_ids]
    if not rows:
        return []
    best = (matrix[rows] @ turn_vecs.T).max(axis=1)
    order = [rows[i] for i in np.argsort(-best, kind="stable")[:k] if best[i] > 0.3]
    recs = {r.id: r for r in engine.store.fetch([ids[i] for i in order], scope.user_id)}
    return [recs[ids[i]] for i in order if ids[i] in recs and recs[ids[i]].valid_to is None]


def _record(engine: Engine, scope: Scope, fact: Fact, turns: Sequence[MemoryRecord],
            now: float) -> tuple[MemoryRecord, str]:
    src = [turns[i] for i in fact.sources]
    when = max(t.event_time or t.created_at for t in src)
    if fact.date:
        try:
            when = datetime.fromisoformat(fact.date).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    speaker = src[0].speaker
    cand = session_candidates([Turn("user", fact.text, speaker)], [when],
                              engine.extract_config)[0][0]
    rec = MemoryRecord(
        id=new_id(), scope=scope, text=fact.text, type=fact.type,
        source_ids=tuple(dict.fromkeys(s for t in src for s in t.source_ids)),
        episode_ids=tuple(dict.fromkeys(e for t in src for e in t.episode_ids)),
        created_at=now, updated_at=now, event_time=when, speaker=speaker, keys=cand.keys,
        metadata={"extracted_by": getattr(engine.llm, "name", "llm")},
        dates=tuple((m.start.isoformat(), m.end.isoformat(), m.label()) for m in cand.dates),
        entities=cand.entities, valid_from=when)
    return rec, cand.embed_text


def extract(engine: Engine, scope: Scope, turns: Sequence[MemoryRecord], turn_vecs: np.ndarray,
            now: float) -> ExtractReport:
    """Extract, decide and store facts for stored turn memories (one call per batch).
    Never raises for LLM trouble: the report's ``error`` says what went wrong."""
    report = ExtractReport()
    size = max(1, int(engine.llm_batch_turns))
    for start in range(0, len(turns), size):
        batch, vecs = turns[start:start + size], turn_vecs[start:start + size]
        try:
            known = _known(engine, scope, vecs, KNOWN_FACTS)
            report.calls += 1
            c = engine.llm.complete(build_prompt(batch, known), json=True)
            facts, dropped = parse_facts(parse_json(c.text), len(batch), len(known))
            report.dropped += dropped
            new = [f for f in facts if f.action != "NOOP"]
            report.noop += len(facts) - len(new)
            if not new:
                continue
            built = [_record(engine, scope, f, batch, now) for f in new]
            vectors = engine.embed([t for _, t in built])
            _, ids, _ = engine.store.add([], [r for r, _ in built], vectors, engine.embedder.name,
                                         actor="llm")
            report.added.extend(ids)
            for f, (rec, _) in zip(new, built):
                if f.action == "SUPERSEDE" and f.replaces is not None:
                    try:
                        if engine.store.supersede(known[f.replaces].id, rec.id, actor="llm"):
                            report.superseded += 1
                    except RememError as exc:  # e.g. superseded meanwhile: keep the new fact
                        log.warning("extraction: cannot supersede %s: %s",
                                    known[f.replaces].id, exc)
        except (LLMError, ValueError) as exc:
            report.error = str(exc)
            log.warning("extraction: LLM unusable for %d turns, kept them without facts: %s",
                        len(batch), exc)
    return report
