"""Every CLI command is in docs/cli.md and every REST route in docs/ (as ``METHOD /path``,
with the path as the OpenAPI document writes it), and the docs' relative links resolve."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from remem.cli import build_parser

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def _docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(" ".join((*prefix, name)))
                out.extend(_commands(sub, (*prefix, name)))
    return out


def test_every_cli_command_is_documented() -> None:
    commands = _commands(build_parser())
    assert {"add", "search", "serve", "keys create", "bench scale"} <= set(commands)
    cli = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [c for c in commands if f"`remem {c}" not in cli]
    assert not missing, f"not in docs/cli.md (as `remem COMMAND ...`): {missing}"


def test_every_rest_route_is_documented() -> None:
    pytest.importorskip("fastapi")
    from remem import HashingEmbedder, Memory
    from remem.server import Settings, create_app

    with Memory(":memory:", embedder=HashingEmbedder(dim=32)) as mem:
        app = create_app(mem, Settings(auth=False))
        spec = app.openapi()
        mounts = [r.path for r in app.routes if not hasattr(r, "methods")]  # /ui, /mcp
    routes = [f"{method.upper()} {path}" for path, item in spec["paths"].items()
              for method in item]
    assert len(routes) > 20 and "POST /v1/search" in routes
    docs = _docs()
    missing = [r for r in routes if not re.search(re.escape(r) + r"(?![\w/{])", docs)]
    missing += [m for m in mounts if f"`{m}`" not in docs]
    assert not missing, f"not in docs/: {missing}"


def test_links_between_docs_resolve() -> None:
    broken = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.name}: {target}")
    assert not broken, broken
