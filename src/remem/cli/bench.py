"""``remem bench locomo`` and ``remem bench scale``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .common import emit, load_embedder


def _llm(args: argparse.Namespace) -> Any:
    """The ``--llm`` client of a bench run, or None."""
    if not getattr(args, "llm", None):
        return None
    from ..llm import OpenAIChat

    return OpenAIChat(args.llm_model, base_url=args.llm, api_key=os.environ.get(args.llm_key_env))


def cmd_bench_locomo(args: argparse.Namespace) -> int:
    import tempfile

    from .progress import Progress
    from ..bench import locomo
    from ..memory import Memory

    from ..bench import ablate

    convs = locomo.load(args.data)
    embedder = load_embedder(args.embedder)
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
        emit(args, rows, list(rows[0]))
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

    from .progress import Progress
    from ..bench import scale
    from ..memory import Memory

    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise InvalidInput(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    embedder = load_embedder(args.embedder)
    with tempfile.TemporaryDirectory(prefix="remem-scale-") as tmp:
        path = args.store or os.path.join(tmp, "scale.db")
        result = scale.run(lambda: Memory(path, embedder=embedder), sizes=sizes,
                           users=args.users, queries=args.queries, batch=args.batch,
                           progress=Progress("scale"))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
        if not args.no_plot:
            from ..bench.plot import plot_scale

            png = plot_scale(result, Path(args.out).with_suffix(".png"))
            print(f"plot: {png}", file=sys.stderr)
    print(scale.format_plain(result) if args.plain else json.dumps(result))
    return 0
