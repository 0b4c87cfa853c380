"""Per-user columns held in memory by the stores' search caches (the BM25 index's rows,
the vectors), the mask that confines them to a scope, and the rule that bounds how many
users' caches a process keeps."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Sequence

import numpy as np

from ..types import Scope


def least_recent(recent: "OrderedDict[str, int]", user_id: str, budget: int) -> list[str]:
    """Mark ``user_id`` (whose memory count the caller has just set in ``recent``) as used
    most recently, then take out of ``recent`` the least recently used other users while
    the memories held exceed ``budget``; returns them, whose caches the caller drops."""
    recent.move_to_end(user_id)
    total = sum(recent.values())
    dropped: list[str] = []
    while total > budget and len(recent) > 1:
        user, n = next(iter(recent.items()))
        if user == user_id:
            break
        del recent[user]
        total -= n
        dropped.append(user)
    return dropped


def scope_mask(scope: Scope, agents: Callable[[], np.ndarray],
               sessions: Callable[[], np.ndarray], ids: Sequence[str],
               allowed: set[str] | None) -> np.ndarray | None:
    """Which rows of a user's in-memory index lie in ``scope`` (agent, session) and in
    ``allowed``; ``None`` when all do. ``agents``/``sessions`` give the per-row values
    (called only when the scope names them)."""
    mask = None
    if scope.agent_id is not None:
        mask = agents() == scope.agent_id
    if scope.session_id is not None:
        m2 = sessions() == scope.session_id
        mask = m2 if mask is None else mask & m2
    if allowed is not None:
        m3 = np.fromiter((i in allowed for i in ids), bool, len(ids))
        mask = m3 if mask is None else mask & m3
    return mask


class Columns:
    """Append-only columns in numpy arrays with spare capacity: unlike lists and dicts
    of 100k entries, arrays are not walked by Python's garbage collector. A column may
    hold rows of several values (a vector per row): its width is taken from the first
    rows added. Views handed out earlier keep their rows: appends go to spare capacity
    or to a new, larger array."""

    def __init__(self, dtypes: dict[str, Any]) -> None:
        self.n = 0
        self._data = {k: np.empty(0, dtype=dt) for k, dt in dtypes.items()}
        # values computed from the rows that grow with them (an owner's business, e.g.
        # the dense cache's float32 rows): shared by every snapshot of these columns
        self.derived: dict[str, Any] = {}

    def extend(self, columns: dict[str, Any]) -> None:
        m = len(next(iter(columns.values())))
        need = self.n + m
        for name, values in columns.items():
            data = self._data[name]
            values = np.asarray(values, dtype=data.dtype)
            if need > len(data) or (not self.n and data.shape[1:] != values.shape[1:]):
                # an eighth spare at least (a first bulk load), half as much again later
                size = max(need + need // 8 + 64, len(data) * 3 // 2)
                grown = np.empty((size, *values.shape[1:]), dtype=data.dtype)
                if self.n:
                    grown[:self.n] = data[:self.n]
                data = self._data[name] = grown
            data[self.n:need] = values
        self.n = need

    @classmethod
    def adopt(cls, columns: dict[str, np.ndarray]) -> "Columns":
        """Columns made of these arrays as they are (no copy; the first append grows)."""
        out = cls({})
        out._data = dict(columns)
        out.n = len(next(iter(columns.values()))) if columns else 0
        return out

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name][:self.n]
