"""LLM-free entity extraction: names of people, places, things and titles. Pure.

Heuristics that hold for English chat: runs of capitalised words that do not start a
sentence (or that are known names), quoted titles, and known speaker names. Each entity is
returned as (normalised key, surface form)."""

from __future__ import annotations

import re
from typing import Iterable

from .._text import STOPWORDS, entity_key

normalise = entity_key  # the key entities are stored and looked up under (remem._text)

# capitalised words that start chat sentences without naming anything
_NOT_NAMES = frozenset(
    """hey hi hello wow thanks thank yes yeah yep no nope oh ok okay sure great awesome
    cool nice good sounds sorry well so but and or also just really totally absolutely
    congrats congratulations haha lol omg btw anyway speaking by the a an i i'm i've i'll
    i'd you we they he she it that this these those there here what when where why how who
    which did do does is are was were have has had can could would should will my your our
    their his her its me us them mom dad mum lately since last next today tomorrow
    yesterday tonight morning monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november
    december mon tue tues wed thu thur thurs fri sat sun""".split()
)
_SENT_START = re.compile(r"(?:^|[.!?]\s+|\n\s*|[\"“(]\s*)$")
_WORD = r"(?!I\b|I['’])[A-Z][\w'’&-]*"
_CAP_RUN = re.compile(rf"\b({_WORD}(?:\s+(?:of|the|de|da|van|von)?\s*{_WORD})*)")
_QUOTED = re.compile(r"[\"“]([A-Z][^\"”]{2,60})[\"”]")


def _plain(word: str) -> str:
    return word.lower().replace("’", "'").strip(".,!?;:")


def extract(text: str, known: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Entities in ``text``: [(key, surface)], de-duplicated, in order of appearance.
    ``known`` names (e.g. speakers) are found wherever they appear, capitalised or not."""
    found: dict[str, str] = {}
    for m in _QUOTED.finditer(text):
        found.setdefault(normalise(m.group(1)), m.group(1).strip())
    masked = _QUOTED.sub(lambda m: " " * len(m.group(0)), text)  # titles are whole
    for m in _CAP_RUN.finditer(masked):
        surface = m.group(1).strip()
        words = surface.split()
        if _SENT_START.search(masked[: m.start()]):
            # a capitalised word opening a sentence is usually not a name ("Bye Jon")
            words = words[1:]
        while words and _plain(words[0]) in _NOT_NAMES | STOPWORDS:
            words.pop(0)  # "Hey Caroline" -> "Caroline"
        if not words:
            continue
        surface = " ".join(words)
        key = normalise(surface)
        if not key or len(key) < 2 or key in STOPWORDS:
            continue
        found.setdefault(key, surface)
    lowered = f" {normalise(text)} "
    for name in known:
        key = normalise(name)
        if key and f" {key} " in lowered:
            found.setdefault(key, name)
    return list(found.items())
