"""Saved search values of the PostgreSQL store (``search_snapshots``, schema migration 6):
a large scope's BM25 index, vectors and statistics, so a fresh worker starts from them
(``caches._current``) instead of reading and indexing every memory of the user again.

When (``..snapshots.due``): once the scope holds ``snapshot_min`` memories, again when it
grew by a quarter. A value to save is encoded and written by a background thread, after
the search that made it: the search does not wait for ~100 MB to be written, and the
thread encodes whatever entry the worker holds by then, with the version, mutation count
and highest row id it is filed under.

Never behind the rows it claims, never after an erasure: the thread writes only while the
user's scope has the mutation count the entry is filed under (checked after taking a
shared advisory lock on the user), and ``forget_user`` / ``delete_scope`` delete the
user's saved values after their erasure committed, under the same lock taken exclusively.
So a save that checked before the erasure committed has committed before that delete
runs, and one that checks after it sees the new mutation count and writes nothing. The
lock is only ever tried (``pg_try_advisory_xact_lock_shared``): a save never waits for it
and writers of memories never wait for a save.

Loading is the cost of a fresh worker's first search (~100 MB at 100k memories), so
inside a search (``pinned``, which reads the kinds saved with the version: a user with
none costs no query) the first saved value asked for sends two threads to fetch and
decode the others meanwhile: the vectors arrive while the BM25 index is decoded and
searched. What the search did not ask for is dropped when it ends."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from ..snapshots import due

log = logging.getLogger("remem")
LOCK_CLASS = 0x72656D73  # first key of the per-user advisory lock (second: hashtext(user))

_LOAD = ("SELECT version, mutations, max_rid, memories, data FROM search_snapshots "
         "WHERE user_id=%s AND kind=%s")
Loaded = tuple[int, int, int, Any]  # version, mutations, memories, value
_SAVE = ("INSERT INTO search_snapshots(user_id, kind, version, mutations, max_rid, memories, "
         "data) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, kind) DO UPDATE SET "
         "version = excluded.version, mutations = excluded.mutations, max_rid = "
         "excluded.max_rid, memories = excluded.memories, data = excluded.data "
         "WHERE search_snapshots.version <= excluded.version")


@dataclass(frozen=True)
class Codec:
    """How one kind of value is saved: ``encode(value)`` gives (blob, highest row id the
    value holds); ``decode(blob, that row id)`` the value again (raises when it cannot)."""

    encode: Callable[[Any], tuple[bytes, int]]
    decode: Callable[[bytes, int], Any]


class PgSnapshotMixin:
    """Loading and saving of ``PostgresStore``'s search values."""

    _pool: Any
    _pg: Any
    _cache_lock: threading.RLock
    _values: dict[tuple[str, str], tuple[int, int, Any]]
    _recent: Any
    snapshot_min: int
    # (kind, user) -> memories in the scope when it was last saved or loaded here
    _saved: dict[tuple[str, str], int]
    _jobs: dict[tuple[str, str], Codec]  # values to save, oldest first
    _jobs_cv: threading.Condition
    _saver: threading.Thread | None
    _closing: bool
    _pins: threading.local
    _preloads: dict[tuple[str, str], "Future[Loaded | None]"]
    _preloader: ThreadPoolExecutor | None

    def _codec_for(self, kind: str) -> Codec | None:
        """The codec of a kind of saved value (``None``: not one this version saves)."""
        raise NotImplementedError

    def _load_saved(self, conn: Any, kind: str, user_id: str,
                    codec: Codec) -> tuple[int, int, Any] | None:
        """The user's saved ``kind`` value as an entry (version, mutations, value), or
        ``None`` when none is saved or it cannot be read (the caller builds it then).
        Caller holds ``_cache_lock``."""
        future = self._preloads.pop((kind, user_id), None)
        if future is not None:
            loaded = future.result()
        elif user_id not in self._pins.__dict__.get("users", {}):
            loaded = self._decoded(kind, user_id, conn.execute(
                _LOAD, (user_id, kind), binary=True).fetchone(), codec)
        else:  # in a search: the kinds saved were read with the version (``pinned``)
            kinds = self._pins.__dict__["kinds"][user_id]
            loaded = None
            if kind in kinds:
                kinds.discard(kind)
                for other in list(kinds):  # the others load meanwhile
                    if (other, user_id) in self._values or self._preload(other, user_id):
                        kinds.discard(other)
                loaded = self._decoded(kind, user_id, conn.execute(
                    _LOAD, (user_id, kind), binary=True).fetchone(), codec)
        if loaded is None:
            return None
        version, mutations, memories, value = loaded
        self._saved[(kind, user_id)] = memories
        return version, mutations, value

    @staticmethod
    def _decoded(kind: str, user_id: str, row: Any, codec: Codec) -> Loaded | None:
        if row is None:
            return None
        version, mutations, max_rid, memories, data = row
        try:
            value = codec.decode(bytes(data), int(max_rid))
        except Exception as exc:  # written by another version? Build it afresh
            log.info("saved %s of user %r unreadable (%s): building it", kind, user_id, exc)
            return None
        return int(version), int(mutations), int(memories), value

    def _preload(self, kind: str, user_id: str) -> bool:
        """Fetch and decode a saved value on another thread (``_load_saved`` takes it);
        whether that started."""
        codec = self._codec_for(kind)
        # (the search waiting for it holds a connection and the cache lock, and nothing
        # that holds a connection waits for that lock: with three, the two loading
        # threads always get theirs)
        if (kind, user_id) in self._preloads:
            return True
        if codec is None or self._pool.max_size < 3:
            return False
        if self._preloader is None:
            self._preloader = ThreadPoolExecutor(2, thread_name_prefix="remem-load")

        def load() -> Loaded | None:
            with self._pool.connection() as conn:
                row = conn.execute(_LOAD, (user_id, kind), binary=True).fetchone()
            return self._decoded(kind, user_id, row, codec)

        self._preloads[(kind, user_id)] = self._preloader.submit(load)
        return True

    def _search_done(self, user_id: str) -> None:
        """A search of the user ended: what was fetched for it and not asked for goes,
        and the values it made that are due are saved now (not while it ran: the saving
        thread encodes under the cache lock the search needs)."""
        with self._cache_lock:
            for key in [k for k in self._preloads if k[1] == user_id]:
                self._preloads.pop(key).cancel()
        self._pins.__dict__.get("kinds", {}).pop(user_id, None)
        deferred = self._pins.__dict__.pop("saves", {})
        if deferred:
            self._queue(deferred)

    def _maybe_save(self, kind: str, user_id: str, codec: Codec) -> None:
        """Save the user's ``kind`` value when the scope is large and has grown since
        the saved one (``..snapshots.due``): once the search ends, if this is one.
        Caller holds ``_cache_lock``."""
        memories = self._recent.get(user_id, 0)
        if not due(memories, self._saved.get((kind, user_id)), self.snapshot_min):
            return
        self._saved[(kind, user_id)] = memories
        if user_id in self._pins.__dict__.get("users", {}):
            self._pins.__dict__.setdefault("saves", {})[(kind, user_id)] = codec
        else:
            self._queue({(kind, user_id): codec})

    def _queue(self, jobs: dict[tuple[str, str], Codec]) -> None:
        with self._jobs_cv:
            if self._closing:
                return
            self._jobs.update(jobs)
            if self._saver is None:
                self._saver = threading.Thread(target=self._save_loop, daemon=True,
                                               name="remem-snapshots")
                self._saver.start()
            self._jobs_cv.notify()

    def _save_loop(self) -> None:
        while True:
            with self._jobs_cv:
                while not self._jobs and not self._closing:
                    self._jobs_cv.wait()
                if not self._jobs:
                    return
                key = next(iter(self._jobs))
                codec = self._jobs.pop(key)
            try:
                self._save(*key, codec)
            except Exception as exc:  # best effort: the next growth tries again
                log.warning("saving the search %s of user %r failed: %s", key[0], key[1], exc)

    def _save(self, kind: str, user_id: str, codec: Codec) -> None:
        with self._cache_lock:  # the entry as held now, encoded as it is filed
            entry = self._values.get((kind, user_id))
            if entry is None:  # dropped since (least recently used, or erased)
                self._saved.pop((kind, user_id), None)
                return
            version, mutations, value = entry
            memories = self._saved.get((kind, user_id), 0)
            blob, max_rid = codec.encode(value)
        with self._pool.connection() as conn, conn.transaction():
            locked = conn.execute("SELECT pg_try_advisory_xact_lock_shared(%s::int, "
                                  "hashtext(%s))", (LOCK_CLASS, user_id)).fetchone()[0]
            row = conn.execute("SELECT mutations FROM scope_versions WHERE user_id=%s",
                               (user_id,)).fetchone() if locked else None
            if row is None or int(row[0]) != mutations:  # being erased, or changed since
                self._unsaved(kind, user_id)  # try again with the next value
                return
            conn.execute("SET LOCAL lock_timeout = '1s'")  # another worker saving it
            conn.execute(_SAVE, (user_id, kind, version, mutations, max_rid, memories, blob))

    def _unsaved(self, kind: str, user_id: str) -> None:
        with self._cache_lock:
            self._saved.pop((kind, user_id), None)

    def _drop_saved(self, user_id: str) -> None:
        """Delete the user's saved values (after an erasure committed: see the module
        docstring) and forget what this worker meant to save."""
        with self._cache_lock:
            for key in [k for k in self._saved if k[1] == user_id]:
                del self._saved[key]
        with self._jobs_cv:
            for key in [k for k in self._jobs if k[1] == user_id]:
                del self._jobs[key]
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s::int, hashtext(%s))",
                         (LOCK_CLASS, user_id))
            conn.execute("DELETE FROM search_snapshots WHERE user_id=%s", (user_id,))

    def _stop_saving(self, timeout: float = 60.0) -> None:
        """Finish the queued saves (up to ``timeout`` seconds), then stop the thread."""
        with self._jobs_cv:
            self._closing = True
            self._jobs_cv.notify()
            saver = self._saver
        if saver is not None:
            saver.join(timeout)
        if self._preloader is not None:
            self._preloader.shutdown(wait=True, cancel_futures=True)
