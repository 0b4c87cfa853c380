"""Retrieval stages after candidate generation. Pure functions over score parts.

``parts`` maps a memory id to its score parts (signal -> contribution); the fused score is
the sum. Each stage returns new parts, so every hit can explain where its score came from.
"""

from __future__ import annotations

import functools
import re
from datetime import date
from typing import Iterable, Mapping, Sequence

from .._text import words

Parts = dict[str, dict[str, float]]


def total(p: Mapping[str, float]) -> float:
    return sum(p.values())


def mentioned_names(query: str, names: Iterable[str]) -> set[str]:
    """Known names (speakers, entities) that the query mentions, matched by whole words,
    case-insensitively; a multi-word name matches on its first word too ("Ana" for "Ana Lima")."""
    q = set(words(query))
    q |= {w[:-2] for w in q if w.endswith("'s")}
    found = set()
    for name in names:
        toks = words(name)
        if toks and (all(t in q for t in toks) or toks[0] in q):
            found.add(name)
    return found


def owners(mentioned: set[str], speaker_of: Mapping[str, str | None],
           own_words: Mapping[str, bool]) -> set[str]:
    """The names among ``mentioned`` that name the memory's owner: every one of the
    people's own turns (``own_words``: not the assistant's replies) is by someone the
    query names, so the names tell no turns apart ("Does Bea have any pets?" in Bea's
    memory). Empty when another person speaks too."""
    people = {speaker_of.get(d) for d, own in own_words.items() if own} - {None}
    return set(mentioned) if mentioned and people and people <= set(mentioned) else set()


def without_names(query: str, names: Iterable[str]) -> str:
    """The query with these names taken out ("Does Bea have any pets?" -> "Does she have
    any pets?"; "Bea's sister" -> "her sister"), so that a name every memory shares does
    not pull the embedding towards the texts that happen to repeat it."""
    out = query
    for name in sorted(names, key=len, reverse=True):
        pat = re.escape(name)
        out = re.sub(rf"\b{pat}(?:'s|’s)\b", "her", out, flags=re.I)
        out = re.sub(rf"\b{pat}\b", "she", out, flags=re.I)
    return out


_ASKER = re.compile(r"\b(i|i'm|i've|i'd|i'll|me|my|mine|myself|we|us|our|ours)\b", re.I)


def in_voice(query: str, names: Iterable[str]) -> str | None:
    """The query as the named person's own line, when it names exactly one person and
    does not speak in the first person: "What did Caroline research?" -> "Caroline: What
    did she research?". Turns are embedded as "Speaker: text", so a question about a
    speaker, written that way, sits nearer to what that speaker said about it than the
    bare question does (LoCoMo reworded questions: R@10 0.464 -> 0.517). ``None`` when
    it does not apply: no name or several, or "I"/"my"/"we" (the asker's own words,
    which the rewrite would put in the named person's mouth)."""
    people = sorted(set(names))
    if len(people) != 1 or _ASKER.search(query.replace("’", "'")):
        return None
    return f"{people[0]}: {without_names(query, people)}"


def boost_mentioned(parts: Parts, speaker_of: Mapping[str, str | None],
                    mentioned: set[str], weight: float,
                    own_words: Mapping[str, bool] | None = None) -> Parts:
    """Add ``weight`` x the fused score to memories spoken by a person the query names.

    Only when the name tells memories apart: if every memory in ``own_words`` (the
    people's own turns, not the assistant's replies) is by someone the query names,
    the name is the memory's owner ("Does Bea have any pets?" in Bea's memory) and
    boosting it would only re-rank by who is named, so nothing changes."""
    if not mentioned or not weight:
        return parts
    if own_words is not None and owners(mentioned, speaker_of, own_words):
        return parts
    out: Parts = {}
    for doc, p in parts.items():
        p = dict(p)
        if speaker_of.get(doc) in mentioned:
            p["speaker"] = weight * total(p)
        out[doc] = p
    return out


def weigh_importance(parts: Parts, importance: Mapping[str, float], weight: float) -> Parts:
    """Add ``weight`` x (importance - 0.5) x the fused score: memories more important
    than the default (0.5) gain, less important ones (e.g. the assistant's replies)
    lose, in proportion to their own score."""
    if not weight:
        return parts
    out: Parts = {}
    for doc, p in parts.items():
        p = dict(p)
        imp = importance.get(doc, 0.5)
        if imp != 0.5:
            p["importance"] = weight * (imp - 0.5) * total(p)
        out[doc] = p
    return out


def overlaps(dates: Sequence[Sequence[str]], said: date | None,
             ranges: Sequence[tuple[date, date]]) -> bool:
    """Whether a memory's resolved dates (ISO first/last day pairs) or its said-date fall
    within any of the ranges."""
    spans = [(date.fromisoformat(d[0]), date.fromisoformat(d[1])) for d in dates]
    if said is not None:
        spans.append((said, said))
    return any(s <= hi and lo <= e for lo, hi in ranges for s, e in spans)


def boost_time(parts: Parts, in_range: Mapping[str, bool], weight: float) -> Parts:
    """Add ``weight`` x the fused score to memories inside the query's time range."""
    if not weight:
        return parts
    out: Parts = {}
    for doc, p in parts.items():
        p = dict(p)
        if in_range.get(doc):
            p["time"] = weight * total(p)
        out[doc] = p
    return out


def expand_neighbours(parts: Parts, ranked: Sequence[str], neighbours: Mapping[str, Sequence[str]],
                      factor: float) -> Parts:
    """Let the turns next to a scoring turn join: each neighbour of a ranked hit gets
    ``factor`` x that hit's score as its "neighbour" part (the best such offer), so the
    question before or the answer after can come along within the limit."""
    if not factor:
        return parts
    out: Parts = {doc: dict(p) for doc, p in parts.items()}
    for doc in ranked:
        base = total(parts[doc])
        for nb in neighbours.get(doc, ()):
            offer = factor * base
            p = out.setdefault(nb, {})
            if offer > p.get("neighbour", 0.0):
                p["neighbour"] = offer
    return out


def credit_members(parts: Parts, members: Mapping[str, Sequence[str]], factor: float,
                   keep: bool = True) -> Parts:
    """A segment that scores lends ``factor`` x its score to each of its member turns (as
    their "segment" part, the best offer): a turn is ranked by its own match plus the
    match of the passage around it, as in hierarchical passage retrieval. (Measured on
    LoCoMo dev: adding beats using the segment score as a floor, R@10 0.807 vs 0.771.) With ``keep=False`` the segments themselves
    leave the ranking, so results stay turn-sized."""
    out: Parts = {doc: dict(p) for doc, p in parts.items()}
    for seg, turns in members.items():
        offer = factor * total(parts[seg])
        for t in turns:
            p = out.setdefault(t, {})
            if offer > p.get("segment", 0.0):
                p["segment"] = offer
        if not keep:
            out.pop(seg, None)
    return out


_SENT = re.compile(r"[^.!?]+[.!?]*")


@functools.lru_cache(maxsize=65536)  # pure, and asked about the same candidates again
def is_bare_question(text: str) -> bool:
    """A turn that only asks ("What did you paint?") and states nothing of its own."""
    sentences = [s.strip() for s in _SENT.findall(text) if s.strip()]
    return bool(sentences) and all(s.endswith("?") for s in sentences[-1:]) and len(
        [s for s in sentences if not s.endswith("?") and len(s.split()) > 3]) == 0


def penalise(parts: Parts, flagged: Mapping[str, bool], weight: float, name: str) -> Parts:
    """Subtract ``weight`` x the fused score from flagged memories (as a negative part)."""
    if not weight:
        return parts
    out: Parts = {}
    for doc, p in parts.items():
        p = dict(p)
        if flagged.get(doc):
            p[name] = -weight * total(p)
        out[doc] = p
    return out


def drop_covered(ranked: Sequence[tuple[str, float]],
                 sources: Mapping[str, Sequence[str]]) -> list[tuple[str, float]]:
    """Drop hits all of whose source turns are credited by better-ranked hits (a turn
    under a segment that already ranked, a segment whose turns all ranked)."""
    covered: set[str] = set()
    out = []
    for doc, score in ranked:
        src = sources.get(doc, ())
        if src and covered.issuperset(src):
            continue
        covered.update(src)
        out.append((doc, score))
    return out
