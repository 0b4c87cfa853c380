"""Text helpers for indexing and query building. Pure functions."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself him himself his how how's i
    i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my
    myself no nor not of off on once only or other ought our ours ourselves out over own same
    shan't she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this
    those through to too under until up very was wasn't we we'd we'll we're we've were weren't
    what what's when when's where where's which while who who's whom why why's with won't would
    wouldn't you you'd you'll you're you've your yours yourself yourselves also just ever get
    got did does do would will shall may might must like really yeah yes oh hey hi wow""".split()
)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters/digits, inner apostrophes kept)."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def content_words(text: str) -> list[str]:
    """Tokens minus stopwords, de-duplicated, in order of first appearance."""
    seen: dict[str, None] = {}
    for w in words(text):
        if w not in STOPWORDS and w not in seen:
            seen[w] = None
    return list(seen)


def entity_key(name: str) -> str:
    """Entity key: lower case, possessive and punctuation stripped, spaces collapsed. The
    store indexes entities under it; extraction and search look them up with it."""
    n = name.lower().replace("’", "'")
    n = re.sub(r"'s\b", "", n)
    n = re.sub(r"[^\w&\s-]", " ", n)
    return " ".join(n.split())


def content_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


# -- the lexical analyser: index terms of documents and queries alike --------------------
_STEMS: dict[str, str] = {}
_STEMMER = None


def stem(word: str) -> str:
    """The Porter stem of a folded word (memoised)."""
    out = _STEMS.get(word)
    if out is None:
        global _STEMMER
        if _STEMMER is None:
            import snowballstemmer

            _STEMMER = snowballstemmer.stemmer("porter")
        if len(_STEMS) > 500_000:
            _STEMS.clear()
        out = _STEMS[word] = _STEMMER.stemWord(word)
    return out


class _Fold(dict):
    """``str.translate`` table, filled on first sight of each character: letters and
    digits lose their diacritics, combining marks vanish, anything else splits words."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if unicodedata.combining(ch):
            out = ""
        elif not ch.isalnum():
            out = " "
        else:
            out = "".join(c for c in unicodedata.normalize("NFKD", ch)
                          if not unicodedata.combining(c))
        self[code] = out
        return out


_FOLD = _Fold()


def tokens(text: str) -> list[str]:
    """Lower-cased, diacritic-free words of ``text`` (letters and digits), unstemmed."""
    return text.lower().translate(_FOLD).split()
