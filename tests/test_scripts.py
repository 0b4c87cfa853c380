"""The measuring scripts the docs cite run and print what the docs say they print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from remem import Memory

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cold_start_times_a_first_and_a_second_search(tmp_path: Path) -> None:
    store = tmp_path / "cold.db"
    with Memory(store) as m:
        m.add([{"content": f"note {i} about the trip to Lisbon"} for i in range(30)],
              user_id="scale-0")
    line = _run("scripts/cold_start.py", str(store))
    assert re.fullmatch(r"memories \d+: open \+ model \d+ ms, first search \d+ ms, "
                        r"second \d+ ms\n", line), line
    from remem import HashingEmbedder
    hashed = tmp_path / "hashed.db"
    with Memory(hashed, embedder=HashingEmbedder()) as m:
        m.add([{"content": "a note about Lisbon"}], user_id="u")
    assert _run("scripts/cold_start.py", str(hashed), "u", "--hashing").startswith("memories ")


def test_search_cpu_fills_the_store_once_and_reports_cpu_and_wall(tmp_path: Path) -> None:
    store = tmp_path / "cpu.db"
    out = _run("scripts/search_cpu.py", str(store), "300")
    assert re.fullmatch(r"CPU ms per search: p50 [\d.]+ p95 [\d.]+ mean [\d.]+\n"
                        r"wall ms per search: p50 [\d.]+ p95 [\d.]+ mean [\d.]+\n", out), out
    with Memory(store) as m:
        n = m.store.scope_size("u")
    assert n >= 300
    _run("scripts/search_cpu.py", str(store), "300")  # a second run adds nothing
    with Memory(store) as m:
        assert m.store.scope_size("u") == n


def test_first_searches_separates_users_first_searches_from_later_ones(tmp_path: Path) -> None:
    from remem import HashingEmbedder

    store = tmp_path / "users.db"
    with Memory(store, embedder=HashingEmbedder()) as m:
        for u in range(3):
            m.add([{"content": f"user {u} note {i} about a trip"} for i in range(20)],
                  user_id=f"scale-{u}")
    out = _run("scripts/first_searches.py", str(store), "12", "--hashing")
    lines = out.splitlines()
    assert re.fullmatch(r"first search of a user: n [12] p50 [\d.]+ p95 [\d.]+ ms", lines[0])
    assert re.fullmatch(r"later searches: n 1[01] p50 [\d.]+ p95 [\d.]+ ms", lines[1])
