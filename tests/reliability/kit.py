"""Helpers for the reliability tests: child processes that write a real store, and an
independent look at what the store holds (plain sqlite3, not remem's own reads)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[2] / "src")

# A writer: adds batches of turns with caller ids and prints each batch's id once ``add``
# has returned (acknowledged). Metadata carries the batch id and size, so a reader can
# tell whether a batch is whole.  argv: db prefix batches max_size seed
WRITER = r"""
import json, random, sys
from remem import HashingEmbedder, Memory
db, prefix, batches, max_size, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
mem = Memory(db, embedder=HashingEmbedder())
print("ready", flush=True)
for b in range(batches):
    size = rng.randint(1, max_size)
    batch = f"{prefix}b{b}"
    msgs = [{"role": "user", "name": "Ana", "id": f"{batch}t{j}",
             "content": f"Note {j} of {batch}: token {batch}t{j}z and some words about Lisbon "
                        f"and a dog called Pimenta {rng.random()}"} for j in range(size)]
    mem.add(msgs, user_id="crash", session_id=prefix, metadata={"batch": batch, "size": size})
    if b and rng.random() < 0.2:  # re-adding an acknowledged batch is a no-op
        mem.add(last, user_id="crash", session_id=prefix, metadata=last_meta)
    last, last_meta = msgs, {"batch": batch, "size": size}
    print(json.dumps({"batch": batch, "ids": [m["id"] for m in msgs]}), flush=True)
mem.close()
print("done", flush=True)
"""

# A reader: searches and lists until the stop file appears. argv: db stop_file
READER = r"""
import os, sys, time
from remem import HashingEmbedder, Memory
db, stop = sys.argv[1], sys.argv[2]
mem = Memory(db, embedder=HashingEmbedder())
n = 0
while not os.path.exists(stop) or n < 5:
    mem.search("Lisbon dog Pimenta", user_id="crash", limit=5)
    mem.get_all(user_id="crash", limit=50)
    mem.count(user_id="crash")
    n += 1
mem.close()
print(f"reads {n}", flush=True)
"""


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("REMEM_PATH", None)
    return e


def spawn(script: str, *args: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())


def finish(child: subprocess.Popen[str]) -> tuple[str, str]:
    """(stdout, stderr) of a child that was killed or is ending. Reads through the file
    objects, not ``communicate``: that reads the pipes' descriptors directly and would
    drop lines an earlier ``readline`` had already buffered (acknowledgements lost)."""
    assert child.stdout is not None and child.stderr is not None
    with child.stdout, child.stderr:
        out = child.stdout.read()
        err = child.stderr.read()
    child.wait(timeout=30)
    return out, err


def acknowledged(stdout: str) -> dict[str, list[str]]:
    """Batch id -> turn ids of every complete JSON line the writer printed."""
    out: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the kill was never acknowledged
                continue
            out[rec["batch"]] = rec["ids"]
    return out


def integrity(db: Path) -> list[str]:
    """``PRAGMA integrity_check`` and foreign-key check rows, from a fresh connection."""
    con = sqlite3.connect(db, timeout=30)
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
        rows += [f"foreign key: {r}" for r in con.execute("PRAGMA foreign_key_check")]
        return rows
    finally:
        con.close()


def batches(db: Path) -> dict[str, tuple[int, int, int]]:
    """Batch id -> (declared size, episodes stored, turn memories stored)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        eps = con.execute(
            "SELECT json_extract(metadata, '$.batch'), json_extract(metadata, '$.size'), count(*) "
            "FROM episodes GROUP BY 1, 2").fetchall()
        mems = dict(con.execute(
            "SELECT json_extract(metadata, '$.batch'), count(*) FROM memories "
            "WHERE type = 'turn' GROUP BY 1").fetchall())
    finally:
        con.close()
    return {b: (size, n, mems.get(b, 0)) for b, size, n in eps}


def source_counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db, timeout=30)
    try:
        return dict(con.execute(
            "SELECT source_id, count(*) FROM episodes GROUP BY source_id").fetchall())
    finally:
        con.close()


def fingerprint(db: Path | str) -> str:
    """A digest of every row of remem's tables (order-independent of rowid reuse)."""
    con = sqlite3.connect(db, timeout=30)
    h = hashlib.sha256()
    try:
        for table in ("episodes", "memories", "history", "entities", "memory_entities",
                      "scope_versions", "remem_meta"):
            for row in con.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
                h.update(repr(row).encode("utf-8", "surrogatepass"))
            h.update(b"|")
    finally:
        con.close()
    return h.hexdigest()
