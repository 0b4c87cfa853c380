"""``remem`` command line. Thin: build a ``Memory``, call it, print JSON lines (default)
or readable tables (``--plain``). Library errors become ``error: ...`` and exit code 1.

This module holds the parser and ``main``; the commands live below it (``memories``,
``bench``, ``backup``, ``copy``, ``lifecycle``, ``model``, and the server's in ``remem.server.commands``),
with what they share in ``common``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence

from ..errors import RememError
from . import backup, bench, copy, lifecycle, model
from .memories import (cmd_add, cmd_delete, cmd_demo, cmd_export, cmd_history, cmd_import,
                       cmd_list, cmd_search, cmd_show, cmd_update)

__all__ = ["build_parser", "main"]


# -- parser ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="remem", description="Long-term memory for LLM agents.")
    p.add_argument("--db", default=None, help="store file (default: $REMEM_PATH or the user data dir)")
    p.add_argument("--embedder", default=os.environ.get("REMEM_EMBEDDER", "onnx"),
                   help="onnx/small (packaged MiniLM, default), quality (all-mpnet-base-v2, "
                   "after `remem model install quality`), hashing (tests) or a model directory")
    p.add_argument("--plain", action="store_true", help="readable tables instead of JSON lines")
    # the same options are accepted after the command too (``remem search ... --plain``)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--embedder", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--plain", action="store_true", default=argparse.SUPPRESS,
                        help="readable tables instead of JSON lines")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add = sub.add_parser

    def add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        return _add(name, parents=[common], **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    def scoped(sp: argparse.ArgumentParser, required: bool = True) -> None:
        sp.add_argument("--user", "-u", required=required, help="user_id scope")
        sp.add_argument("--agent", help="agent_id scope")
        sp.add_argument("--session", help="session_id scope")

    sp = sub.add_parser("add", help="remember text or a JSON list of messages")
    sp.add_argument("text", nargs="*", help="text of one message")
    scoped(sp)
    sp.add_argument("--file", "-f", help="JSON list of OpenAI-style messages ('-' for stdin)")
    sp.add_argument("--role", default="user")
    sp.add_argument("--speaker", help="speaker name of the message")
    sp.add_argument("--id", help="your id for this turn (returned as provenance)")
    sp.add_argument("--timestamp", help="ISO-8601 time the turn happened")
    sp.add_argument("--metadata", help="JSON object stored with the memories")
    sp.set_defaults(func=cmd_add)

    sp = sub.add_parser("search", help="hybrid search in a user's memories")
    sp.add_argument("query", nargs="+")
    scoped(sp)
    sp.add_argument("--limit", "-n", type=int, default=10)
    sp.add_argument("--filters", help='JSON object, e.g. {"type": "turn"}')
    sp.add_argument("--explain", action="store_true", help="show score parts in --plain output")
    sp.add_argument("--budget", type=int, help="keep only hits that fit in this many tokens")
    sp.add_argument("--context", action="store_true",
                    help="print the packed, chronological context text instead of hits")
    sp.add_argument("--ids", action="store_true", help="print only the memory ids, one a line")
    sp.set_defaults(func=cmd_search)

    sp = sub.add_parser("list", help="list a user's memories in time order")
    scoped(sp)
    sp.add_argument("--limit", "-n", type=int, default=100)
    sp.add_argument("--offset", type=int, default=0)
    sp.add_argument("--type", "-t", help="memory types to list, comma-separated, or 'all' "
                    "(default: what was said; not segments, summaries, profiles)")
    sp.add_argument("--status", choices=["active", "archived", "superseded", "all"],
                    default="active", help="current memories (default), archived ones "
                    "(`maintain --forget`, `archive`), superseded ones, or all")
    sp.add_argument("--ids", action="store_true", help="print only the memory ids, one a line")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("show", help="one memory with its history")
    sp.add_argument("id")
    sp.add_argument("--user", "-u", help="only if it belongs to this user")
    sp.set_defaults(func=cmd_show)

    sp = sub.add_parser("history", help="every change to a memory, also after it was deleted")
    sp.add_argument("id")
    sp.add_argument("--user", "-u", help="only if it belongs to this user")
    sp.set_defaults(func=cmd_history)

    sp = sub.add_parser("update", help="replace a memory's text (old text kept in history)")
    sp.add_argument("id")
    sp.add_argument("text", nargs="+")
    sp.add_argument("--user", "-u", help="only if it belongs to this user")
    sp.set_defaults(func=cmd_update)

    sp = sub.add_parser("delete", help="delete a memory, or --all of a scope")
    sp.add_argument("id", nargs="?")
    sp.add_argument("--all", action="store_true", help="delete everything in the --user scope")
    scoped(sp, required=False)
    sp.set_defaults(func=cmd_delete)

    sp = sub.add_parser("export", help="write memories as JSON lines")
    sp.add_argument("path", help="file to write, '-' for stdout")
    sp.add_argument("--user", "-u", help="only this user")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("import", help="read a file written by export")
    sp.add_argument("path", help="file to read, '-' for stdin")
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("demo", help="ingest a bundled sample conversation and search it")
    sp.add_argument("--limit", "-n", type=int, default=3)
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("bench", help="benchmarks")
    bsub = sp.add_subparsers(dest="bench", required=True, metavar="BENCH")
    b = bsub.add_parser("locomo", parents=[common], help="evidence recall on LoCoMo-format data")
    b.add_argument("data", help="LoCoMo JSON file or folder of them")
    b.add_argument("--limit", type=int, default=100, help="hits asked per question")
    b.add_argument("--store", help="store file or postgresql://... DSN of an empty database "
                   "(default: a temporary file)")
    b.add_argument("--out", help="also write the JSON result here")
    b.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a search/extract setting, e.g. neighbour_factor=0 or dense=0")
    b.add_argument("--tune", action="store_true",
                   help="coordinate-ascent search of retrieval settings on this data")
    b.add_argument("--ablate", action="store_true",
                   help="run with each retrieval mechanism switched off in turn")
    b.add_argument("--llm", metavar="BASE_URL",
                   help="extract facts with this OpenAI-compatible endpoint (e.g. "
                        "http://localhost:11434/v1) and report LLM calls and tokens")
    b.add_argument("--llm-model", default="gpt-4o-mini", help="model name for --llm")
    b.add_argument("--llm-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the --llm API key (may be unset)")
    b.add_argument("--maintain", action="store_true",
                   help="run `remem maintain` (dedupe, summaries, profiles) before asking")
    b.set_defaults(func=bench.cmd_bench_locomo)
    b = bsub.add_parser("scale", parents=[common], help="ingest rate and search latency vs size")
    b.add_argument("--sizes", default="1000,5000,10000",
                   help="comma-separated turn counts in the measured user scope")
    b.add_argument("--users", type=int, default=1, help="spread turns over this many users")
    b.add_argument("--queries", type=int, default=200, help="searches timed at each size")
    b.add_argument("--batch", type=int, default=50, help="turns per add call")
    b.add_argument("--store", help="store file or postgresql://... DSN of an empty database "
                   "(default: a temporary file)")
    b.add_argument("--out", help="also write the JSON result here")
    b.add_argument("--no-plot", action="store_true",
                   help="with --out, do not write the PNG plot next to the JSON")
    b.set_defaults(func=bench.cmd_bench_scale)
    from ..server import commands as server_commands

    server_commands.register(sub, common)
    backup.register(sub, common)
    copy.register(sub, common)
    lifecycle.register(sub, common)
    model.register(sub, common)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error; keep the exit flush quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except RememError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, UnicodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
