"""The package layout keeps its promise: imports point one way.

    faces (cli, server, bench, client, aio, integrations) -> memory -> pipelines (ingest, search, maintain, transfer,
    answer) -> store (protocol, backends) -> the base (types, config, errors, embed, llm, ...)

Every import of every module under src/remem is read with ``ast`` (module level, inside
functions and under ``TYPE_CHECKING`` alike: a lazy import is still a dependency). The
tests fail on an import cycle among remem modules, on an import from a higher layer, and
on a module importing a private name (``_x``, or anything from a ``_x`` module) from a
module above it: a higher layer, or a package that contains it (``remem.cli.copy`` must
not import ``remem.cli._emit``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import remem

SRC = Path(remem.__file__).parent

# highest first; a module belongs to the first layer one of whose prefixes it matches
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # the package's __init__ is the public surface: it re-exports the clients too
    ("faces", ("remem", "remem.cli", "remem.server", "remem.bench", "remem.client",
               "remem.aio", "remem.integrations")),
    ("memory", ("remem.memory", "remem.lifecycle")),
    # _engine: what the pipelines receive (the store, the embedder, the configs)
    ("pipelines", ("remem.ingest", "remem.search", "remem.maintain", "remem.transfer",
                   "remem.answer", "remem.reembed", "remem._engine")),
    ("store", ("remem.store",)),
]
BASE = "base"  # types, config, errors, _ids, _text, embed, llm
RANK = {name: len(LAYERS) - i for i, (name, _) in enumerate(LAYERS)} | {BASE: 0}

# cycles that exist and have an owner; each must name who removes it
# (none left: server app <-> proxy went with server/errors.py)
KNOWN_CYCLES: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def layer(module: str) -> str:
    for name, prefixes in LAYERS:
        for p in prefixes:
            if module == p or (p != "remem" and module.startswith(p + ".")):
                return name
    return BASE


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported remem module, name taken from it or None, line) for every import."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names
                    if a.name.split(".")[0] == "remem"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "remem":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub, None, node.lineno) if sub in MODULES
                           else (target, a.name, node.lineno))
    return [(t, n, line) for t, n, line in out if t in MODULES]


GRAPH = {m: sorted({t for t, _, _ in imports(m)} - {m}) for m in MODULES}


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for m in sorted(GRAPH):
        if m not in index:
            visit(m)
    return found


def test_the_layout_is_read() -> None:
    assert {"remem", "remem.memory", "remem.cli", "remem.ingest.facts", "remem.maintain",
            "remem.transfer", "remem.answer", "remem.types", "remem.config"} <= set(MODULES)
    assert "remem.ingest.facts" in GRAPH["remem.memory"]
    assert layer("remem.cli.copy") == "faces" and layer("remem.memory") == "memory"
    assert layer("remem.search.pipeline") == "pipelines" and layer("remem.types") == BASE


def test_no_import_cycle() -> None:
    found = [c for c in cycles() if frozenset(c) not in KNOWN_CYCLES]
    assert not found, "import cycles among remem modules:\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_known_cycles_still_exist() -> None:
    """An entry in KNOWN_CYCLES goes as soon as its cycle does."""
    gone = KNOWN_CYCLES - {frozenset(c) for c in cycles()}
    assert not gone, f"remove from KNOWN_CYCLES: {[sorted(c) for c in gone]}"


def _above(importer: str, target: str) -> bool:
    if importer.startswith(target + ".") or (target == "remem" and importer != "remem"):
        return True  # a package that contains the importer
    return RANK[layer(target)] > RANK[layer(importer)]


def test_imports_point_down() -> None:
    """No module imports from a higher layer (public names included)."""
    bad = [f"{MODULES[m].relative_to(SRC.parent)}:{line}: {m} ({layer(m)}) imports "
           f"{target} ({layer(target)})"
           for m in sorted(MODULES) for target, _, line in imports(m)
           if RANK[layer(target)] > RANK[layer(m)]]
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_private_name_from_above() -> None:
    bad = []
    for m in sorted(MODULES):
        for target, name, line in imports(m):
            if not _above(m, target):
                continue
            private_module = any(_private(p) for p in target.split("."))
            if private_module or (name is not None and _private(name)):
                bad.append(f"{MODULES[m].relative_to(SRC.parent)}:{line}: {m} ({layer(m)}) "
                           f"imports {target}{'.' + name if name else ''} ({layer(target)})")
    assert not bad, "private names imported from above:\n" + "\n".join(bad)
