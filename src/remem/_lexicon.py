"""Lexical search in memory: tokenizer and a per-scope BM25 index over text and keys.

The tokenizer folds case and diacritics, splits on anything that is not a letter or a
digit and Porter-stems each word (the same steps as SQLite FTS5's ``porter unicode61
remove_diacritics 2``). :class:`LexicalIndex` keeps, per term, the documents it occurs in
with its frequency in the text and in the expanded keys; BM25 is scored with numpy over
the postings of the query's terms only, so a query costs the length of its terms' posting
lists, not a scan of the scope. Statistics (N, document frequencies, average length) are
the scope's own: another tenant's memories never shape a score.

Documents are only appended; removing one clears its ``live`` flag, and the statistics
count live documents only. The owner rebuilds when too many are dead."""

from __future__ import annotations

import math
import re
import unicodedata
from array import array
from typing import Iterable, Sequence

import numpy as np

from ._text import content_words, words

_TOKEN = re.compile(r"[^\W_]+")
_STEMS: dict[str, str] = {}
_STEMMER = None
K1, B = 1.2, 0.75


def _stem(word: str) -> str:
    stem = _STEMS.get(word)
    if stem is None:
        global _STEMMER
        if _STEMMER is None:
            import snowballstemmer

            _STEMMER = snowballstemmer.stemmer("porter")
        if len(_STEMS) > 500_000:
            _STEMS.clear()
        stem = _STEMS[word] = _STEMMER.stemWord(word)
    return stem


def _fold(text: str) -> str:
    text = text.lower()
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text


def term_counts(text: str) -> tuple[dict[str, int], int]:
    """(stemmed term -> occurrences, number of tokens) of ``text``."""
    raw = _TOKEN.findall(_fold(text))
    counts: dict[str, int] = {}
    for w in raw:
        counts[w] = counts.get(w, 0) + 1
    out: dict[str, int] = {}
    for w, c in counts.items():
        t = _stem(w)
        out[t] = out.get(t, 0) + c
    return out, len(raw)


def query_terms(query: str, limit: int = 64) -> list[str]:
    """The query's content words (stopwords out unless nothing else is left) as index
    terms, de-duplicated in order. A word split by an apostrophe keeps its long parts
    ("Dmitri's" -> "dmitri")."""
    out: dict[str, None] = {}
    for word in content_words(query) or list(dict.fromkeys(words(query))):
        parts = _TOKEN.findall(_fold(word))
        for p in parts if len(parts) == 1 else [p for p in parts if len(p) > 1]:
            out.setdefault(_stem(p), None)
    return list(out)[:limit]


class _Postings:
    __slots__ = ("docs", "text_tf", "keys_tf")

    def __init__(self) -> None:
        self.docs = array("i")
        self.text_tf = array("f")
        self.keys_tf = array("f")


class LexicalIndex:
    """BM25 over documents with two fields (text, keys), appended in order.

    Not thread-safe: the owner serialises ``add``/``remove`` against ``search``."""

    def __init__(self) -> None:
        self._terms: dict[str, _Postings] = {}
        self._length = array("f")  # tokens in text + keys
        self.live = np.zeros(0, dtype=bool)
        self._n_live = 0
        self._live_tokens = 0.0

    def __len__(self) -> int:
        return len(self._length)

    @property
    def dead(self) -> int:
        return len(self._length) - self._n_live

    def add(self, docs: Sequence[tuple[str, str]]) -> None:
        """Append documents given as (text, keys); their positions follow the last one."""
        start = len(self._length)
        for i, (text, keys) in enumerate(docs, start):
            tc, tn = term_counts(text)
            kc, kn = term_counts(keys) if keys else ({}, 0)
            for term in tc.keys() | kc.keys():
                p = self._terms.get(term)
                if p is None:
                    p = self._terms[term] = _Postings()
                p.docs.append(i)
                p.text_tf.append(tc.get(term, 0))
                p.keys_tf.append(kc.get(term, 0))
            self._length.append(tn + kn)
            self._live_tokens += tn + kn
        grown = np.ones(len(self._length), dtype=bool)
        grown[: len(self.live)] = self.live
        self.live = grown
        self._n_live += len(self._length) - start

    def remove(self, positions: Iterable[int]) -> None:
        """Take documents out of scoring and of the statistics."""
        for i in positions:
            if self.live[i]:
                self.live[i] = False
                self._n_live -= 1
                self._live_tokens -= self._length[i]

    def doc_freq(self, term: str) -> int:
        p = self._terms.get(term)
        if p is None:
            return 0
        docs = np.frombuffer(p.docs, dtype=np.int32)
        return int(self.live[docs].sum()) if self._n_live < len(self._length) else len(docs)

    def search(self, terms: Sequence[str], limit: int, *, keys_weight: float = 0.5,
               mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``limit`` (position, BM25) among live documents (and ``mask``), best first.

        BM25 as FTS5 computes it with column weights: a term's frequency in a document
        is its text count plus ``keys_weight`` x its keys count; the document length is
        its token count; idf = ln((N - df + 0.5) / (df + 0.5)), at least 1e-6."""
        n = self._n_live
        if not n or not terms:
            return []
        length = np.frombuffer(self._length, dtype=np.float32)
        norm = K1 * (1 - B + B * length / (self._live_tokens / n or 1.0))
        scores = np.zeros(len(length), dtype=np.float64)
        all_live = n == len(length)
        for term in dict.fromkeys(terms):
            p = self._terms.get(term)
            if p is None:
                continue
            docs = np.frombuffer(p.docs, dtype=np.int32)
            df = len(docs) if all_live else int(self.live[docs].sum())
            if not df:
                continue
            idf = max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)
            tf = np.frombuffer(p.text_tf, dtype=np.float32)
            if keys_weight:
                tf = tf + keys_weight * np.frombuffer(p.keys_tf, dtype=np.float32)
            scores[docs] += idf * tf * (K1 + 1) / (tf + norm[docs])
        keep = self.live if mask is None else self.live & mask
        hits = np.flatnonzero((scores > 0) & keep)
        if not len(hits):
            return []
        if len(hits) > limit:
            hits = hits[np.argpartition(-scores[hits], limit - 1)[:limit]]
        hits = hits[np.argsort(-scores[hits], kind="stable")]
        return [(int(i), float(scores[i])) for i in hits]
