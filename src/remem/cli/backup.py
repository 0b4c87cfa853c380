"""The ``backup`` and ``restore`` CLI commands (store operations that need no embedder)."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

from .common import emit


def _store_path(args: argparse.Namespace) -> str:
    if args.db:
        return args.db if args.db.startswith(("postgresql://", "postgres://")) \
            else str(Path(args.db).expanduser())
    from ..memory import default_path

    return str(default_path())


def cmd_backup(args: argparse.Namespace) -> int:
    from ..store.sqlite.backup import backup

    info = backup(_store_path(args), args.dest, overwrite=args.force)
    emit(args, [info.to_dict()], ["path", "bytes", "episodes", "memories", "seconds"])
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from ..store.sqlite.backup import restore

    info = restore(args.src, _store_path(args), overwrite=args.force)
    emit(args, [info.to_dict()], ["path", "bytes", "episodes", "memories", "seconds"])
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``backup`` and ``restore`` to the ``remem`` subcommands."""
    # the remem parser wraps sub.add_parser to add ``common`` itself; a plain one needs it passed
    top = {"parents": [common]} if inspect.ismethod(sub.add_parser) else {}

    sp = sub.add_parser("backup", help="copy the store to DEST while writes continue", **top)
    sp.add_argument("dest", help="backup file to write (checked, then renamed into place)")
    sp.add_argument("--force", action="store_true", help="overwrite DEST if it exists")
    sp.set_defaults(func=cmd_backup)

    sp = sub.add_parser("restore", help="replace the store with a backup written by backup",
                        **top)
    sp.add_argument("src", help="backup file to restore (checked first)")
    sp.add_argument("--force", action="store_true",
                    help="overwrite the store if it exists (restart servers using it)")
    sp.set_defaults(func=cmd_restore)
