"""Lexical search in memory: tokenizer and a per-scope BM25 index over text and keys.

Documents are analysed by ``remem._text.tokens`` and ``stem`` (case and diacritics
folded, split on anything that is not a letter or a digit, Porter-stemmed: the same steps
as SQLite FTS5's ``porter unicode61 remove_diacritics 2``), as queries are by
``remem.search.terms``. :class:`LexicalIndex` keeps, per term, the documents it occurs in
with its frequency in the text and in the expanded keys; BM25 is scored with numpy over
the postings of the query's terms only, so a query costs the length of its terms' posting
lists, not a scan of the scope. Statistics (N, document frequencies, average length) are
the scope's own: another tenant's memories never shape a score.

Documents are only appended; removing one clears its ``live`` flag, and the statistics
count live documents only. The owner rebuilds when too many are dead.

:class:`LexCache` is one user's index with what each position holds (memory id, row id,
agent, session, ``updated_at`` when indexed), shared by both stores: each loads rows
from its database and keeps the cache current by its user's scope version."""

from __future__ import annotations

import math
from array import array
from typing import Any, Iterable, Sequence

import numpy as np

from .._text import stem, tokens
from ..types import Scope
from . import blobs
from .columns import Columns, scope_mask

K1, B = 1.2, 0.75
_CHUNK = 2048  # documents counted per numpy pass


def _run_starts(values: np.ndarray) -> np.ndarray:
    """True where a sorted (non-empty) array starts a run of equal values."""
    first = np.empty(len(values), dtype=bool)
    first[0] = True
    np.not_equal(values[1:], values[:-1], out=first[1:])
    return first


class _Postings:
    __slots__ = ("docs", "text_tf", "keys_tf")

    def __init__(self) -> None:
        self.docs = array("i")
        self.text_tf = array("f")
        self.keys_tf = array("f")


class _Saved:
    """A term's postings as loaded from a snapshot: read-only numpy slices (copied into
    a :class:`_Postings` only when documents are added to the term)."""
    __slots__ = ("docs", "text_tf", "keys_tf")

    def __init__(self, docs: np.ndarray, text_tf: np.ndarray, keys_tf: np.ndarray) -> None:
        self.docs, self.text_tf, self.keys_tf = docs, text_tf, keys_tf


def _small(counts: np.ndarray) -> np.ndarray:
    """Term counts as float16 when that holds them exactly (whole numbers to 2048)."""
    return counts.astype(np.float16) if not len(counts) or counts.max() <= 2048 else counts


class LexicalIndex:
    """BM25 over documents with two fields (text, keys), appended in order.

    Not thread-safe: the owner serialises ``add``/``remove`` against ``search``."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}  # stemmed term -> term number
        self._words: dict[str, int] = {}  # folded word -> term number (stemming cache)
        self._postings: list[_Postings | None] = []  # None: still in ``_saved``
        self._saved: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._length = array("f")  # tokens in text + keys
        self.live = np.zeros(0, dtype=bool)
        self._n_live = 0
        self._live_tokens = 0.0

    def __len__(self) -> int:
        return len(self._length)

    @property
    def live_docs(self) -> int:
        return self._n_live

    @property
    def dead(self) -> int:
        return len(self._length) - self._n_live

    def _term(self, word: str) -> int:
        term = stem(word)
        tid = self._ids.get(term)
        if tid is None:
            tid = self._ids[term] = len(self._postings)
            self._postings.append(_Postings())
        self._words[word] = tid
        return tid

    def add(self, docs: Sequence[tuple[str, str]]) -> None:
        """Append documents given as (text, keys); their positions follow the last one.
        Tokens are counted with numpy per chunk of documents, so Python touches each
        token once and the sort stays in cache."""
        lines: dict[str, tuple[int, ...]] = {}  # a turn's line recurs in its neighbours'
        for i in range(0, len(docs), _CHUNK):  # keys and its segment: tokenised once
            self._add(docs[i:i + _CHUNK], lines)

    def _line(self, line: str, lines: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
        """Term numbers of one line of text (memoised in ``lines``)."""
        ids = lines.get(line)
        if ids is None:
            known = self._words
            ids = lines[line] = tuple(known[w] if w in known else self._term(w)
                                      for w in tokens(line))
        return ids

    def _add(self, docs: Sequence[tuple[str, str]], lines: dict[str, tuple[int, ...]]) -> None:
        if not docs:
            return
        start, n = len(self._length), len(docs)
        flat: list[int] = []
        n_text = np.empty(n, np.int64)
        n_all = np.empty(n, np.int64)
        for i, (text, keys) in enumerate(docs):
            before = len(flat)
            for line in text.split("\n"):
                flat += self._line(line, lines)
            n_text[i] = len(flat) - before
            if keys:
                for line in keys.split("\n"):
                    flat += self._line(line, lines)
            n_all[i] = len(flat) - before
        if flat:
            self._post(flat, n_text, n_all, start)
        self._length.frombytes(n_all.astype(np.float32).tobytes())
        self._live_tokens += float(n_all.sum())
        grown = np.ones(start + n, dtype=bool)
        grown[:start] = self.live
        self.live = grown
        self._n_live += n

    def _post(self, flat: list[int], n_text: np.ndarray, n_all: np.ndarray, start: int) -> None:
        """Append a batch's postings: ``flat`` holds each document's text term numbers
        then its keys term numbers (``n_text`` and ``n_all`` per document)."""
        n = len(n_all)
        tids = np.array(flat, dtype=np.int64)
        # key = (term * n + document) * 2 + (1 if in keys): runs of text then keys words
        runs = np.empty(2 * n, np.int64)
        runs[0::2], runs[1::2] = n_text, n_all - n_text
        tids *= 2 * n
        tids += np.repeat(np.arange(2 * n, dtype=np.int64), runs)
        # count each (term, document, field) once: sorted by term, then document
        tids.sort()
        starts = np.flatnonzero(_run_starts(tids))
        key = tids[starts]
        count = np.diff(np.append(starts, len(tids)))
        pair, field = key >> 1, (key & 1).astype(bool)
        first = _run_starts(pair)  # a (term, document)'s text and keys rows are adjacent
        slot = np.cumsum(first) - 1
        pairs = pair[first]
        text_tf = np.zeros(len(pairs), np.float32)
        keys_tf = np.zeros(len(pairs), np.float32)
        text_tf[slot[~field]] = count[~field]
        keys_tf[slot[field]] = count[field]
        term, docs_at = pairs // n, (pairs % n + start).astype(np.int32)
        bounds = np.flatnonzero(np.diff(term)) + 1
        for lo, hi in zip(np.concatenate(([0], bounds)), np.concatenate((bounds, [len(term)]))):
            p = self._writable(int(term[lo]))
            p.docs.frombytes(docs_at[lo:hi].tobytes())
            p.text_tf.frombytes(text_tf[lo:hi].tobytes())
            p.keys_tf.frombytes(keys_tf[lo:hi].tobytes())

    def remove(self, positions: Iterable[int]) -> None:
        """Take documents out of scoring and of the statistics."""
        for i in positions:
            if self.live[i]:
                self.live[i] = False
                self._n_live -= 1
                self._live_tokens -= self._length[i]

    def _saved_postings(self, tid: int) -> _Saved:
        assert self._saved is not None
        offsets, docs, text_tf, keys_tf = self._saved
        a, b = int(offsets[tid]), int(offsets[tid + 1])
        return _Saved(docs[a:b], text_tf[a:b].astype(np.float32),
                      keys_tf[a:b].astype(np.float32))

    def _writable(self, tid: int) -> _Postings:
        p = self._postings[tid]
        if p is None:  # loaded from a snapshot: copy out before appending
            saved, p = self._saved_postings(tid), _Postings()
            p.docs.frombytes(saved.docs.tobytes())
            p.text_tf.frombytes(saved.text_tf.tobytes())
            p.keys_tf.frombytes(saved.keys_tf.tobytes())
            self._postings[tid] = p
        return p

    def _get(self, term: str) -> _Postings | _Saved | None:
        tid = self._ids.get(term)
        if tid is None:
            return None
        p = self._postings[tid]
        return self._saved_postings(tid) if p is None else p

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The index as plain arrays (see ``from_arrays``)."""
        terms = [""] * len(self._postings)
        for t, i in self._ids.items():
            terms[i] = t
        parts = [self._get(t) for t in terms]
        sizes = np.array([len(p.docs) for p in parts if p is not None], dtype=np.int64)
        cat = (lambda name, dt: np.concatenate(  # noqa: E731
            [np.frombuffer(getattr(p, name), dtype=dt) for p in parts if p is not None])
            if parts else np.zeros(0, dt))
        return {"terms": np.frombuffer("\n".join(terms).encode(), dtype=np.uint8),
                "offsets": np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
                "docs": cat("docs", np.int32), "text_tf": _small(cat("text_tf", np.float32)),
                "keys_tf": _small(cat("keys_tf", np.float32)),
                "length": np.frombuffer(self._length, dtype=np.float32).copy(),
                "live": self.live.copy(),
                "stats": np.array([self._n_live, self._live_tokens], dtype=np.float64)}

    @classmethod
    def from_arrays(cls, a: Any) -> "LexicalIndex":
        """An index from ``to_arrays``: term postings stay in the loaded arrays until a
        search or an add touches them, so loading costs little more than reading."""
        index = cls()
        text = a["terms"].tobytes().decode()
        terms = text.split("\n") if len(a["offsets"]) > 1 else []
        index._ids = dict(zip(terms, range(len(terms))))
        index._postings = [None] * len(terms)
        index._saved = (a["offsets"], a["docs"], a["text_tf"], a["keys_tf"])
        index._length.frombytes(a["length"].astype(np.float32).tobytes())
        index.live = a["live"].astype(bool)
        index._n_live, index._live_tokens = int(a["stats"][0]), float(a["stats"][1])
        return index

    def doc_freq(self, term: str) -> int:
        p = self._get(term)
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
            p = self._get(term)
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


class LexCache:
    """A user's :class:`LexicalIndex` and, per position, the memory id, row id, agent,
    session and ``updated_at`` it was indexed with. Rows are given as (rowid, id, agent,
    session, text, keys, updated_at)."""

    def __init__(self) -> None:
        self.index = LexicalIndex()
        self.rows = Columns({"id": object, "rowid": np.int64, "agent": object,
                             "session": object, "updated": np.float64})
        self.mark = 0  # highest row id added (a store may keep its own mark instead)

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        self.index.add([(r[4], r[5] or "") for r in rows])
        self.rows.extend({"rowid": [r[0] for r in rows], "id": [r[1] for r in rows],
                          "agent": [r[2] for r in rows], "session": [r[3] for r in rows],
                          "updated": [r[6] for r in rows]})
        self.mark = max(self.mark, max(int(r[0]) for r in rows))

    def mask(self, scope: Scope, allowed: set[str] | None) -> np.ndarray | None:
        rows = self.rows
        return scope_mask(scope, lambda: rows["agent"], lambda: rows["session"], rows["id"],
                          allowed)

    def search(self, scope: Scope, terms: Sequence[str], limit: int,
               allowed: set[str] | None, keys_weight: float) -> list[tuple[str, float]]:
        hits = self.index.search(terms, limit, keys_weight=keys_weight,
                                 mask=self.mask(scope, allowed))
        ids = self.rows["id"]
        return [(ids[i], s) for i, s in hits]

    def doc_freqs(self, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        index = self.index
        return index.live_docs, {t: index.doc_freq(t) for t in terms}

    def to_bytes(self) -> bytes:
        """The cache as one blob of plain arrays (:mod:`.blobs`: no pickle)."""
        r = self.rows
        return blobs.pack({**self.index.to_arrays(), "row_ids": blobs.json_array(r["id"].tolist()),
                      "row_agents": blobs.json_array(r["agent"].tolist()),
                      "row_sessions": blobs.json_array(r["session"].tolist()),
                      "rowid": r["rowid"], "updated": r["updated"],
                      "mark": np.array([self.mark], dtype=np.int64)})

    @classmethod
    def from_bytes(cls, blob: bytes) -> "LexCache":
        a = blobs.unpack(blob)  # postings stay views of the blob until written to
        cache = cls()
        cache.index = LexicalIndex.from_arrays(a)
        ids = list(blobs.json_value(a["row_ids"]))
        if ids:
            cache.rows.extend({"id": ids, "agent": list(blobs.json_value(a["row_agents"])),
                               "session": list(blobs.json_value(a["row_sessions"])),
                               "rowid": a["rowid"], "updated": a["updated"]})
        cache.mark = int(a["mark"][0])
        if len(ids) != len(cache.index):
            raise ValueError("snapshot rows and index disagree")
        return cache

    def reconcile(self, current: dict[int, float]) -> list[int] | None:
        """Bring the index in line with ``current`` (row id -> ``updated_at`` of the user's
        active ranked rows up to some mark): rows gone or changed leave; returns the row
        ids to (re-)add, or ``None`` when so much is dead that a rebuild is cheaper."""
        live = np.flatnonzero(self.index.live)
        rowids, updated = self.rows["rowid"][live].tolist(), self.rows["updated"][live]
        gone = [int(p) for p, rid, at in zip(live, rowids, updated.tolist())
                if current.get(rid) != at]
        self.index.remove(gone)
        kept = set(rowids).difference(self.rows["rowid"][gone].tolist())
        if self.index.dead * 3 > len(self.index):
            return None
        return [rid for rid in current if rid not in kept]
