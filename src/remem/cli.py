"""``remem`` command line. Thin: build a ``Memory``, call it, print JSON lines (default)
or readable tables (``--plain``). Library errors become ``error: ...`` and exit code 1."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from .errors import InvalidInput, RememError


def _embedder(name: str) -> Any:
    if name == "onnx":
        from .embed.onnx import OnnxEmbedder

        return OnnxEmbedder()
    m = re.fullmatch(r"hashing(?:-(\d+))?", name)
    if m:
        from .embed.hashing import HashingEmbedder

        return HashingEmbedder(int(m.group(1) or 256))
    raise InvalidInput(f"unknown embedder {name!r} (choose onnx, hashing or hashing-DIM)")


def _open(args: argparse.Namespace) -> Any:
    from .memory import Memory

    return Memory(args.db, embedder=_embedder(args.embedder))


def _emit(args: argparse.Namespace, rows: Sequence[dict[str, Any]], plain_cols: Sequence[str]) -> None:
    if not args.plain:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    if not rows:
        print("(nothing)")
        return
    print(_table(rows, plain_cols))


def _table(rows: Sequence[dict[str, Any]], cols: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}"
        if isinstance(v, (list, tuple)):
            return ",".join(map(str, v))
        if isinstance(v, dict):
            return " ".join(f"{k}={cell(x)}" for k, x in v.items())
        return "" if v is None else " / ".join(str(v).splitlines())

    width = {c: min(70, max(len(c), *(len(cell(r.get(c))) for r in rows))) for c in cols}
    out = ["  ".join(c.upper().ljust(width[c]) for c in cols)]
    for r in rows:
        out.append("  ".join(cell(r.get(c))[: width[c]].ljust(width[c]) for c in cols).rstrip())
    return "\n".join(out)


def _parse_json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc.msg}") from None


# -- commands --------------------------------------------------------------------------
def cmd_add(args: argparse.Namespace) -> int:
    if args.file:
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        messages = _parse_json(raw, f"messages file {args.file}")
    else:
        if not args.text:
            raise InvalidInput("give the text to remember, or --file with a JSON list of messages")
        msg: dict[str, Any] = {"role": args.role, "content": " ".join(args.text)}
        if args.speaker:
            msg["name"] = args.speaker
        if args.id:
            msg["id"] = args.id
        messages = [msg]
    with _open(args) as mem:
        result = mem.add(messages, user_id=args.user, agent_id=args.agent, session_id=args.session,
                         timestamp=args.timestamp, metadata=_parse_json(args.metadata, "--metadata"))
    _emit(args, [result.to_dict()], ["episode_ids", "memory_ids", "skipped"])
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        hits = mem.search(" ".join(args.query), user_id=args.user, agent_id=args.agent,
                          session_id=args.session, limit=args.limit,
                          filters=_parse_json(args.filters, "--filters"),
                          budget_tokens=args.budget)
    if args.context:
        print(hits.context)
        return 0
    rows = [h.to_dict() for h in hits]
    cols = ["score", "speaker", "event_time", "text", "source_ids"]
    if args.explain:
        cols.append("explain")
    if args.plain:
        for r in rows:
            if r["event_time"]:
                r["event_time"] = r["event_time"][:16].replace("T", " ")
    _emit(args, rows, cols)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        items = mem.get_all(user_id=args.user, agent_id=args.agent, session_id=args.session,
                            limit=args.limit, offset=args.offset)
    _emit(args, [i.to_dict() for i in items], ["id", "session_id", "speaker", "text", "source_ids"])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        row = mem.get(args.id, user_id=args.user).to_dict()
        row["history"] = [
            {"event": h.event, "old_text": h.old_text, "new_text": h.new_text,
             "at": h.at.isoformat(), "actor": h.actor} for h in mem.history(args.id)]
    if args.plain:
        for k, v in row.items():
            if k != "history":
                print(f"{k:>12}: {v}")
        print(_table(row["history"], ["at", "event", "old_text", "new_text"]))
    else:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        item = mem.update(args.id, " ".join(args.text), user_id=args.user)
    _emit(args, [item.to_dict()], ["id", "text", "updated_at"])
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        if args.all:
            if not args.user:
                raise InvalidInput("delete --all needs --user")
            n = mem.delete_all(user_id=args.user, agent_id=args.agent, session_id=args.session)
            _emit(args, [{"deleted": n, "user_id": args.user}], ["deleted", "user_id"])
            return 0
        if not args.id:
            raise InvalidInput("give a memory id, or --all --user USER")
        mem.delete(args.id, user_id=args.user)
    _emit(args, [{"deleted": 1, "id": args.id}], ["deleted", "id"])
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        if args.path == "-":
            mem.export(sys.stdout, user_id=args.user)
            return 0
        n = mem.export(args.path, user_id=args.user)
    print(json.dumps({"exported": n, "path": args.path}), file=sys.stderr if args.plain else sys.stdout)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        from ._progress import Progress

        stats = mem.import_(sys.stdin if args.path == "-" else args.path,
                            progress=Progress("re-embedding"))
    _emit(args, [stats], list(stats))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Ingest the bundled sample conversation into a store and answer sample questions."""
    sample = json.loads(resources.files("remem").joinpath("data/sample.json").read_text("utf-8"))
    user = sample["user_id"]
    with _open(args) as mem:
        t0 = time.perf_counter()
        turns = 0
        for s in sample["sessions"]:
            r = mem.add(s["messages"], user_id=user, session_id=s["session_id"], timestamp=s["timestamp"])
            turns += len(s["messages"])
        dt = time.perf_counter() - t0
        print(f"remem demo: stored {turns} turns for user {user!r} in {dt * 1000:.0f} ms "
              f"(store: {mem.store.path}, embedder: {mem.embedder.name})\n")
        for q in sample["queries"]:
            t0 = time.perf_counter()
            hits = mem.search(q, user_id=user, limit=args.limit)
            ms = (time.perf_counter() - t0) * 1000
            print(f"? {q}   ({ms:.1f} ms)")
            for h in hits:
                when = h.event_time.strftime("%Y-%m-%d") if h.event_time else "?"
                who = f"{h.speaker}: " if h.speaker else ""
                text = " / ".join(h.text.splitlines())
                print(f"   {h.score:.4f}  [{when}] {who}{text}  <- {','.join(h.source_ids)}")
            print()
    del r
    return 0


def _llm(args: argparse.Namespace) -> Any:
    """The ``--llm`` client of a bench run, or None."""
    if not getattr(args, "llm", None):
        return None
    from .llm import OpenAIChat

    return OpenAIChat(args.llm_model, base_url=args.llm, api_key=os.environ.get(args.llm_key_env))


def cmd_bench_locomo(args: argparse.Namespace) -> int:
    import tempfile

    from ._progress import Progress
    from .bench import locomo
    from .memory import Memory

    from .bench import ablate

    convs = locomo.load(args.data)
    embedder = _embedder(args.embedder)
    base = ablate.parse_sets(args.set or [])
    ablate.configs(base)  # validate before any work

    def run_once(overrides: Any, progress: Any = None) -> dict[str, Any]:
        search_cfg, extract_cfg = ablate.configs(overrides)
        with tempfile.TemporaryDirectory(prefix="remem-bench-") as tmp:
            path = args.store or os.path.join(tmp, "bench.db")
            return locomo.run(
                lambda: Memory(path, embedder=embedder, config=search_cfg,
                               extract_config=extract_cfg, llm=_llm(args)),
                convs, limit=args.limit, progress=progress, maintain=args.maintain)

    if args.tune:
        # ingest once; search-time settings are tried against the same store
        embedder = ablate.CachedEmbedder(embedder)
        search_cfg, extract_cfg = ablate.configs(base)
        with tempfile.TemporaryDirectory(prefix="remem-tune-") as tmp:
            mem = Memory(os.path.join(tmp, "tune.db"), embedder=embedder,
                         extract_config=extract_cfg)
            turns = sum(len(s.turns) for c in convs for s in c.sessions)
            spent = locomo.ingest(mem, convs)

            def evaluate(overrides: Any) -> dict[str, Any]:
                mem.config = ablate.configs(overrides)[0]
                per_q, lat = locomo.ask(mem, convs, limit=args.limit)
                return locomo.summarise(per_q, lat, turns, spent)

            best, score = ablate.tune(evaluate, base, log=lambda m: print(m, file=sys.stderr))
            result = evaluate(best)
            mem.close()
        result["tuned"] = {"settings": best, "objective": round(score, 4)}
        print(json.dumps(result["tuned"]) if not args.plain else
              f"best settings: {best} objective {score:.4f}\n" + locomo.format_plain(result))
        return 0
    if args.ablate:
        embedder = ablate.CachedEmbedder(embedder)
        rows = ablate.ablate(run_once, base)
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=2))
        _emit(args, rows, list(rows[0]))
        return 0
    result = run_once(base, Progress("locomo"))
    result["config"] = {"data": str(args.data), "embedder": embedder.name, "limit": args.limit,
                        "settings": base, "conversations": [c.sample_id for c in convs]}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    print(locomo.format_plain(result) if args.plain else json.dumps(result))
    return 0


def cmd_bench_scale(args: argparse.Namespace) -> int:
    import tempfile

    from ._progress import Progress
    from .bench import scale
    from .memory import Memory

    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise InvalidInput(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    embedder = _embedder(args.embedder)
    with tempfile.TemporaryDirectory(prefix="remem-scale-") as tmp:
        path = args.store or os.path.join(tmp, "scale.db")
        result = scale.run(lambda: Memory(path, embedder=embedder), sizes=sizes,
                           users=args.users, queries=args.queries, batch=args.batch,
                           progress=Progress("scale"))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
        if not args.no_plot:
            from .bench.plot import plot_scale

            png = plot_scale(result, Path(args.out).with_suffix(".png"))
            print(f"plot: {png}", file=sys.stderr)
    print(scale.format_plain(result) if args.plain else json.dumps(result))
    return 0


# -- parser ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="remem", description="Long-term memory for LLM agents.")
    p.add_argument("--db", default=None, help="store file (default: $REMEM_PATH or the user data dir)")
    p.add_argument("--embedder", default=os.environ.get("REMEM_EMBEDDER", "onnx"),
                   help="onnx (packaged MiniLM, default) or hashing (tests)")
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
    sp.set_defaults(func=cmd_search)

    sp = sub.add_parser("list", help="list a user's memories in time order")
    scoped(sp)
    sp.add_argument("--limit", "-n", type=int, default=100)
    sp.add_argument("--offset", type=int, default=0)
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("show", help="one memory with its history")
    sp.add_argument("id")
    sp.add_argument("--user", "-u", help="only if it belongs to this user")
    sp.set_defaults(func=cmd_show)

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
    b.set_defaults(func=cmd_bench_locomo)
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
    b.set_defaults(func=cmd_bench_scale)
    from .server import commands as server_commands

    server_commands.register(sub, common)
    from . import _cli_copy, _cli_lifecycle, _cli_ops

    _cli_ops.register(sub, common)
    _cli_copy.register(sub, common)
    _cli_lifecycle.register(sub, common)
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


if __name__ == "__main__":
    sys.exit(main())
