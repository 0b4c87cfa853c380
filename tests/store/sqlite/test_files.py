"""Issue 15, item 3: a new store, its -wal and -shm, the directories remem creates for it
(the default data directory too) and a key store made by ``remem keys create`` are
readable by their owner only; opening a store others can read warns."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from remem import HashingEmbedder, Memory


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> object:
    old = os.umask(0o022)  # the usual default: files 0644, directories 0755
    yield
    os.umask(old)


def test_new_store_files_are_0600_and_new_directories_0700(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "m.db"
    with Memory(db, embedder=HashingEmbedder()) as m:
        m.add("my secret is kiwi", user_id="u")
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{db}{suffix}")
            assert p.exists() and _mode(p) == 0o600, (p, oct(_mode(p)))
    assert _mode(tmp_path / "a") == 0o700 and _mode(tmp_path / "a" / "b") == 0o700
    assert _mode(db) == 0o600


def test_default_data_directory_is_0700(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("REMEM_PATH", None)
    code = ("import os; os.umask(0o022); from remem import Memory, HashingEmbedder; "
            "m = Memory(embedder=HashingEmbedder()); m.add('x', user_id='u'); "
            "print(m.store.path); m.close()")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path.is_relative_to(tmp_path), path
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700, (oct(_mode(path)),
                                                                   oct(_mode(path.parent)))


def test_keys_create_makes_a_private_store(tmp_path: Path) -> None:
    db = tmp_path / "keys" / "server.db"
    out = subprocess.run([sys.executable, "-m", "remem.cli", "--db", str(db), "keys", "create",
                          "--tenant", "t"], capture_output=True, text=True, timeout=60,
                         preexec_fn=lambda: os.umask(0o022))
    assert out.returncode == 0, out.stderr
    assert _mode(db) == 0o600 and _mode(db.parent) == 0o700


def test_opening_a_store_others_can_read_warns(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "open.db"
    Memory(db, embedder=HashingEmbedder()).close()
    os.chmod(db, 0o644)
    with caplog.at_level(logging.WARNING, logger="remem"):
        Memory(db, embedder=HashingEmbedder()).close()
    assert any("readable by other users" in r.getMessage() for r in caplog.records), caplog.text
    assert _mode(db) == 0o644  # not changed behind the owner's back
