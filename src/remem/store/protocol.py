"""The store seam: what ``Memory``, the pipelines and the server ask of storage, by role.

- ``RecordStore``: durable episodes, memories, vectors and history; every write is one
  transaction that also writes its history entries (lifecycle writes too).
- ``CandidateStore``: what search ranks with, always within one scope: lexical and dense
  candidates, the term statistics query pruning needs, the entity graph, neighbours.
- ``InspectStore``: reads for the server beyond the engine (who owns an id, the web
  inspector's views, size on disk).

``Store`` is all three: what ``SQLiteStore`` and ``PostgresStore`` implement, and what
the contract suite (tests/store/) checks on both. Every read takes a ``Scope`` or an id
(which the caller then checks against the scope it may see); there is no unscoped search.
"""

from __future__ import annotations

from dataclasses import dataclass
from contextlib import AbstractContextManager
from typing import Any, Iterator, Mapping, Protocol, Sequence

import numpy as np

from ..types import Episode, HistoryEntry, MemoryRecord, Scope

Row = tuple[Any, ...]


@dataclass(frozen=True)
class QueryTerms:
    """What a lexical search looks for (built by ``remem.search.terms``): index terms
    (``remem._text.tokens`` folded and ``stem``-med, as the SQLite store indexes text), and
    the query words they came from, for a store that analyses text its own way."""

    terms: tuple[str, ...]
    words: tuple[str, ...]


class RecordStore(Protocol):
    """Durable home of episodes, memories, vectors and history."""

    path: str  # where the store lives (a file, ":memory:", or a DSN without its password)

    def add(self, episodes: Sequence[Episode], memories: Sequence[MemoryRecord],
            vectors: np.ndarray | None, embed_model: str,
            actor: str = "api") -> tuple[list[str], list[str], int]:
        """Store all in one transaction (history entries name ``actor``). Episodes whose
        caller id is already stored with the same content are skipped with their
        memories (other content: ``InvalidInput``). Returns (episode ids in input order,
        new memory ids, skipped count)."""
        ...

    def get(self, memory_id: str) -> MemoryRecord | None: ...

    def fetch(self, memory_ids: Sequence[str], user_id: str | None = None) -> list[MemoryRecord]:
        """Records for ids in order (missing left out); with ``user_id`` only that user's."""
        ...

    def list(self, scope: Scope, *, limit: int, offset: int, types: Sequence[str] | None = (),
             status: str = "active") -> list[MemoryRecord]:
        """The scope's memories in event-time order: of these ``types`` (``()``: any;
        ``None``: all but the derived ones, ``sql.DERIVED_TYPES``), with this ``status``
        (``active``: current; ``archived``; ``superseded``; ``all``)."""
        ...

    def count(self, scope: Scope, *, types: Sequence[str] | None = (),
              status: str = "active") -> int: ...

    def update(self, memory_id: str, text: str, keys: str, vector: np.ndarray | None,
               embed_model: str, dates: Sequence[Sequence[str]] = (),
               entities: Sequence[str] = ()) -> MemoryRecord | None:
        """Replace text, index keys, dates, entities and vector; segments built from a
        changed turn are dropped in the same transaction. Returns the old record."""
        ...

    def delete(self, memory_id: str, *, actor: str = "api",
               detail: Mapping[str, Any] | None = None) -> MemoryRecord | None: ...

    def delete_scope(self, scope: Scope) -> int:
        """Delete the scope's memories and episodes (history stays), and the user's
        entities no remaining memory mentions. Returns the memories deleted."""
        ...

    def forget_user(self, user_id: str, *, actor: str = "api") -> dict[str, int]:
        """Erase every row of the user (memories, vectors, entity links, episodes,
        history, entities), leaving only a tombstone (who, when, by whom, how many rows),
        and leave no copy in the store's files. Returns rows erased per table."""
        ...

    def history(self, memory_id: str) -> list[HistoryEntry]: ...

    def episode_context(self, episode_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """An episode and the one before it in its session: (episode, previous or None)."""
        ...

    def export_records(self, user_id: str | None) -> Iterator[dict[str, Any]]: ...

    def import_records(self, records: Sequence[dict[str, Any]]) -> dict[str, int]: ...

    def set_status(self, memory_ids: Sequence[str], status: str, *, actor: str = "api",
                   reason: str | None = None) -> list[str]:
        """Archive ("archived") or restore ("active"); returns the ids that changed."""
        ...

    def merge(self, keep_id: str, drop_ids: Sequence[str], *,
              actor: str = "api") -> MemoryRecord | None: ...

    def supersede(self, old_id: str, new_id: str, *, at: float | None = None,
                  actor: str = "api") -> tuple[MemoryRecord, MemoryRecord] | None: ...

    def record_access(self, accesses: Mapping[str, tuple[int, float]]) -> None:
        """``{id: (count, at)}``: access counts and last access (no history)."""
        ...

    def user_ids(self) -> list[str]: ...

    def embed_rows(self, user_id: str,
                   embed_model: str) -> list[tuple[MemoryRecord, np.ndarray | None]]:
        """Every memory of the user (any status, insertion order) with its vector when
        ``embed_model`` made it, else None (``Memory.reembed`` reads with it)."""
        ...

    def set_vectors(self, items: Sequence[tuple[str, np.ndarray]], embed_model: str, *,
                    actor: str = "reembed") -> int:
        """Replace these memories' vectors by ``embed_model``'s in one transaction
        (history: ``REEMBED``, old and new model in ``detail``); how many changed."""
        ...

    def close(self) -> None: ...


class CandidateStore(Protocol):
    """What search ranks with, within one scope (active, ranked memories only)."""

    def lexical(self, scope: Scope, terms: QueryTerms, limit: int,
                allowed: set[str] | None = None,
                keys_weight: float = 0.5) -> list[tuple[str, float]]:
        """Text and expanded keys (weighted ``keys_weight``) ranked for the terms: (id,
        score), best first; only ids in ``allowed`` when given."""
        ...

    def pinned(self, user_id: str) -> AbstractContextManager[None]:
        """A block (one search) whose reads of the user may all answer from the scope
        version seen on entry: a store that checks a version per read checks it once.
        Writes from anywhere before the block are seen inside it."""
        ...

    def doc_freqs(self, scope: Scope, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(memories in the lexical index the scope is ranked in, in how many of them each
        term occurs); ``(0, {})`` from a store without term statistics."""
        ...

    def dense(self, scope: Scope, vector: np.ndarray, embed_model: str, limit: int,
              allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Cosine similarity to ``vector``: (id, score), best first."""
        ...

    def vectors(self, scope: Scope, embed_model: str) -> tuple[list[str], np.ndarray]: ...

    def vectors_of(self, user_id: str, ids: Sequence[str],
                   embed_model: str) -> dict[str, np.ndarray]: ...

    def filter_ids(self, scope: Scope, filters: Mapping[str, Any]) -> set[str]: ...

    def neighbours(self, memory_ids: Sequence[str], window: int = 1) -> dict[str, list[str]]: ...

    def turns_of(self, episode_ids: Sequence[str]) -> dict[str, str]: ...

    def scope_size(self, user_id: str) -> int: ...

    def speakers(self, user_id: str) -> list[str]: ...

    def entity_stats(self, user_id: str) -> dict[str, tuple[int, int]]:
        """Entity key -> (entity id, active memories mentioning it)."""
        ...

    def entity_links(self, scope: Scope, seed_ids: Sequence[int], max_degree: int,
                     limit: int = 2000) -> list[tuple[str, int]]: ...


class InspectStore(Protocol):
    """Reads the server needs beyond the engine (see ``remem.store.inspect``). (PostgreSQL
    also tells its ``size_bytes``; an SQLite store's size is its files'.)"""

    def memory_owner(self, memory_id: str) -> str | None:
        """The user id of a live memory, or of a deleted one (from its history)."""
        ...

    def user_summaries(self, prefix: str, limit: int, offset: int) -> tuple[list[Row], int]: ...

    def entity_list(self, user_id: str, q: str | None, limit: int,
                    offset: int) -> tuple[list[Row], int]: ...

    def entity_detail(self, user_id: str, entity_id: int, limit: int,
                      offset: int) -> tuple[Row, list[str], list[Row]] | None: ...

    def episode_windows(self, user_id: str, episode_ids: Sequence[str], window: int,
                        max_span: int) -> list[tuple[str, str, list[Row], bool, bool]]: ...


class Store(RecordStore, CandidateStore, InspectStore, Protocol):
    """The whole seam: what both built-in stores implement."""
