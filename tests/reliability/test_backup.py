"""Online backup while another process keeps writing, and restore: each backup passes the
integrity check, opens as a ``Memory``, holds a prefix of the writer's batches (all whole,
every one of them acknowledged), and restores to the same contents."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from remem import HashingEmbedder, InvalidInput, Memory
from remem.store.sqlite.backup import backup, restore
from remem.cli import main

from . import kit


BATCHES = 600


def _order(batch: str) -> int:
    return int(batch.rsplit("b", 1)[1])


def test_backup_under_concurrent_writes_is_a_consistent_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    writer = kit.spawn(kit.WRITER, db, "bk", BATCHES, 8, 7)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(writer.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    own = Memory(db, embedder=HashingEmbedder())  # a second, in-process handle
    snapshots = []
    try:
        for k in range(6):
            time.sleep(0.1)
            acked_before = set(kit.acknowledged("".join(lines)))
            source = own if k % 2 else db  # a Memory, or a path
            info = backup(source, tmp_path / f"b{k}.db")
            snapshots.append((tmp_path / f"b{k}.db", acked_before, info))
    finally:
        writer.wait(timeout=120)
        reader.join(timeout=10)
        err = writer.stderr.read() if writer.stderr else ""
        for pipe in (writer.stdout, writer.stderr):
            if pipe is not None:
                pipe.close()
    assert writer.returncode == 0, err
    acked = kit.acknowledged("".join(lines))
    assert len(acked) == BATCHES
    assert sum(1 for _, before, _ in snapshots if 0 < len(before) < BATCHES) >= 3  # mid-write

    for path, acked_before, info in snapshots:
        assert kit.integrity(path) == ["ok"]
        stored = kit.batches(path)
        assert info.episodes == sum(n for _, n, _ in stored.values())
        assert all(size == eps == turns for size, eps, turns in stored.values()), path
        assert set(stored) <= set(acked)  # nothing the writer never finished
        assert acked_before <= set(stored)  # everything acknowledged before it started
        order = sorted(_order(b) for b in stored)
        assert order == list(range(len(order)))  # a prefix of the write order
        with Memory(path, embedder=HashingEmbedder()) as m:
            if order:
                last = f"bkb{order[-1]}"
                hits = m.search(f"{acked[last][0]}z", user_id="crash", limit=3)
                assert any(acked[last][0] in h.source_ids for h in hits)
        # restore round trip to a new file: the same rows
        restored = tmp_path / f"restored-{path.name}"
        restore(path, restored)
        assert kit.fingerprint(restored) == kit.fingerprint(path)
    sizes = [len(kit.batches(p)) for p, _, _ in snapshots]
    print(f"\nbackup under writes: {len(snapshots)} backups while {BATCHES} batches were written; "
          f"batches per backup {sizes}; all whole, acknowledged, prefix-consistent")

    # restore over the live store while a Memory holds it open: it sees the snapshot
    first, _, _ = snapshots[1]
    expect = kit.source_counts(first)
    restore(first, db, overwrite=True)
    assert kit.source_counts(db) == expect
    assert kit.integrity(db) == ["ok"]
    last = acked[f"bkb{BATCHES - 1}"][0]
    assert not any(last in h.source_ids
                   for h in own.search(f"{last}z", user_id="crash", limit=3))
    with Memory(first, embedder=HashingEmbedder()) as snap:
        want = {i.id for i in snap.get_all(user_id="crash", limit=100_000)}
    assert {i.id for i in own.get_all(user_id="crash", limit=100_000)} == want
    own.add("after the restore: quokka", user_id="crash")
    assert own.search("quokka", user_id="crash")[0].text == "after the restore: quokka"
    own.close()


def test_backup_and_restore_refuse_what_they_should(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Memory(db, embedder=HashingEmbedder()) as m:
        m.add("I keep a kiwi plant", user_id="ana")
    backup(db, tmp_path / "b.db")
    before = (tmp_path / "b.db").read_bytes()
    with pytest.raises(InvalidInput, match="already exists"):
        backup(db, tmp_path / "b.db")
    assert (tmp_path / "b.db").read_bytes() == before
    with pytest.raises(InvalidInput, match="directory"):
        backup(db, tmp_path)
    with pytest.raises(InvalidInput, match="no store"):
        backup(tmp_path / "missing.db", tmp_path / "x.db")
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    with pytest.raises(InvalidInput, match="not a remem store"):
        restore(other, tmp_path / "r.db")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(InvalidInput, match="not an SQLite database"):
        restore(tmp_path / "junk.db", tmp_path / "r.db")
    with pytest.raises(InvalidInput, match="already exists"):
        restore(tmp_path / "b.db", db)
    with pytest.raises(InvalidInput, match="not an SQLite database"):
        restore(tmp_path / "b.db", tmp_path / "junk.db", overwrite=True)
    assert not (tmp_path / "r.db").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".remem-")) == []
    backup(db, tmp_path / "b.db", overwrite=True)


def test_cli_backup_and_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, dest, new = tmp_path / "c.db", tmp_path / "c-backup.db", tmp_path / "c-new.db"
    with Memory(db, embedder=HashingEmbedder()) as m:
        m.add("My sister lives in Oslo", user_id="ana")
    assert main(["--db", str(db), "backup", str(dest)]) == 0
    assert '"episodes": 1' in capsys.readouterr().out
    assert main(["--db", str(db), "backup", str(dest)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["--db", str(db), "backup", str(dest), "--force", "--plain"]) == 0
    assert main(["--db", str(new), "restore", str(dest)]) == 0
    assert main(["--db", str(new), "restore", str(dest)]) == 1
    assert main(["--db", str(new), "restore", str(dest), "--force"]) == 0
    capsys.readouterr()
    with Memory(new, embedder=HashingEmbedder()) as m:
        assert m.search("Oslo", user_id="ana")[0].text == "My sister lives in Oslo"
