"""LLM-free extraction: an episode becomes one or more candidate memories. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from .types import Turn


@dataclass(frozen=True)
class Candidate:
    """A memory to be stored: ``text`` is returned to callers, ``keys`` is extra text that
    only the lexical index sees, ``embed_text`` is what the dense index embeds."""

    text: str
    type: str
    keys: str
    embed_text: str


def speaker_of(turn: Turn) -> str | None:
    return turn.name


def turn_candidates(turn: Turn) -> list[Candidate]:
    """The turn itself, verbatim, indexed with its speaker's name."""
    speaker = speaker_of(turn)
    text = turn.content.strip()
    embed_text = f"{speaker}: {text}" if speaker else text
    return [Candidate(text=text, type="turn", keys=speaker or "", embed_text=embed_text)]
