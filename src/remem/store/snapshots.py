"""Saved search values (no cold start): when both stores save a user's in-memory search
value (BM25 index, vectors, statistics) for a fresh process or worker to start from.

A value is saved once its scope holds ``SNAPSHOT_MIN`` memories (smaller scopes build
faster than a saved value is read back) and saved again once the scope has grown by a
quarter since (at least 1,000 memories): every save writes the whole value, so saving on
every growth would write a large scope again and again. In between, a process starting
from the saved value brings it up to date the way it brings its own values up to date
(the rows added since appended, changes reconciled or recomputed), which costs at most
the growth since the save."""

from __future__ import annotations

SNAPSHOT_MIN = 10_000  # memories in a scope before its values are saved


def due(memories: int, saved: int | None, minimum: int = SNAPSHOT_MIN) -> bool:
    """Whether a value of a ``memories``-memory scope is to be saved, when the saved one
    described ``saved`` memories (``None``: nothing saved)."""
    return memories >= minimum and (saved is None or memories - saved > max(1000, saved // 4))
