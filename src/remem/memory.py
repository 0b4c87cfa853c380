"""``Memory``: the engine that ties ingest, extraction, the store, the embedder and
retrieval together. Dependencies are injected; nothing is built behind the caller's back
except the documented defaults (SQLite file store, packaged ONNX embedder)."""

from __future__ import annotations

import logging
import os
import threading
import time

from pathlib import Path
from typing import IO, Any, Callable, Mapping, Sequence

import numpy as np

from .ingest import extract, facts, segment
from ._engine import Engine
from ._ids import new_id
from .ingest.normalise import check_id, check_text, normalise_messages, parse_time
from .embed.base import Embedder
from .errors import InvalidInput, NotFound, RememError
from .limits import check_metadata
from .config import ExtractConfig, MaintainConfig, SearchConfig
from .maintain import SUMMARY_TYPES
from .search import pipeline
from .store.protocol import Store
from .store.sqlite import SQLiteStore
from .types import (AddResult, Answer, Episode, HistoryEntry, MaintainReport, MemoryItem,
                    MemoryRecord, Scope, SearchResult)

MAX_LIMIT = 1000
log = logging.getLogger("remem")


def default_path() -> Path | str:
    """``$REMEM_PATH`` if set (a file path or a ``postgresql://`` DSN), else
    ``memory.db`` in the user's data directory."""
    env = os.environ.get("REMEM_PATH")
    if env and env.startswith(("postgresql://", "postgres://")):
        return env
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("remem") / "memory.db"


def _scope(user_id: Any, agent_id: Any, session_id: Any) -> Scope:
    return Scope(
        check_id(user_id, "user_id"),  # type: ignore[arg-type]
        check_id(agent_id, "agent_id", required=False),
        check_id(session_id, "session_id", required=False),
    )


LIST_STATUSES = ("active", "archived", "superseded", "all")


def _list_types(type_: Any) -> tuple[str, ...] | None:
    """``get_all``'s ``type``: None (what was said), "all" (any type), or type names
    (a name, a comma-separated string or a list)."""
    if type_ is None:
        return None
    names = type_.split(",") if isinstance(type_, str) else type_
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or not all(
            isinstance(n, str) and n.strip() for n in names):
        raise InvalidInput("type must be a memory type, a list of them, or 'all'")
    names = tuple(n.strip() for n in names)
    return () if "all" in names else names


def _list_status(status: Any) -> str:
    if status not in LIST_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(LIST_STATUSES)}")
    return str(status)


class Memory:
    """Long-term memory for one application.

    >>> m = Memory(":memory:", embedder=HashingEmbedder())
    >>> m.add("I moved to Lisbon in May", user_id="ana")
    >>> m.search("where does Ana live?", user_id="ana")[0].text
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        embedder: Embedder | str | None = None,
        store: Store | None = None,
        config: SearchConfig | None = None,
        extract_config: ExtractConfig | None = None,
        llm: Any = None,
        llm_batch_turns: int = 40,
    ) -> None:
        if store is not None and path is not None:
            raise InvalidInput("give either path or store, not both")
        if embedder is None:
            from .embed.onnx import OnnxEmbedder

            embedder = OnnxEmbedder()
        elif isinstance(embedder, str):  # "small", "quality", a model directory ...
            from .embed.models import get_embedder

            embedder = get_embedder(embedder)
        if not isinstance(embedder, Embedder):
            raise InvalidInput("embedder must have name, dim and embed(texts)")
        cfg = config or SearchConfig()
        xcfg = extract_config or ExtractConfig()
        if llm is not None and not callable(getattr(llm, "complete", None)):
            raise InvalidInput("llm must have complete(messages, json=...) (remem.llm.LLM)")
        if isinstance(llm_batch_turns, bool) or not isinstance(llm_batch_turns, int) \
                or llm_batch_turns < 1:
            raise InvalidInput("llm_batch_turns must be a positive int")
        if store is None:
            target = default_path() if path is None else path
            if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):
                from .store.postgres import PostgresStore

                store = PostgresStore(target)
            else:
                store = SQLiteStore(target if str(target) == ":memory:" else Path(target))
        # llm is optional: it extracts facts on add (one call per batch of turns)
        self.engine = Engine(store, embedder, cfg, xcfg, llm, llm_batch_turns)
        self._access: dict[str, tuple[int, float]] = {}
        self._access_lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------
    def close(self) -> None:
        flusher = self._flusher
        if flusher is not None:
            flusher.join()
        self._flush_access()
        self.store.close()

    def _note_access(self, ids: Sequence[str]) -> None:
        """Count that searches returned these memories (kept in memory, written in
        batches: access statistics feed forgetting and are not worth a write per read)."""
        now = time.time()
        with self._access_lock:
            for i in ids:
                n, _ = self._access.get(i, (0, now))
                self._access[i] = (n + 1, now)
            if len(self._access) < 256 or (self._flusher and self._flusher.is_alive()):
                return
            # written on a worker thread: a search must not wait for a write transaction
            self._flusher = threading.Thread(target=self._flush_access, daemon=True,
                                             name="remem-access-flush")
            self._flusher.start()

    def _flush_access(self) -> None:
        with self._access_lock:
            pending, self._access = self._access, {}
        if pending and hasattr(self.store, "record_access"):
            try:
                self.store.record_access(pending)
            except RememError as exc:  # statistics only: never fail a read for them
                log.warning("could not record memory accesses: %s", exc)

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the engine's parts, as attributes (config and llm may be replaced on a live Memory)
    @property
    def store(self) -> Store:
        return self.engine.store

    @property
    def embedder(self) -> Embedder:
        return self.engine.embedder

    @property
    def config(self) -> SearchConfig:
        return self.engine.config

    @config.setter
    def config(self, value: SearchConfig) -> None:
        self.engine.config = value

    @property
    def extract_config(self) -> Any:
        return self.engine.extract_config

    @property
    def llm(self) -> Any:
        return self.engine.llm

    @llm.setter
    def llm(self, value: Any) -> None:
        self.engine.llm = value

    @property
    def llm_batch_turns(self) -> int:
        return self.engine.llm_batch_turns

    # -- writes ---------------------------------------------------------------------
    def add(
        self,
        messages: str | Sequence[Mapping[str, Any] | str],
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        timestamp: Any = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AddResult:
        """Store each message verbatim as an episode and derive memories from it.

        ``messages``: a string, or OpenAI-style dicts with ``role``, ``content`` and
        optional ``name`` (speaker), ``id`` (your id for the turn, returned as provenance
        in ``Hit.source_ids``; re-adding the same id with the same content is a no-op)
        and ``timestamp``. One transaction: all of it is stored or none.
        """
        scope = _scope(user_id, agent_id, session_id)
        meta = check_metadata(metadata)
        now = time.time()
        default_time = parse_time(timestamp)
        turns = normalise_messages(messages, default_time if default_time is not None else now)
        episodes: list[Episode] = []
        memories: list[MemoryRecord] = []
        embed_texts: list[str] = []
        times = [t.timestamp if t.timestamp is not None else now for t in turns]
        per_turn = extract.session_candidates(turns, times, self.extract_config)
        for seq, (turn, ts, cands) in enumerate(zip(turns, times, per_turn)):
            ep = Episode(new_id(), scope, turn.role, turn.content, turn.name,
                         turn.source_id, ts, seq, meta)
            episodes.append(ep)
            for cand in cands:
                memories.append(MemoryRecord(
                    id=new_id(), scope=scope, text=cand.text, type=cand.type,
                    source_ids=(turn.source_id or ep.id,), episode_ids=(ep.id,),
                    created_at=now, updated_at=now, event_time=ts, speaker=turn.name,
                    keys=cand.keys, metadata=meta,
                    importance=self.extract_config.role_importance.get(turn.role, 0.5),
                    dates=tuple((m.start.isoformat(), m.end.isoformat(), m.label())
                                for m in cand.dates),
                    entities=cand.entities))
                embed_texts.append(cand.embed_text)
        vectors = self.engine.embed(embed_texts)
        if self.extract_config.segments and len(turns) > 1:
            segs, seg_vecs = segment.segment_memories(scope, memories, vectors, now, meta,
                                                     self.extract_config)
            memories.extend(segs)
            vectors = np.vstack([vectors, *seg_vecs]) if seg_vecs else vectors
        ep_ids, mem_ids, skipped = self.store.add(episodes, memories, vectors, self.embedder.name)
        if self.llm is None:
            return AddResult(tuple(ep_ids), tuple(mem_ids), skipped)
        # facts are extracted after the commit: the raw turns are safe whatever happens
        stored = set(mem_ids)
        rows = [i for i, m in enumerate(memories) if m.type == "turn" and m.id in stored]
        report = facts.extract(self.engine, scope, [memories[i] for i in rows], vectors[rows], now)
        return AddResult(tuple(ep_ids), tuple(mem_ids), skipped, tuple(report.added),
                         report.error)

    def reembed(self, embedder: Embedder | str, *, batch_size: int = 256,
                progress: Callable[[int, int], None] | None = None) -> Any:
        """Give every memory in the store (all users, any status) a vector of ``embedder``
        (an ``Embedder`` or a name such as ``"quality"``), then search with it. Nothing is
        lost: texts stay, each change is in ``history`` (``REEMBED``), and an interrupted
        run continues where it stopped when called again. ``progress(done, total)`` is
        called after each batch. Returns a ``remem.reembed.ReembedReport``."""
        from . import reembed

        if isinstance(embedder, str):
            from .embed.models import get_embedder

            embedder = get_embedder(embedder)
        if not isinstance(embedder, Embedder):
            raise InvalidInput("embedder must have name, dim and embed(texts)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput("batch_size must be a positive int")
        return reembed.run(self.engine, embedder, batch_size=batch_size, progress=progress)

    def update(self, memory_id: str, text: str, *, user_id: str | None = None) -> MemoryItem:
        """Replace a memory's text (re-embedded); the old text stays in ``history``."""
        current = self._get_record(memory_id, user_id)
        text = check_text(text, "text")
        cand = self._rederive(current, text)
        vec = self.engine.embed([cand.embed_text])[0]
        dates = tuple((m.start.isoformat(), m.end.isoformat(), m.label()) for m in cand.dates)
        self.store.update(memory_id, text, cand.keys, vec, self.embedder.name, dates,
                          cand.entities)
        return self.get(memory_id)

    def _rederive(self, current: MemoryRecord, text: str) -> extract.Candidate:
        """Index keys and dates for new text, as ``add`` would have derived them (the
        turn before it in the session gives the listener and context)."""
        said = current.event_time if current.event_time is not None else time.time()
        turns = [extract.Turn("user", text, current.speaker)]
        ctx = self.store.episode_context(current.episode_ids[0]) if current.episode_ids else None
        times = [said]
        if ctx is not None and ctx[1] is not None:
            prev = ctx[1]
            turns.insert(0, extract.Turn(prev["role"], prev["content"], prev["name"]))
            times.insert(0, prev["timestamp"])
        return extract.session_candidates(turns, times, self.extract_config)[-1][0]

    def delete(self, memory_id: str, *, user_id: str | None = None) -> None:
        """Delete one memory (its source episodes stay; the deletion is in ``history``)."""
        self._get_record(memory_id, user_id)
        if self.store.delete(memory_id) is None:
            raise NotFound(f"no memory with id {memory_id!r}")

    def delete_all(self, *, user_id: str, agent_id: str | None = None,
                   session_id: str | None = None) -> int:
        """Delete every memory and episode in the scope. Returns memories deleted."""
        return self.store.delete_scope(_scope(user_id, agent_id, session_id))

    # -- reads ----------------------------------------------------------------------
    def forget_user(self, user_id: str, *, actor: str = "api") -> dict[str, int]:
        """Erase everything of ``user_id``: memories, vectors, entities, episodes and
        history, on every scope of the user (unlike ``delete_all``, which keeps the
        history). Only a tombstone is kept (user id, time, ``actor``, rows per table).
        Returns the rows erased per table."""
        user_id = check_id(user_id, "user_id")  # type: ignore[assignment]
        actor = check_id(actor, "actor")  # type: ignore[assignment]
        self._flush_access()
        return self.store.forget_user(user_id, actor=actor)

    def _get_record(self, memory_id: Any, user_id: str | None) -> MemoryRecord:
        check_id(memory_id, "memory id")
        rec = self.store.get(memory_id)
        if rec is None or (user_id is not None and rec.scope.user_id != user_id):
            raise NotFound(f"no memory with id {memory_id!r}")
        return rec

    def get(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        """The memory with this id; ``NotFound`` if absent (or not ``user_id``'s)."""
        return MemoryItem.from_record(self._get_record(memory_id, user_id))

    def get_all(self, *, user_id: str, agent_id: str | None = None,
                session_id: str | None = None, limit: int = 100, offset: int = 0,
                type: str | Sequence[str] | None = None,
                status: str = "active") -> list[MemoryItem]:
        """A scope's memories in event-time order, paginated. By default what was said
        (turns, and facts an LLM extracted); ``type`` names the types to list instead
        (``"segment"``, ``"summary"``, ``"profile"``, ... or ``"all"``). ``status``:
        ``"active"`` (current), ``"archived"``, ``"superseded"`` or ``"all"``."""
        scope = _scope(user_id, agent_id, session_id)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise InvalidInput("limit must be an int between 1 and 100000")
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < 2**63:
            raise InvalidInput("offset must be an int between 0 and 2**63-1")
        rows = self.store.list(scope, limit=limit, offset=offset, types=_list_types(type),
                               status=_list_status(status))
        return [MemoryItem.from_record(m) for m in rows]

    def count(self, *, user_id: str, agent_id: str | None = None, session_id: str | None = None,
              type: str | Sequence[str] | None = None, status: str = "active") -> int:
        """How many memories ``get_all`` with the same arguments would list in all."""
        return self.store.count(_scope(user_id, agent_id, session_id), types=_list_types(type),
                                status=_list_status(status))

    def history(self, memory_id: str, *, user_id: str | None = None) -> list[HistoryEntry]:
        """Every change to a memory, oldest first (also after it was deleted);
        ``NotFound`` if there is none (or it is not ``user_id``'s)."""
        check_id(memory_id, "memory id")
        entries = self.store.history(memory_id)
        if user_id is not None and any(e.user_id != user_id for e in entries):
            entries = []
        if not entries:
            raise NotFound(f"no history for memory id {memory_id!r}")
        return entries

    def search(
        self,
        query: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        budget_tokens: int | None = None,
        as_of: Any = None,
    ) -> SearchResult:
        """Hybrid search in one scope.

        Lexical (BM25 over text and expanded keys) and dense candidates are fused
        with weighted reciprocal rank fusion, then boosted for people the query names and
        for its time range, and adjacent turns of strong hits may join. Each hit's
        ``explain`` holds every signal's share of its score. The result is a list of hits
        with a ``context`` string; with ``budget_tokens`` the hits are de-duplicated and
        cut to what fits in that many tokens. Superseded memories are left out; with
        ``as_of`` (datetime, ISO string or epoch) only memories valid at that time count."""
        scope = _scope(user_id, agent_id, session_id)
        query = check_text(query, "query")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be an int between 1 and {MAX_LIMIT}")
        if budget_tokens is not None and (isinstance(budget_tokens, bool)
                                          or not isinstance(budget_tokens, int)
                                          or not 1 <= budget_tokens <= 1_000_000):
            raise InvalidInput("budget_tokens must be an int between 1 and 1000000")
        at = parse_time(as_of, "as_of")
        with self.store.pinned(scope.user_id):  # one version check per search (PostgreSQL)
            result = pipeline.search(self.engine, query, scope, limit=limit, filters=filters,
                                     budget_tokens=budget_tokens, at=at)
        self._note_access([h.id for h in result])
        return result

    # -- lifecycle --------------------------------------------------------------------
    def archive(self, memory_id: str, *, user_id: str | None = None,
                reason: str | None = None) -> MemoryItem:
        """Take a memory out of search without deleting it (``restore`` brings it back).
        Recorded in ``history`` as ARCHIVE."""
        self._get_record(memory_id, user_id)
        if reason is not None:
            reason = check_text(reason, "reason")
        self.store.set_status([memory_id], "archived", actor="api", reason=reason)
        return self.get(memory_id)

    def restore(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        """Make an archived memory searchable again (RESTORE in ``history``)."""
        self._get_record(memory_id, user_id)
        self.store.set_status([memory_id], "active", actor="api")
        return self.get(memory_id)

    def supersede(self, old_id: str, new_id: str, *, user_id: str | None = None,
                  at: Any = None) -> MemoryItem:
        """Record that ``new_id`` replaces ``old_id`` (from ``at``, default the new
        memory's time). Both are kept and linked: the old one gets ``valid_to`` and
        ``superseded_by`` and leaves default search; ``search(as_of=...)`` still finds it
        for times it was valid. Returns the old memory."""
        self._get_record(old_id, user_id)
        self._get_record(new_id, user_id)
        if self.store.supersede(old_id, new_id, at=parse_time(at, "at"), actor="api") is None:
            raise NotFound(f"no memory with id {old_id!r} or {new_id!r}")
        return self.get(old_id)

    def maintain(self, user_id: str | None = None, *, config: MaintainConfig | None = None,
                 now: Any = None) -> MaintainReport:
        """LLM-free maintenance of one user (or all): merge near-duplicates, refresh
        session summaries and entity profiles, and, with a forget policy in ``config``
        (``remem.MaintainConfig``), archive what has faded. Every change is in
        ``history``. Returns a ``MaintainReport``."""
        from .maintain import maintain

        if user_id is not None:
            check_id(user_id, "user_id")
        self._flush_access()
        return maintain(self.engine, user_id, config, parse_time(now, "now"))

    def summaries(self, *, user_id: str, kind: str = "summary",
                  session_id: str | None = None) -> list[MemoryItem]:
        """What ``maintain`` wrote for a user, oldest first: ``kind="summary"`` (one per
        session: its most representative turns) or ``"profile"`` (one per person, place
        or thing mentioned often: what was said about it). Not ranked by ``search``
        (measured: ranking them against turns did not raise LoCoMo recall and lowered
        R@2000w by 0.016), so this is how to read them."""
        if kind not in SUMMARY_TYPES:
            raise InvalidInput(f"kind must be one of {', '.join(SUMMARY_TYPES)}")
        scope = _scope(user_id, None, session_id)
        ids = self.store.filter_ids(scope, {"type": kind})
        recs = sorted(self.store.fetch(sorted(ids), scope.user_id),
                      key=lambda m: (m.event_time or 0, m.id))
        return [MemoryItem.from_record(m) for m in recs]

    def answer(self, question: str, *, user_id: str, llm: Any, agent_id: str | None = None,
               session_id: str | None = None, budget_tokens: int = 1500) -> Answer:
        """Retrieve and pack memories for ``question``, ask ``llm`` (any ``remem.llm.LLM``)
        and return an ``Answer`` citing the caller's turn ids. If the LLM fails or answers
        nothing usable, ``Answer.text`` is None and the retrieved context is still there."""
        from .answer import answer

        result = self.search(question, user_id=user_id, agent_id=agent_id,
                             session_id=session_id, limit=50, budget_tokens=budget_tokens)
        return answer(question, result, llm=llm)

    # -- export / import ------------------------------------------------------------
    def export(self, path: str | os.PathLike[str] | IO[str], *,
               user_id: str | None = None) -> dict[str, int]:
        """Write episodes, memories (with vectors) and history as JSON lines. Returns how
        many of each were written: ``{"episodes": .., "memories": .., "history": ..}``.
        A path is written atomically (temp file + rename)."""
        from .transfer import export

        return export(self.engine, path, user_id)

    def import_(self, path: str | os.PathLike[str] | IO[str], *,
                progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Read a file written by ``export``. Every line is validated first; one bad line
        (reported with its number) imports nothing. Existing ids are skipped. Memories
        embedded by another model are re-embedded with this one (``progress(done, total)``
        is called as they are)."""
        from .transfer import import_

        return import_(self.engine, path, progress)
