"""The Store seam. The engine (``remem.Memory``) talks to storage only through this."""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Protocol, Sequence

import numpy as np

from ..types import Episode, HistoryEntry, MemoryRecord, Scope


class Store(Protocol):
    """Durable home of episodes, memories, vectors and history.

    Every read takes a ``Scope`` (or an id, which the caller then checks against the
    scope it is allowed to see); there is no unscoped search.
    """

    def add(
        self,
        episodes: Sequence[Episode],
        memories: Sequence[MemoryRecord],
        vectors: np.ndarray | None,
        embed_model: str,
        actor: str = "api",
    ) -> tuple[list[str], list[str], int]:
        """Store all in one transaction (history entries name ``actor``). Episodes whose caller id is already stored with
        the same content are skipped with their memories. Returns (episode ids in input
        order, new memory ids, skipped count)."""
        ...

    def get(self, memory_id: str) -> MemoryRecord | None: ...

    def fetch(self, memory_ids: Sequence[str], user_id: str | None = None) -> list[MemoryRecord]:
        """Records for ids in order; with ``user_id`` only that user's (may be cached)."""
        ...

    def list(self, scope: Scope, *, limit: int, offset: int) -> list[MemoryRecord]: ...

    def count(self, scope: Scope) -> int: ...

    def update(
        self, memory_id: str, text: str, keys: str, vector: np.ndarray | None, embed_model: str,
        dates: Sequence[Sequence[str]] = (), entities: Sequence[str] = (),
    ) -> MemoryRecord | None:
        """Replace text, index keys, dates and vector; segments built from a changed turn
        are dropped in the same transaction."""
        ...

    def delete(self, memory_id: str, *, actor: str = "api",
               detail: Mapping[str, Any] | None = None) -> MemoryRecord | None: ...

    def delete_scope(self, scope: Scope) -> int: ...

    def history(self, memory_id: str) -> list[HistoryEntry]: ...

    def memory_owner(self, memory_id: str) -> str | None:
        """The user id of a live memory, or of a deleted one (from its history)."""
        ...

    def lexical(
        self, scope: Scope, query: str, limit: int, allowed: set[str] | None = None,
        keys_weight: float = 0.5, max_df: float | None = None, prune_min_rows: int = 2000,
        max_postings: int | None = None,
    ) -> list[tuple[str, float]]:
        """BM25 over text and expanded keys within the scope for the words of ``query``
        (free text; the store tokenizes it): (id, score), best first;
        ``max_df`` and ``max_postings`` let a store drop very common query terms in large
        indexes."""
        ...

    def vectors(self, scope: Scope, embed_model: str) -> tuple[list[str], np.ndarray]: ...

    def filter_ids(self, scope: Scope, filters: Mapping[str, Any]) -> set[str]: ...

    def export_records(self, user_id: str | None) -> Iterator[dict[str, Any]]: ...

    def import_records(self, records: Sequence[dict[str, Any]]) -> dict[str, int]: ...

    def close(self) -> None: ...


class LifecycleStore(Store, Protocol):
    """A store that can also archive, merge and supersede (both built-in stores can).
    Every method is one transaction that writes its history entries too."""

    def set_status(self, memory_ids: Sequence[str], status: str, *, actor: str = "api",
                   reason: str | None = None) -> list[str]: ...

    def merge(self, keep_id: str, drop_ids: Sequence[str], *,
              actor: str = "api") -> MemoryRecord | None: ...

    def supersede(self, old_id: str, new_id: str, *, at: float | None = None,
                  actor: str = "api") -> tuple[MemoryRecord, MemoryRecord] | None: ...

    def record_access(self, accesses: Mapping[str, tuple[int, float]]) -> None: ...

    def user_ids(self) -> list[str]: ...
