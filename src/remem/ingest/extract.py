"""LLM-free extraction: episodes become candidate memories with expanded index keys. Pure.

Key expansion (LongMemEval's lesson: index under extra keys, return the original): each
turn is indexed, besides its own words, under its speaker's name, the listener's name when
addressed as "you", the absolute dates its relative time expressions resolve to, and the
words of the turn it answers (the previous turn, often the question that names the topic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .entities import extract as extract_entities
from .timeparse import TimeMention, resolve
from ..config import ExtractConfig
from ..types import Turn

__all__ = ["Candidate", "ExtractConfig", "Turn", "resolve_pronouns", "session_candidates"]


@dataclass(frozen=True)
class Candidate:
    """A memory to be stored: ``text`` is returned to callers, ``keys`` is extra text only
    the lexical index sees, ``embed_text`` is what the dense index embeds."""

    text: str
    type: str
    keys: str
    embed_text: str
    dates: tuple[TimeMention, ...] = field(default_factory=tuple)
    entities: tuple[str, ...] = ()


_FIRST = {"i": "{s}", "me": "{s}", "my": "{s}'s", "mine": "{s}'s", "myself": "{s}",
          "i'm": "{s} is", "i've": "{s} has", "i'll": "{s} will", "i'd": "{s} would"}
_SECOND = {"you": "{l}", "your": "{l}'s", "yours": "{l}'s", "yourself": "{l}",
           "you're": "{l} is", "you've": "{l} has", "you'll": "{l} will", "you'd": "{l} would"}
_PRONOUN = re.compile(r"\b(i'm|i've|i'll|i'd|i|me|my|mine|myself|you're|you've|you'll|you'd|"
                      r"you|your|yours|yourself)\b", re.I)


def resolve_pronouns(text: str, speaker: str | None, listener: str | None) -> str:
    """Replace first-person pronouns by the speaker's name and second-person ones by the
    listener's (when known): "I adopted my dog" -> "Ana adopted Ana's dog"."""

    def sub(m: re.Match[str]) -> str:
        w = m.group(0).lower().replace("’", "'")
        if w in _FIRST and speaker:
            return _FIRST[w].format(s=speaker)
        if w in _SECOND and listener:
            return _SECOND[w].format(l=listener)
        return m.group(0)

    return _PRONOUN.sub(sub, text.replace("’", "'"))


def _listener(turns: list[Turn], i: int) -> str | None:
    """The other party: nearest turn before (else after) with a different speaker name."""
    me = turns[i].name
    for j in list(range(i - 1, -1, -1)) + list(range(i + 1, len(turns))):
        other = turns[j].name
        if other and other != me:
            return other
    return None


def session_candidates(
    turns: list[Turn], times: list[float], cfg: ExtractConfig | None = None
) -> list[list[Candidate]]:
    """Candidates for each turn of one batch (usually a session), in order."""
    cfg = cfg or ExtractConfig()
    known = sorted({t.name for t in turns if t.name})
    out: list[list[Candidate]] = []
    for i, turn in enumerate(turns):
        speaker = turn.name
        text = turn.content.strip()
        listener = _listener(turns, i)
        keys: list[str] = []
        if cfg.speaker_keys and speaker:
            keys.append(speaker)
        if cfg.pronoun_resolution and listener and re.search(r"\byou", text, re.I):
            keys.append(listener)
        anchor = datetime.fromtimestamp(times[i], tz=timezone.utc)
        mentions = tuple(resolve(text, anchor)) if cfg.time_keys else ()
        keys.extend(m.label() for m in mentions)
        if cfg.context_keys:
            for j in range(max(0, i - cfg.context_before), i):
                keys.append(turns[j].content.strip()[: cfg.context_chars])
            for j in range(i + 1, min(len(turns), i + 1 + cfg.context_after)):
                keys.append(turns[j].content.strip()[: cfg.context_chars])
        body = resolve_pronouns(text, speaker, listener) if cfg.pronoun_resolution else text
        embed_text = f"{speaker}: {body}" if speaker else body
        if cfg.embed_context and i > 0 and len(text.split()) <= cfg.embed_context_words:
            # a short turn ("Her name is Pimenta.") means little alone: embed it after
            # the turn it answers, so "what is the dog called?" can find it
            prev = turns[i - 1]
            said = prev.content.strip()[: cfg.embed_context]
            embed_text = f"{prev.name}: {said}\n{embed_text}" if prev.name else f"{said}\n{embed_text}"
        names = tuple(s for _, s in extract_entities(text, known)) if cfg.entities else ()
        out.append([Candidate(text, "turn", "\n".join(keys), embed_text, mentions, names)])
    return out
