"""``remem bench locomo``: LLM-free evidence recall on LoCoMo-format conversations.

Reads both layouts (one conversation per file, or a list of ``{sample_id, conversation,
qa}``), ingests each conversation session by session through the public ``Memory`` API
(turn ``dia_id`` as the turn id, session date as timestamp, speaker as name), asks every
question and scores the hits' source turns against the annotated evidence. Only turns and
their timestamps are read; the generated summaries/observations/events never are."""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .._text import word_count
from ..errors import InvalidInput
from . import metrics

KS = (1, 5, 10, 20)
BUDGETS = (250, 500, 1000, 2000)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial",
              6: "knowledge-update"}
# "overall": every category with evidence except adversarial (5), which is reported apart
OVERALL = (1, 2, 3, 4, 6)
_DATE = re.compile(
    r"^\s*(\d{1,2}):(\d{2})\s*([ap]m)\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s+(\d{4})\s*$", re.I)
_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)}


@dataclass(frozen=True)
class Session:
    key: str
    when: datetime | None
    turns: list[dict[str, str]]  # {"id", "speaker", "text"}


@dataclass(frozen=True)
class Question:
    text: str
    category: int
    evidence: frozenset[str]
    stale: frozenset[str] = frozenset()  # turns that stated an earlier value (category 6)


@dataclass(frozen=True)
class Conversation:
    sample_id: str
    speakers: tuple[str, str]
    sessions: list[Session]
    questions: list[Question]


def parse_locomo_date(text: str) -> datetime | None:
    """``"1:56 pm on 8 May, 2023"`` -> aware UTC datetime; ``None`` if it does not parse."""
    m = _DATE.match(text or "")
    if not m:
        return None
    hour, minute, ampm, day, month, year = m.groups()
    mon = _MONTHS.get(month.lower()) or next(
        (v for k, v in _MONTHS.items() if k.startswith(month.lower()[:3])), None)
    if mon is None:
        return None
    h = int(hour) % 12 + (12 if ampm.lower() == "pm" else 0)
    return datetime(int(year), mon, int(day), h, int(minute), tzinfo=timezone.utc)


def _evidence(raw: Iterable[Any]) -> frozenset[str]:
    out = set()
    for item in raw:
        for part in re.split(r"[;,\s]+", str(item)):
            if re.match(r"^D\d+:\d+$", part):
                out.add(part)
    return frozenset(out)


def _turn_text(turn: dict[str, Any]) -> str:
    text = str(turn.get("text", "")).strip()
    caption = turn.get("blip_caption")
    if caption:
        text = f"{text} [shares a photo: {caption}]".strip()
    return text


def parse_conversation(sample_id: str, conv: dict[str, Any], qa: list[dict[str, Any]]) -> Conversation:
    sessions = []
    nums = sorted(int(m.group(1)) for k in conv if (m := re.match(r"^session_(\d+)$", k)))
    for n in nums:
        turns = [{"id": str(t["dia_id"]), "speaker": str(t["speaker"]), "text": _turn_text(t)}
                 for t in conv[f"session_{n}"] if _turn_text(t)]
        if turns:
            when = parse_locomo_date(str(conv.get(f"session_{n}_date_time", "")))
            sessions.append(Session(f"session_{n}", when, turns))
    questions = [Question(str(q["question"]), int(q["category"]), _evidence(q.get("evidence", [])),
                          _evidence(q.get("stale", []))) for q in qa]
    return Conversation(sample_id, (str(conv.get("speaker_a")), str(conv.get("speaker_b"))),
                        sessions, questions)


def load(path: str | Path) -> list[Conversation]:
    """Conversations from a LoCoMo JSON file or every ``*.json`` file directly in a folder."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.json"))
        if not files:
            raise InvalidInput(f"no *.json files in {p}")
    elif p.is_file():
        files = [p]
    else:
        raise InvalidInput(f"{p} does not exist")
    convs: list[Conversation] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{f} is not valid JSON: {exc}") from None
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidInput(f"{f}: item {i} is not an object")
            if "conversation" in item:
                sid = str(item.get("sample_id", f"{f.stem}-{i}"))
                convs.append(parse_conversation(sid, item["conversation"], item.get("qa", [])))
            elif "speaker_a" in item:
                convs.append(parse_conversation(str(item.get("sample_id", f.stem)), item,
                                                item.get("qa", [])))
            else:
                raise InvalidInput(f"{f}: item {i} is not a LoCoMo conversation")
    return convs


def _sample_key(sample_id: str) -> str:
    """``conv-26`` and ``26`` name the same conversation in the two layouts."""
    m = re.search(r"(\d+)$", sample_id)
    return m.group(1) if m else sample_id


def user_of(conv: Conversation) -> str:
    return f"locomo-{_sample_key(conv.sample_id)}"


def role_of(speaker: str) -> str:
    """A conversation between a person and an AI assistant names the assistant
    "Assistant" (the user-stories layout); every other speaker is a user."""
    return "assistant" if speaker.strip().lower() == "assistant" else "user"


def ingest(mem: Any, conversations: list[Conversation],
           progress: Callable[[int], None] | None = None) -> float:
    """Add every conversation, session by session, through the public API; seconds spent."""
    spent = 0.0
    for conv in conversations:
        for sess in conv.sessions:
            msgs = [{"role": role_of(t["speaker"]), "name": t["speaker"], "content": t["text"],
                     "id": t["id"]}
                    for t in sess.turns]
            t0 = time.perf_counter()
            mem.add(msgs, user_id=user_of(conv), session_id=sess.key, timestamp=sess.when)
            spent += time.perf_counter() - t0
            if progress:
                progress(len(sess.turns))
    return spent


def ask(mem: Any, conversations: list[Conversation], *, limit: int = 100,
        progress: Callable[[int], None] | None = None) -> tuple[list[dict[str, Any]], list[float]]:
    """Ask every question; per-question metric rows and latencies (ms)."""
    per_q: list[dict[str, Any]] = []
    latencies: list[float] = []
    for conv in conversations:
        turn_words = {t["id"]: word_count(f"{t['speaker']}: {t['text']}")
                      for s in conv.sessions for t in s.turns}
        for q in conv.questions:
            t0 = time.perf_counter()
            hits = mem.search(q.text, user_id=user_of(conv), limit=limit)
            latencies.append((time.perf_counter() - t0) * 1000)
            ranked = [(h.text, h.source_ids) for h in hits]
            ev = set(q.evidence)
            row: dict[str, Any] = {"conv": conv.sample_id, "question": q.text,
                                   "category": q.category, "n_evidence": len(ev)}
            for k in KS:
                row[f"R@{k}"] = metrics.recall_at_k(ranked, ev, k)
                row[f"R@{k}turns"] = metrics.recall_by_turns(ranked, ev, k)
            for b in BUDGETS:
                row[f"R@{b}w"] = metrics.recall_within_words(ranked, ev, b, turn_words)
            if q.stale:
                row["current_first"] = metrics.current_first(ranked, ev, set(q.stale))
            per_q.append(row)
            if progress:
                progress(1)
    return per_q, latencies


def run(
    memory_factory: Callable[[], Any],
    conversations: list[Conversation],
    *,
    limit: int = 100,
    progress: Callable[[int, int], None] | None = None,
    maintain: bool = False,
) -> dict[str, Any]:
    """Ingest and question every conversation; return the metrics as a dict. With
    ``maintain``, ``Memory.maintain()`` runs between ingest and questions (its report
    and the memory counts before and after are in the result's ``maintain``)."""
    total_turns = sum(len(s.turns) for c in conversations for s in c.sessions)
    total_steps = total_turns + sum(len(c.questions) for c in conversations)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total_steps)

    mem = memory_factory()
    try:
        ingest_s = ingest(mem, conversations, tick)
        upkeep = None
        if maintain:
            users = [user_of(c) for c in conversations]
            before = sum(mem.count(user_id=u) for u in users)
            upkeep = mem.maintain().to_dict()
            upkeep.update(memories_before=before,
                          memories_after=sum(mem.count(user_id=u) for u in users))
        per_q, latencies = ask(mem, conversations, limit=limit, progress=tick)
    finally:
        mem.close()
    result = summarise(per_q, latencies, total_turns, ingest_s)
    if upkeep is not None:
        result["maintain"] = upkeep
    llm = getattr(mem, "llm", None)
    if llm is not None and hasattr(llm, "usage"):
        u = llm.usage.snapshot()
        per = 100.0 / max(total_turns, 1)
        result["llm"] = {**u, "model": getattr(llm, "name", None),
                         "calls_per_100_turns": round(u["calls"] * per, 2),
                         "tokens_per_100_turns": round(
                             (u["prompt_tokens"] + u["completion_tokens"]) * per, 1)}
    return result


def summarise(per_q: list[dict[str, Any]], latencies: list[float], turns: int,
              ingest_s: float) -> dict[str, Any]:
    keys = [f"R@{k}" for k in KS] + [f"R@{b}w" for b in BUDGETS] + [f"R@{k}turns" for k in KS]

    def agg(rows: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [r for r in rows if r["n_evidence"]]
        out: dict[str, Any] = {"n": len(rows)}
        for key in keys:
            out[key] = round(statistics.fmean(r[key] for r in rows), 4) if rows else None
        cf = [r["current_first"] for r in rows if "current_first" in r]
        if cf:
            out["current_first"] = round(statistics.fmean(cf), 4)
            out["n_current_first"] = len(cf)
        return out

    main = [r for r in per_q if r["category"] in OVERALL]
    convs = sorted({r["conv"] for r in main})
    return {
        "overall": agg(main),
        # the spread across conversations / stories: a gain that holds on one only shows
        "per_conversation": {c: agg([r for r in main if r["conv"] == c]) for c in convs},
        "categories": {f"{c}-{name}": agg([r for r in per_q if r["category"] == c])
                       for c, name in CATEGORIES.items()},
        "search_ms": {"p50": round(metrics.percentile(latencies, 50), 2),
                      "p95": round(metrics.percentile(latencies, 95), 2),
                      "n": len(latencies)},
        "ingest": {"turns": turns, "seconds": round(ingest_s, 3),
                   "turns_per_s": round(turns / ingest_s, 1) if ingest_s else None},
        "questions": len(per_q),
        "note": "overall = categories 1, 2, 3, 4 and 6 (questions with evidence); "
                "5 (adversarial) reported separately",
    }


def format_plain(result: dict[str, Any]) -> str:
    cols = ["R@1", "R@5", "R@10", "R@20", "R@250w", "R@500w", "R@1000w", "R@2000w"]
    lines = [f"{'set':<18}{'n':>5} " + "".join(f"{c:>9}" for c in cols)]
    rows = [("overall", result["overall"])] + list(result["categories"].items())
    rows += [(f"  conv {c}", r) for c, r in result.get("per_conversation", {}).items()]
    for name, r in rows:
        vals = "".join(f"{r[c]:>9.3f}" if r[c] is not None else f"{'-':>9}" for c in cols)
        cf = f"  current_first {r['current_first']:.3f} (n={r['n_current_first']})" \
            if "current_first" in r else ""
        lines.append(f"{name:<18}{r['n']:>5} {vals}{cf}")
    s, i = result["search_ms"], result["ingest"]
    lines.append(f"search p50 {s['p50']} ms, p95 {s['p95']} ms over {s['n']} queries; "
                 f"ingest {i['turns']} turns at {i['turns_per_s']} turns/s")
    if "llm" in result:
        u = result["llm"]
        lines.append(f"llm {u['model']}: {u['calls']} calls ({u['calls_per_100_turns']} per 100 "
                     f"turns), {u['prompt_tokens']} prompt + {u['completion_tokens']} completion "
                     f"tokens ({u['tokens_per_100_turns']} per 100 turns), {u['failures']} "
                     f"failed, {u['retries']} retries")
    if "maintain" in result:
        m = result["maintain"]
        lines.append(f"maintain: {m['memories_before']} -> {m['memories_after']} memories "
                     f"(merged {m['merged']}, summaries {m['summaries']}, profiles "
                     f"{m['profiles']}) in {m['seconds']} s")
    return "\n".join(lines)
