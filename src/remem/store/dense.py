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

import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence, Union

import numpy as np

from ..errors import StoreError
from ..types import Scope
from . import blobs
from .columns import Columns, scope_mask

EXACT_MAX = 20_000  # rows scanned exactly; above, sign bits pick the rows to score
RERANK_MIN = 2_000  # rows scored exactly after the sign-bit stage (at least)
RERANK_PER_HIT = 40  # ... or this many per requested hit, whichever is more


_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_BLOCK = 4096  # rows turned into float32 at a time


class Grid:
    """Rows on the int8 grid: one signed byte per component and a float32 power-of-two
    scale per row (what ``encode_int8`` stores). A quarter of a float32 matrix in
    memory, and nothing to convert when loaded: rows become float32 a block at a time,
    only for the rows a search scores. ``row * scale`` is exact in float32, so a row
    here has exactly the values ``decode_int8`` gives."""

    __slots__ = ("codes", "scales")

    def __init__(self, codes: np.ndarray, scales: np.ndarray) -> None:
        self.codes, self.scales = codes, scales

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self, index: Any = slice(None)) -> np.ndarray:
        """The rows (all, a slice or an index array) as a float32 matrix."""
        out = self.codes[index].astype(np.float32)
        out *= self.scales[index][:, None]
        return out

    def blocks(self) -> Iterator[np.ndarray]:
        """All rows as float32, ``_BLOCK`` rows at a time."""
        for i in range(0, len(self.codes), _BLOCK):
            yield self.rows(slice(i, i + _BLOCK))

    def dot(self, query: np.ndarray, index: Any = None) -> np.ndarray:
        """``rows(index) @ query`` (all rows when ``index`` is None), block by block."""
        if index is not None:
            return _matvec(self.rows(index), query)
        out = np.empty(len(self.codes), dtype=np.float32)
        for i, block in enumerate(self.blocks()):
            out[i * _BLOCK:i * _BLOCK + len(block)] = _matvec(block, query)
        return out


Rows = Union[np.ndarray, Grid]  # a float32 matrix, or rows on the int8 grid


class FloatRows:
    """The float32 values of a grid's rows, appended to as the grid grows: what an exact
    scan of a small scope multiplies (one BLAS call over a float32 matrix is several
    times faster than converting int8 blocks on every search)."""

    def __init__(self) -> None:
        self._data = np.zeros((0, 0), np.float32)
        self.n = 0

    def upto(self, grid: Grid) -> np.ndarray:
        """The first ``len(grid)`` rows (converting those added since the last call)."""
        n = len(grid)
        if n > self.n:
            if n > len(self._data) or self._data.shape[1:] != grid.codes.shape[1:]:
                grown = np.empty((n + n // 4 + 64, *grid.codes.shape[1:]), np.float32)
                if self.n:
                    grown[:self.n] = self._data[:self.n]
                self._data = grown
            self._data[self.n:n] = grid.rows(slice(self.n, n))
            self.n = n
        return self._data[:n]


def _blocks(m: Rows) -> Iterator[np.ndarray]:
    if isinstance(m, Grid):
        yield from m.blocks()
    else:
        for i in range(0, len(m), _BLOCK):
            yield m[i:i + _BLOCK]


def _matvec(m: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``m @ query`` on the calling thread. numpy's ``@`` hands a matrix-vector product
    to BLAS, whose worker threads wake for it: on 2 busy cores that made a 12k-row scan
    cost ~5 ms instead of ~0.6 (and every search's CPU time 2.4x). ``einsum`` runs its
    own loop, in a fixed order, so the scores do not depend on BLAS's threading."""
    return np.einsum("ij,j->i", m, query)


def _dot(m: Rows, query: np.ndarray, index: Any = None) -> np.ndarray:
    if isinstance(m, Grid):
        return m.dot(query, index)
    return _matvec(m if index is None else m[index], query)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (numpy >= 2 has it built in)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return _POP8[words.view(np.uint8)].reshape(len(words), 8).sum(axis=1, dtype=np.uint8)


def _pack(rows: Rows, center: np.ndarray) -> np.ndarray:
    """Sign bits of ``rows - center`` as uint64 words, one row of words per *word*
    (shape ``(words, n)``), so the distance is a few passes over contiguous arrays."""
    parts = [np.packbits(block > center, axis=1) for block in _blocks(rows)]
    bits = np.concatenate(parts) if parts else np.zeros((0, 0), np.uint8)
    pad = (-bits.shape[1]) % 8
    if pad:
        bits = np.pad(bits, ((0, 0), (0, pad)))
    return np.ascontiguousarray(bits.view(np.uint64).T)


def _mean(rows: Rows) -> np.ndarray:
    total = None
    for block in _blocks(rows):
        part = block.sum(axis=0, dtype=np.float64)
        total = part if total is None else total + part
    return (total / max(len(rows), 1)).astype(np.float32)


class SignCodes:
    """Centred sign bits of a matrix whose rows are only ever appended. ``extend`` codes
    the rows added since; the centre is the mean of the rows present when the codes
    were (re)built, and they are rebuilt once the matrix has doubled since."""

    def __init__(self, matrix: Rows) -> None:
        self.center = _mean(matrix)
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

    def extend(self, matrix: Rows) -> None:
        if len(matrix) <= self.n:
            return
        tail = Grid(matrix.codes[self.n:], matrix.scales[self.n:]) \
            if isinstance(matrix, Grid) else matrix[self.n:]
        new = _pack(tail, self.center)
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


def top_k(matrix: Rows, query: np.ndarray, k: int, mask: np.ndarray | None = None,
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
        rows = np.sort(np.argpartition(dist, r - 1)[:r])  # sorted: reads memory in order
        if mask is not None:
            rows = rows[mask[rows]]
        scores = _dot(matrix, query, rows)
    else:
        scores = _dot(matrix, query)
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
    return to_grid(rows).rows()


def decode_int8(blob: bytes) -> np.ndarray:
    """The inverse of ``encode_int8``."""
    v = np.frombuffer(blob, dtype=np.int8, offset=4).astype(np.float32)
    return v * np.frombuffer(blob, dtype=np.float32, count=1)[0]


def decode_int8_rows(blobs: Sequence[bytes]) -> Grid:
    """``decode_int8`` of many blobs at once, kept on the grid (rows of one length)."""
    if not blobs:
        return Grid(np.zeros((0, 0), np.int8), np.zeros(0, np.float32))
    width = len(blobs[0])
    if any(len(b) != width for b in blobs):
        raise StoreError("stored vectors of one embedding model differ in dimension")
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), width)
    scales = np.ascontiguousarray(raw[:, :4]).view(np.float32)[:, 0]
    return Grid(raw[:, 4:].view(np.int8), scales)


def to_grid(rows: np.ndarray) -> Grid:
    """Float rows on the int8 grid (each row as ``encode_int8`` would store it)."""
    m = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    peak = np.abs(m).max(axis=1).astype(np.float64) if m.size else np.zeros(len(m))
    safe = np.where(peak > 0, peak, 127.0)
    scale = np.where(peak > 0, np.exp2(np.ceil(np.log2(safe / 127.0))), 1.0).astype(np.float32)
    return Grid(np.clip(np.rint(m / scale[:, None]), -127, 127).astype(np.int8), scale)


def vector_columns() -> Columns:
    """Empty columns for a :class:`VectorCache` (fill with :func:`grid_columns`)."""
    return Columns({"id": object, "agent": object, "session": object, "codes": np.int8,
                    "scale": np.float32})


def grid_columns(ids: Sequence[str], agents: Sequence[Any], sessions: Sequence[Any],
                 grid: Grid) -> dict[str, Any]:
    """New rows for ``vector_columns().extend``."""
    return {"id": list(ids), "agent": list(agents), "session": list(sessions),
            "codes": grid.codes, "scale": grid.scales}


@dataclass
class VectorCache:
    """A snapshot of a user's vectors: views of the first rows of ``columns``, which
    later adds extend without touching them. Vectors stay on the int8 grid in memory
    (:class:`Grid`)."""

    model: str
    columns: Columns  # id, agent, session, codes (int8 rows), scale
    signs: SignCodes | None = None  # sign bits of the rows, once the scope is large

    def __post_init__(self) -> None:
        c = self.columns
        self.ids, self.agents, self.sessions = c["id"], c["agent"], c["session"]
        self.grid = Grid(c["codes"], c["scale"])
        self._positions: dict[str, int] | None = None

    def mask(self, scope: Scope, allowed: set[str] | None) -> np.ndarray | None:
        return scope_mask(scope, lambda: self.agents, lambda: self.sessions, self.ids, allowed)

    def positions(self) -> dict[str, int]:
        """Row of each id (built once per snapshot)."""
        if self._positions is None:
            self._positions = {d: i for i, d in enumerate(self.ids)}
        return self._positions

    def in_scope(self, scope: Scope) -> tuple[list[str], np.ndarray]:
        """Ids and unit vectors (float32) of the scope's rows."""
        keep = self.mask(scope, None)
        rows = np.arange(len(self.ids)) if keep is None else np.nonzero(keep)[0]
        if not len(rows):
            return [], np.zeros((0, 1), np.float32)
        return [self.ids[i] for i in rows], self.grid.rows(rows)

    def of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The unit vectors (float32) of those of ``ids`` the snapshot holds."""
        pos = self.positions()
        found = [i for i in ids if i in pos]
        if not found:
            return {}
        rows = self.grid.rows(np.array([pos[i] for i in found]))
        return dict(zip(found, rows))

    def floats(self) -> np.ndarray:
        """The rows as a float32 matrix (kept with the columns and extended with them:
        built once for a scope small enough to be scanned exactly)."""
        mirror = self.columns.derived.setdefault("float_rows", FloatRows())
        return mirror.upto(self.grid)

    def sign_codes(self) -> SignCodes | None:
        """The sign bits of every row once the scope is past ``EXACT_MAX`` (built or
        brought up to date here), else ``None``."""
        if len(self.ids) <= EXACT_MAX:
            return None
        if self.signs is None or self.signs.stale(len(self.ids)):
            self.signs = SignCodes(self.grid)
        self.signs.extend(self.grid)
        return self.signs


def rank(cache: VectorCache, scope: Scope, vector: np.ndarray, limit: int,
         allowed: set[str] | None) -> list[tuple[str, float]]:
    """Cosine similarity of the cached rows in ``scope`` (and ``allowed``) to ``vector``,
    best first: exact up to ``EXACT_MAX`` rows, through sign bits above."""
    if not len(cache.ids):
        return []
    signs = cache.sign_codes()
    rows: Rows = cache.grid if signs is not None else cache.floats()
    hits = top_k(rows, vector.astype(np.float32), limit, cache.mask(scope, allowed), signs)
    return [(cache.ids[i], s) for i, s in hits]


def vectors_to_bytes(cache: VectorCache) -> bytes:
    """A user's cached vectors as one blob of plain arrays (:mod:`.blobs`, no pickle):
    the int8 codes and scales, the ids, and the sign bits of a scope large enough to use
    them (so a fresh process does not build them on its first search). Reads ``cache``
    only: the sign bits are built here, not filed in the cache, when it has none that
    cover every row (a save may run beside a search)."""
    signs = cache.signs
    if len(cache.ids) > EXACT_MAX and (signs is None or signs.n != len(cache.ids)
                                       or signs.stale(len(cache.ids))):
        signs = SignCodes(cache.grid)
    arrays: dict[str, Any] = {
        "codes": cache.grid.codes, "scales": cache.grid.scales,
        "model": np.frombuffer(cache.model.encode(), dtype=np.uint8),
        "meta": blobs.json_array([cache.ids.tolist(), cache.agents.tolist(),
                                 cache.sessions.tolist()])}
    if signs is not None and len(cache.ids) > EXACT_MAX:
        arrays.update(signs.to_arrays())
    return blobs.pack(arrays)


def vectors_from_bytes(blob: bytes) -> VectorCache:
    """The inverse of ``vectors_to_bytes``: the codes stay views of ``blob``."""
    a = blobs.unpack(blob)
    ids, agents, sessions = blobs.json_value(a["meta"])

    def strings(values: list[str]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    codes, scales = a["codes"], a["scales"]
    if codes.dtype != np.int8 or codes.ndim != 2 or scales.shape != (len(codes),) \
            or len(ids) != len(codes) or len(agents) != len(codes) or len(sessions) != len(codes):
        raise ValueError("saved vectors do not fit together")
    columns = Columns.adopt({"id": strings(ids), "agent": strings(agents),
                             "session": strings(sessions), "codes": codes,
                             "scale": scales.astype(np.float32, copy=False)})
    signs = SignCodes.from_arrays(a) if "sign_words" in a else None
    return VectorCache(a["model"].tobytes().decode(), columns, signs)
