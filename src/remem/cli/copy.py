"""``remem copy SRC DST``: move a whole store between backends (SQLite file <-> PostgreSQL
DSN) through the stores' export/import records, in chunks, vectors kept as stored (no
embedder runs). Existing ids in DST are skipped, so an interrupted copy can be re-run."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import InvalidInput
from .common import emit

CHUNK = 2000


def is_dsn(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_store(target: str) -> Any:
    """The store at ``target``: a PostgreSQL DSN or a SQLite file path."""
    if is_dsn(target):
        from ..store.postgres import PostgresStore

        return PostgresStore(target)
    from ..store.sqlite import SQLiteStore

    return SQLiteStore(target if target == ":memory:" else Path(target).expanduser())


def _chunks(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def copy_store(src: Any, dst: Any, *, user_id: str | None = None, chunk: int = CHUNK) -> dict[str, int]:
    """Copy every episode, memory (with its vector) and history entry of ``src`` (or of
    one user) into ``dst``, one transaction per chunk. Returns summed import stats."""
    total = {"episodes": 0, "memories": 0, "history": 0, "skipped": 0}
    for batch in _chunks(src.export_records(user_id), chunk):
        for key, n in dst.import_records(batch).items():
            total[key] = total.get(key, 0) + n
    return total


def cmd_copy(args: argparse.Namespace) -> int:
    if args.src == args.dst:
        raise InvalidInput("SRC and DST are the same store")
    if not is_dsn(args.src) and not Path(args.src).expanduser().is_file():
        raise InvalidInput(f"no store at {args.src}")
    src = open_store(args.src)
    try:
        dst = open_store(args.dst)
        try:
            stats = copy_store(src, dst, user_id=args.user, chunk=args.chunk)
        finally:
            dst.close()
    finally:
        src.close()
    row = {"src": getattr(src, "path", args.src), "dst": getattr(dst, "path", args.dst), **stats}
    emit(args, [row], ["src", "dst", "episodes", "memories", "history", "skipped"])
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``copy`` to the ``remem`` subcommands."""
    top = {"parents": [common]} if inspect.ismethod(sub.add_parser) else {}
    sp = sub.add_parser("copy", help="copy a whole store to another (SQLite <-> PostgreSQL)", **top)
    sp.add_argument("src", help="source: store file or postgresql://... DSN")
    sp.add_argument("dst", help="destination: store file or postgresql://... DSN (ids in it are kept)")
    sp.add_argument("--user", "-u", help="copy only this user's records")
    sp.add_argument("--chunk", type=int, default=CHUNK, help=f"records per transaction (default {CHUNK})")
    sp.set_defaults(func=cmd_copy)
