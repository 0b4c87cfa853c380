"""Crash safety: a writer process is SIGKILLed at a random moment mid-ingest, round after
round, on the same store. After each kill the store passes SQLite's integrity check, every
batch the writer saw acknowledged is present exactly once and searchable, and no batch is
visible in part."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from remem import HashingEmbedder, Memory

from . import kit

ROUNDS = 24

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


def test_sigkill_mid_ingest_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    rng = random.Random(20240508)
    acked: dict[str, list[str]] = {}
    stats = {"killed_mid_run": 0, "acked_batches": 0, "committed_unacked": 0, "searches": 0}
    for rnd in range(ROUNDS):
        # a large batch now and then: a kill is more likely to land inside one
        child = kit.spawn(kit.WRITER, db, f"r{rnd}", 400, rng.choice([4, 8, 40]), rnd)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        out, err = kit.finish(child)
        if child.returncode == -signal.SIGKILL:
            stats["killed_mid_run"] += 1
        else:  # finished every batch before the kill landed: fine, but say so
            assert child.returncode == 0, err
        new = kit.acknowledged(out)
        acked.update(new)
        stats["acked_batches"] += len(new)

        assert kit.integrity(db) == ["ok"], f"round {rnd}"
        stored = kit.batches(db)
        for batch, (size, n_eps, n_turns) in stored.items():
            assert n_eps == size and n_turns == size, f"partial batch {batch}: {stored[batch]}"
        missing = [b for b in acked if b not in stored]
        assert not missing, f"acknowledged batches lost: {missing}"
        counts = kit.source_counts(db)
        dup = {s: c for s, c in counts.items() if c != 1}
        assert not dup, f"duplicated turns: {dup}"
        for b, ids in acked.items():
            assert all(counts.get(i) == 1 for i in ids), b
        unacked = [b for b in stored if b.startswith(f"r{rnd}b") and b not in new]
        assert len(unacked) <= 1  # at most the batch whose acknowledgement the kill cut off
        stats["committed_unacked"] += len(unacked)

        # searchable through the engine, after reopening the store the kill left behind
        with Memory(db, embedder=HashingEmbedder()) as mem:
            fresh = [i for ids in new.values() for i in ids]
            for source_id in rng.sample(fresh, min(10, len(fresh))) + fresh[-2:]:
                hits = mem.search(f"{source_id}z", user_id="crash", limit=3)
                stats["searches"] += 1
                assert any(source_id in h.source_ids for h in hits), source_id
    print(f"\ncrash safety: {ROUNDS} rounds, {stats}")
    assert stats["killed_mid_run"] >= ROUNDS // 2  # the kills did land mid-ingest
    assert stats["acked_batches"] > ROUNDS
