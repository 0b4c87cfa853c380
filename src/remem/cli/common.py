"""What every ``remem`` command shares: opening the store with the chosen embedder and
printing rows as JSON lines (default) or a readable table (``--plain``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import InvalidInput


def load_embedder(name: str) -> Any:
    """``small``/``onnx`` (the packaged default), ``quality``, ``hashing[-DIM]`` or a model
    directory (``remem.embed.models.get_embedder``)."""
    from ..embed.models import get_embedder

    return get_embedder(name)


def open_memory(args: argparse.Namespace) -> Any:
    from ..memory import Memory, default_path

    if args.db is None and not os.environ.get("REMEM_PATH"):
        path = default_path()
        if isinstance(path, Path) and not path.exists():  # said once: when it is created
            print(f"remem: storing memories in {path} (choose with --db FILE or "
                  "REMEM_PATH)", file=sys.stderr)
    return Memory(args.db, embedder=load_embedder(args.embedder))


def emit(args: argparse.Namespace, rows: Sequence[dict[str, Any]], plain_cols: Sequence[str]) -> None:
    if not args.plain:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    if not rows:
        print("(nothing)")
        return
    print(table(rows, plain_cols))


def table(rows: Sequence[dict[str, Any]], cols: Sequence[str]) -> str:
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


def parse_json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc.msg}") from None
