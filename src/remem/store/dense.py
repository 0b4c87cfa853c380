"""Dense top-k over a scope's unit vectors. Pure numpy.

Scopes up to ``EXACT_MAX`` rows are scanned exactly (one matrix-vector product). Larger
ones are scanned in two stages: every row is ranked by the Hamming distance between
centred sign bits (one bit per dimension: 1/32 of the float32 matrix, SimHash-style),
then the best ``rerank`` rows are scored exactly. Reading 48 bytes per row instead of
1,536 is what makes a 100k-row scope cheap; the exact second stage keeps the scores and
the order of what it returns exact.

Both stores rank the same numbers: vectors are kept on the int8 grid of ``encode_int8``
(SQLite stores the codes, PostgreSQL the values they decode to), and each store holds a
user's vectors in memory as a :class:`VectorCache` ranked by :func:`rank`."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import StoreError
from ..types import Scope
from .columns import Columns, scope_mask

EXACT_MAX = 20_000  # rows scanned exactly; above, sign bits pick the rows to score
RERANK_MIN = 2_000  # rows scored exactly after the sign-bit stage (at least)
RERANK_PER_HIT = 40  # ... or this many per requested hit, whichever is more


_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (numpy >= 2 has it built in)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return _POP8[words.view(np.uint8)].reshape(len(words), 8).sum(axis=1, dtype=np.uint8)


def _pack(rows: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Sign bits of ``rows - center`` as uint64 words, one row of words per *word*
    (shape ``(words, n)``), so the distance is a few passes over contiguous arrays."""
    bits = np.packbits(rows > center, axis=1)
    pad = (-bits.shape[1]) % 8
    if pad:
        bits = np.pad(bits, ((0, 0), (0, pad)))
    return np.ascontiguousarray(bits.view(np.uint64).T)


class SignCodes:
    """Centred sign bits of a matrix whose rows are only ever appended. ``extend`` codes
    the rows added since; the centre is the mean of the rows present when the codes
    were (re)built, and they are rebuilt once the matrix has doubled since."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.center = matrix.mean(axis=0).astype(np.float32)
        self.built_rows = len(matrix)
        self.n = len(matrix)
        self._words = _pack(matrix, self.center)
        # spare columns take later rows without copying
        spare = np.empty((self._words.shape[0], self.n + self.n // 4 + 64), np.uint64)
        spare[:, :self.n] = self._words
        self._words = spare

    def stale(self, rows: int) -> bool:
        return rows >= 2 * self.built_rows

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"sign_center": self.center, "sign_words": self._words[:, :self.n],
                "sign_built": np.array([self.built_rows], dtype=np.int64)}

    @classmethod
    def from_arrays(cls, a: Any) -> "SignCodes":
        codes = cls.__new__(cls)
        codes.center = a["sign_center"].astype(np.float32)
        codes.built_rows = int(a["sign_built"][0])
        words = a["sign_words"]
        codes.n = words.shape[1]
        codes._words = np.empty((words.shape[0], codes.n + codes.n // 4 + 64), np.uint64)
        codes._words[:, :codes.n] = words
        return codes

    def extend(self, matrix: np.ndarray) -> None:
        if len(matrix) <= self.n:
            return
        new = _pack(matrix[self.n:], self.center)
        end = self.n + new.shape[1]
        if end > self._words.shape[1]:
            grown = np.empty((self._words.shape[0], end + end // 2), np.uint64)
            grown[:, :self.n] = self._words[:, :self.n]
            self._words = grown
        self._words[:, self.n:end] = new
        self.n = end

    def distances(self, query: np.ndarray) -> np.ndarray:
        """Hamming distance of every coded row to ``query`` (uint16)."""
        q = _pack(query[None, :], self.center)[:, 0]
        words = self._words[:, :self.n]
        out = _popcount(words[0] ^ q[0]).astype(np.uint16)
        for w in range(1, len(q)):
            out += _popcount(words[w] ^ q[w])
        return out


def top_k(matrix: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray | None = None,
          signs: SignCodes | None = None) -> list[tuple[int, float]]:
    """The ``k`` rows with the highest dot product with ``query`` (among ``mask``), best
    first, as (row, score). With ``signs`` (coding every row) only the rows nearest in
    sign bits are scored exactly."""
    n = len(matrix)
    if not n or k < 1:
        return []
    rows = None
    if signs is not None and n > max(k * RERANK_PER_HIT, RERANK_MIN):
        dist = signs.distances(query)
        if mask is not None:
            dist[~mask] = np.iinfo(np.uint16).max
        r = max(k * RERANK_PER_HIT, RERANK_MIN)
        rows = np.argpartition(dist, r - 1)[:r]
        if mask is not None:
            rows = rows[mask[rows]]
        scores = matrix[rows] @ query
    else:
        scores = matrix @ query
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
    k = min(k, len(scores))
    if not k:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(i if rows is None else rows[i]), float(scores[i])) for i in top
            if np.isfinite(scores[i])]


def encode_int8(v: np.ndarray) -> bytes:
    """A unit vector as a float32 scale and one signed byte per component (the SQLite
    store's on-disk form: half the size of float16, cosine to the original > 0.9998).
    The scale is a power of two, so the values it decodes to are exact in float16: a
    vector exported (as float16) and imported again decodes to the very same numbers."""
    v = np.asarray(v, dtype=np.float32)
    peak = float(np.abs(v).max()) if v.size else 0.0
    scale = 2.0 ** math.ceil(math.log2(peak / 127.0)) if peak > 0 else 1.0
    q = np.clip(np.rint(v / scale), -127, 127).astype(np.int8)
    return np.float32(scale).tobytes() + q.tobytes()


def on_grid(rows: np.ndarray) -> np.ndarray:
    """``decode_int8(encode_int8(row))`` of each row of a matrix, at once (PostgreSQL
    stores and ranks these values, so its scores are the SQLite store's)."""
    m = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    peak = np.abs(m).max(axis=1).astype(np.float64) if m.size else np.zeros(len(m))
    safe = np.where(peak > 0, peak, 127.0)
    scale = np.where(peak > 0, np.exp2(np.ceil(np.log2(safe / 127.0))), 1.0).astype(np.float32)
    q = np.clip(np.rint(m / scale[:, None]), -127, 127).astype(np.int8)
    return q.astype(np.float32) * scale[:, None]


def decode_int8(blob: bytes) -> np.ndarray:
    """The inverse of ``encode_int8``."""
    v = np.frombuffer(blob, dtype=np.int8, offset=4).astype(np.float32)
    return v * np.frombuffer(blob, dtype=np.float32, count=1)[0]


def decode_int8_rows(blobs: Sequence[bytes]) -> np.ndarray:
    """``decode_int8`` of many blobs at once, as a float32 matrix (rows of one length)."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    width = len(blobs[0])
    if any(len(b) != width for b in blobs):
        raise StoreError("stored vectors of one embedding model differ in dimension")
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), width)
    scales = np.ascontiguousarray(raw[:, :4]).view(np.float32)
    return raw[:, 4:].view(np.int8).astype(np.float32) * scales


@dataclass
class VectorCache:
    """A snapshot of a user's vectors: views of the first rows of ``columns``, which
    later adds extend without touching them."""

    model: str
    columns: Columns  # id, agent, session, vector
    signs: SignCodes | None = None  # sign bits of the rows, once the scope is large

    def __post_init__(self) -> None:
        c = self.columns
        self.ids, self.agents, self.sessions = c["id"], c["agent"], c["session"]
        self.matrix: np.ndarray = c["vector"]  # float32 (n, dim)
        self._positions: dict[str, int] | None = None

    def mask(self, scope: Scope, allowed: set[str] | None) -> np.ndarray | None:
        return scope_mask(scope, lambda: self.agents, lambda: self.sessions, self.ids, allowed)

    def positions(self) -> dict[str, int]:
        """Row of each id (built once per snapshot)."""
        if self._positions is None:
            self._positions = {d: i for i, d in enumerate(self.ids)}
        return self._positions

    def in_scope(self, scope: Scope) -> tuple[list[str], np.ndarray]:
        """Ids and unit vectors of the scope's rows."""
        keep = self.mask(scope, None)
        rows = np.arange(len(self.ids)) if keep is None else np.nonzero(keep)[0]
        if not len(rows):
            return [], np.zeros((0, 1), np.float32)
        return [self.ids[i] for i in rows], self.matrix[rows]

    def of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The unit vectors of those of ``ids`` the snapshot holds."""
        pos = self.positions()
        return {i: self.matrix[pos[i]] for i in ids if i in pos}


def rank(cache: VectorCache, scope: Scope, vector: np.ndarray, limit: int,
         allowed: set[str] | None) -> list[tuple[str, float]]:
    """Cosine similarity of the cached rows in ``scope`` (and ``allowed``) to ``vector``,
    best first: exact up to ``EXACT_MAX`` rows, through sign bits above."""
    if not len(cache.ids):
        return []
    signs = None
    if len(cache.ids) > EXACT_MAX:
        if cache.signs is None or cache.signs.stale(len(cache.ids)):
            cache.signs = SignCodes(cache.matrix)
        cache.signs.extend(cache.matrix)
        signs = cache.signs
    hits = top_k(cache.matrix, vector.astype(np.float32), limit, cache.mask(scope, allowed),
                 signs)
    return [(cache.ids[i], s) for i, s in hits]


def vectors_to_bytes(cache: VectorCache) -> bytes:
    """A user's cached vectors as one blob of plain arrays (``np.savez``, no pickle): the
    int8 codes and scales (the rows are on that grid) and the sign bits if built."""
    m = cache.matrix
    peak = np.abs(m).max(axis=1).astype(np.float64) if m.size else np.zeros(len(m))
    scale = np.where(peak > 0, np.exp2(np.ceil(np.log2(np.where(peak > 0, peak, 127.0) / 127.0))),
                     1.0).astype(np.float32)
    arrays: dict[str, Any] = {
        "codes": np.clip(np.rint(m / scale[:, None]), -127, 127).astype(np.int8),
        "scales": scale, "model": np.frombuffer(cache.model.encode(), dtype=np.uint8),
        "meta": np.frombuffer(json.dumps([cache.ids.tolist(), cache.agents.tolist(),
                                          cache.sessions.tolist()]).encode(), dtype=np.uint8)}
    if cache.signs is not None and cache.signs.n == len(m):
        arrays.update(cache.signs.to_arrays())
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def vectors_from_bytes(blob: bytes) -> VectorCache:
    a = np.load(io.BytesIO(blob), allow_pickle=False)
    ids, agents, sessions = json.loads(a["meta"].tobytes().decode())
    matrix = a["codes"].astype(np.float32)
    matrix *= a["scales"][:, None]

    def strings(values: list[str]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    columns = Columns.adopt({"id": strings(ids), "agent": strings(agents),
                             "session": strings(sessions), "vector": matrix})
    signs = SignCodes.from_arrays(a) if "sign_words" in a.files else None
    return VectorCache(a["model"].tobytes().decode(), columns, signs)
