"""Several processes write the same store at once (plus one reading): every call
succeeds (no "database is locked" reaches anyone), and no write is lost or duplicated."""

from __future__ import annotations

from pathlib import Path

from remem import HashingEmbedder, Memory

from . import kit

WRITERS = 4
BATCHES = 40


def test_four_writers_and_a_reader_on_one_fresh_store(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"  # not created yet: the processes also race to migrate it
    stop = tmp_path / "stop"
    writers = [kit.spawn(kit.WRITER, db, f"w{k}", BATCHES, 6, 100 + k) for k in range(WRITERS)]
    reader = kit.spawn(kit.READER, db, stop)
    acked: dict[str, list[str]] = {}
    errors = []
    for w in writers:
        out, err = w.communicate(timeout=120)
        if w.returncode != 0 or err.strip():
            errors.append(err)
        acked.update(kit.acknowledged(out))
    stop.touch()
    r_out, r_err = reader.communicate(timeout=60)
    assert not errors, "\n".join(errors)
    assert reader.returncode == 0 and not r_err.strip(), r_err
    assert "locked" not in "".join(errors) + r_err

    assert len(acked) == WRITERS * BATCHES
    expected = sorted(i for ids in acked.values() for i in ids)
    counts = kit.source_counts(db)
    assert sorted(counts) == expected  # nothing lost, nothing extra
    assert set(counts.values()) == {1}  # nothing duplicated (re-adds were no-ops)
    stored = kit.batches(db)
    assert all(size == eps == turns for size, eps, turns in stored.values())
    assert kit.integrity(db) == ["ok"]
    with Memory(db, embedder=HashingEmbedder()) as mem:
        assert mem.count(user_id="crash", session_id="w0") >= len(acked["w0b0"])
    print(f"\nconcurrent writers: {WRITERS} processes x {BATCHES} adds ({len(expected)} turns) "
          f"+ reader ({r_out.strip()}): no errors, no lost or duplicated writes")
