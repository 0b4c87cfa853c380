"""Online backup and restore of an SQLite store.

``backup`` copies a live store with SQLite's online backup API from its own read
connection: one read transaction, so the copy is a consistent snapshot (every write
committed before it started, nothing after, nothing half-done) while other connections
and processes keep writing (WAL: readers do not block writers). The copy is written to a
temporary file next to the destination, checked (``PRAGMA integrity_check``, the FTS5
index of stores before schema 5, the remem schema version), switched to a self-contained rollback-journal file and
only then renamed into place.

``restore`` checks a backup the same way before it touches the destination. A new
destination is created by rename; an existing one (``overwrite=True``) is replaced in one
SQLite transaction through the backup API, so other connections never see a mix. Scope
versions are moved past the old store's, so a process that had the old store open drops
its caches instead of serving stale vectors.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ...errors import InvalidInput, MigrationError, StoreError
from . import schema as _sqlite_schema


@dataclass(frozen=True)
class BackupInfo:
    """What ``backup`` wrote or ``restore`` restored."""

    path: str
    bytes: int
    schema_version: int
    episodes: int
    memories: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "schema_version": self.schema_version,
                "episodes": self.episodes, "memories": self.memories,
                "seconds": round(self.seconds, 3)}


_DSN = ("postgresql://", "postgres://")


def _target(dest: str | os.PathLike[str], overwrite: bool, what: str) -> Path:
    if isinstance(dest, str) and dest.startswith(_DSN):
        raise InvalidInput(f"{what} must be an SQLite file; for PostgreSQL use pg_restore "
                           "or `remem copy backup.db DSN`")
    path = Path(dest).expanduser()
    if path.is_dir():
        raise InvalidInput(f"{what} {path} is a directory; give a file path")
    if path.exists() and not overwrite:
        raise InvalidInput(f"{what} {path} already exists (overwrite it with --force / overwrite=True)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create directory for {path}: {exc}") from exc
    return path


def _schema_version(db: sqlite3.Connection, name: str) -> int:
    """The remem schema version of an open database; ``InvalidInput`` if it is none."""
    try:
        row = db.execute("SELECT value FROM remem_meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{name} is not a remem store ({exc})") from None
    if row is None:
        raise InvalidInput(f"{name} is not a remem store (no schema version)")
    try:
        version = int(row[0])
    except ValueError:
        raise InvalidInput(f"{name} is not a remem store (bad schema version {row[0]!r})") from None
    if version > len(_sqlite_schema.MIGRATIONS):
        raise MigrationError(f"{name} has schema version {version}, newer than this remem "
                             f"supports ({len(_sqlite_schema.MIGRATIONS)}); upgrade remem")
    return version


def _check(db: sqlite3.Connection, name: str, *, fts: bool = True) -> tuple[int, int, int]:
    """Integrity check, remem schema and (on a copy we own: it is a write statement) the
    FTS5 index (schemas 1-4; schema 5 has none); returns (schema version, episodes,
    memories)."""
    try:
        rows = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{name} is not an SQLite database ({exc})") from None
    if rows != ["ok"]:
        raise StoreError(f"{name} failed the integrity check: {'; '.join(map(str, rows[:5]))}")
    version = _schema_version(db, name)
    try:
        if fts and 1 <= version < 5:  # schema 5 has no FTS index
            db.execute("INSERT INTO memories_fts(memories_fts) VALUES ('integrity-check')")
        episodes = db.execute("SELECT count(*) FROM episodes").fetchone()[0]
        memories = db.execute("SELECT count(*) FROM memories").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{name} failed the integrity check: {exc}") from exc
    return version, episodes, memories


@contextmanager
def _connect(path: Path | str, *, busy_timeout: float = 30.0) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        yield db
    finally:
        db.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_checked(copy_into: Any, tmp: Path, name: str, bump_from: int = 0) -> tuple[int, int, int]:
    """Fill the empty file ``tmp`` with ``copy_into(conn)``, check it, optionally move its
    scope versions past ``bump_from``, and leave it as one self-contained file."""
    with _connect(tmp) as db:
        copy_into(db)
        info = _check(db, name)
        if bump_from:
            db.execute("UPDATE scope_versions SET version = version + ?, "
                       "mutations = mutations + ?", (bump_from, bump_from))
        mode = db.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        if str(mode).lower() != "delete":
            raise StoreError(f"cannot switch {tmp} to a rollback journal (got {mode})")
    _fsync(tmp)
    return info


def _temp_beside(path: Path, prefix: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".db")
    os.close(fd)
    return Path(tmp)


def _unlink_all(tmp: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _source(source: Any) -> tuple[str, Any]:
    """(path, in-process store or None) of what ``backup`` was given."""
    from .store import SQLiteStore

    store = getattr(source, "store", source)
    if isinstance(store, SQLiteStore):
        return str(store.path), store
    if isinstance(source, str) and source.startswith(_DSN):
        raise InvalidInput("backup copies SQLite stores; for PostgreSQL use pg_dump "
                           "or `remem copy DSN backup.db`")
    if isinstance(source, (str, os.PathLike)):
        return str(Path(source).expanduser()), None
    raise InvalidInput(f"backup needs a Memory on an SQLite store, an SQLiteStore or a store "
                       f"path, got {type(source).__name__}")


def backup(source: Any, dest: str | os.PathLike[str], *, overwrite: bool = False) -> BackupInfo:
    """Copy the store behind ``source`` (a ``Memory``, an ``SQLiteStore`` or a store file
    path) to ``dest`` as a consistent snapshot while writers continue. The copy is checked
    before it is renamed into place; an existing ``dest`` is replaced only with
    ``overwrite=True``."""
    t0 = time.perf_counter()
    path, store = _source(source)
    target = _target(dest, overwrite, "backup destination")
    if path != ":memory:":
        src = Path(path)
        if src.is_dir() or not src.exists():
            raise InvalidInput(f"no store at {src}")
        if src.resolve() == target.resolve():
            raise InvalidInput("backup destination is the store itself")
    tmp = _temp_beside(target, ".remem-backup-")
    try:
        if path == ":memory:":  # only the owning connection can read it
            def copy_into(dst: sqlite3.Connection) -> None:
                with store._lock:
                    _schema_version(store._db, "the store")
                    store._db.backup(dst)
        else:
            def copy_into(dst: sqlite3.Connection) -> None:
                try:
                    with _connect(path) as src_db:
                        _schema_version(src_db, f"store {path}")
                        # one step (pages=-1): one read transaction, a consistent snapshot
                        src_db.backup(dst, pages=-1)
                except sqlite3.DatabaseError as exc:
                    raise StoreError(f"cannot back up store {path}: {exc}") from exc
        version, episodes, memories = _copy_checked(copy_into, tmp, "the backup copy")
        os.replace(tmp, target)
        _sync_dir(target.parent)
    except BaseException:
        _unlink_all(tmp)
        raise
    return BackupInfo(str(target), target.stat().st_size, version, episodes, memories,
                      time.perf_counter() - t0)


def restore(src_backup: str | os.PathLike[str], dest_store_path: str | os.PathLike[str], *,
            overwrite: bool = False) -> BackupInfo:
    """Restore a backup written by ``backup`` to ``dest_store_path``. The backup is
    checked first (integrity, remem schema); an existing store is replaced only with
    ``overwrite=True``, in one transaction. Nothing is changed if a check fails."""
    t0 = time.perf_counter()
    src = Path(src_backup).expanduser()
    if src.is_dir():
        raise InvalidInput(f"backup {src} is a directory; give a file path")
    if not src.exists():
        raise InvalidInput(f"no backup at {src}")
    target = _target(dest_store_path, overwrite, "restore destination")
    if target.exists() and src.resolve() == target.resolve():
        raise InvalidInput("restore source and destination are the same file")
    # read the backup without ever writing to it (a read-only connection)
    uri = src.resolve().as_uri() + "?mode=ro"
    bump = 0
    if target.exists():
        with _connect(target) as live:
            try:
                live.execute("PRAGMA schema_version").fetchone()
                row = live.execute("SELECT max(version), max(mutations) FROM scope_versions"
                                   ).fetchone() if _has_table(live, "scope_versions") else None
            except sqlite3.DatabaseError as exc:
                raise InvalidInput(f"restore destination {target} is not an SQLite database; "
                                   f"remove it first ({exc})") from None
            bump = 1 + max(row[0] or 0, row[1] or 0) if row else 0
    tmp = _temp_beside(target, ".remem-restore-")
    try:
        def copy_into(dst: sqlite3.Connection) -> None:
            try:
                src_db = sqlite3.connect(uri, uri=True, isolation_level=None)
            except sqlite3.Error as exc:
                raise InvalidInput(f"cannot read backup {src}: {exc}") from None
            try:
                _check(src_db, f"backup {src}", fts=False)
                src_db.backup(dst, pages=-1)
            except sqlite3.DatabaseError as exc:
                raise InvalidInput(f"backup {src} is not a remem store ({exc})") from None
            finally:
                src_db.close()

        version, episodes, memories = _copy_checked(copy_into, tmp, f"backup {src}", bump)
        size = tmp.stat().st_size
        if target.exists():
            # into the live file through SQLite: one transaction other connections respect
            with _connect(tmp) as checked, _connect(target) as live:
                try:
                    checked.backup(live, pages=-1)
                    ok = live.execute("PRAGMA quick_check").fetchone()[0]
                except sqlite3.DatabaseError as exc:
                    raise StoreError(f"cannot restore into {target}: {exc}") from exc
                if ok != "ok":
                    raise StoreError(f"{target} failed the check after restore: {ok}")
            _unlink_all(tmp)
        else:
            os.replace(tmp, target)
            _sync_dir(target.parent)
    except BaseException:
        _unlink_all(tmp)
        raise
    return BackupInfo(str(target), size, version, episodes, memories, time.perf_counter() - t0)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                      (name,)).fetchone() is not None
