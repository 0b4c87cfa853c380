"""The server's two seams, checked on its source: routes reach memories only through
``TenantMemory`` (the tenant rule lives in ``tenancy.py`` alone), and every interface
(/v1, /ui's calls, /mcp) checks keys through ``auth.authenticate``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import remem.server

SERVER = Path(remem.server.__file__).parent
# tenancy.py is the seam; commands.py opens the store for the CLI (serve, mcp)
BEHIND_THE_SEAM = {"tenancy.py", "commands.py"}
# names through which a module could reach a Memory, its store or its engine
REACH = {"store", "engine", "_memory", "_engine"}
# the tenant rule: mapping user ids in and out and checking ownership
RULE = {"inner", "outer", "outer_dict", "owns", "prefix", "check_memory"}
# helpers from below the seam that hold no data (auth.py shows a DSN without its password)
HELPERS = {"redact", "private_dirs", "private_file"}  # pure helpers, no memories


def _modules() -> list[Path]:
    return sorted(p for p in SERVER.glob("*.py") if p.name not in BEHIND_THE_SEAM)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _call_name(node: ast.AST | None) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            return True
    return False


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_routes_reach_memories_only_through_tenant_memory(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    parents = _parents(tree)
    bad = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.level == 2 and \
                (node.module or "").split(".")[0] in ("memory", "store", "_engine") \
                and not _type_checking_only(node, parents) \
                and not {a.name for a in node.names} <= HELPERS:
            bad.append(f"{where} imports remem.{node.module}")
        if isinstance(node, ast.Name) and node.id == "memory" and isinstance(node.ctx, ast.Load):
            # the Memory itself may only be handed to TenantMemory (or, in app.py, its
            # store's location to the key table: key_store_for(memory.store))
            parent = parents.get(node)
            if _call_name(parent) == "TenantMemory":
                continue
            if isinstance(parent, ast.Attribute) and parent.attr == "store" \
                    and _call_name(parents.get(parent)) == "key_store_for":
                continue
            bad.append(f"{where} uses the Memory directly")
        if isinstance(node, ast.Attribute) and node.attr in REACH:
            if node.attr == "store" and isinstance(node.value, ast.Name) \
                    and node.value.id == "memory":
                continue  # judged above
            bad.append(f"{where} reaches .{node.attr}")
        if isinstance(node, ast.Attribute) and node.attr in RULE:
            bad.append(f"{where} applies the tenant rule itself (.{node.attr})")
    assert not bad, "\n".join(bad)


def test_keys_are_verified_in_one_place() -> None:
    """Only ``auth.authenticate`` calls ``KeyStore.verify``; app.py (/v1, /ui) and mcp.py
    (/mcp) both call it."""
    verifying, authenticating = set(), set()
    for path in SERVER.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                name = _call_name(node)
                if name == "verify":
                    verifying.add(f"{path.name}:{fn.name}")
                elif name == "authenticate":
                    authenticating.add(path.name)
    assert verifying == {"auth.py:authenticate"}
    assert authenticating == {"app.py", "mcp.py"}


def test_no_import_cycle_between_server_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in SERVER.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        deps = graph.setdefault(path.stem, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(a.name for a in node.names)
    names = set(graph)

    def visit(mod: str, path: list[str]) -> None:
        for dep in sorted(graph.get(mod, set()) & names):
            assert dep not in path, "import cycle: " + " -> ".join([*path, dep])
            visit(dep, [*path, dep])

    for mod in sorted(names):
        visit(mod, [mod])
