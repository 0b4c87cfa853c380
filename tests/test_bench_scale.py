"""``remem.bench.scale`` on a real SQLite file with the hashing embedder (no timing asserts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from remem import HashingEmbedder, Memory
from remem.bench import scale


def test_synthetic_turns_are_deterministic_and_diverse() -> None:
    a, b = scale.synthetic_turns(500, seed=3), scale.synthetic_turns(500, seed=3)
    assert a == b
    assert a != scale.synthetic_turns(500, seed=4)
    assert [t["id"] for t in a] == [f"t{i}" for i in range(500)]
    assert all(t["role"] == "user" and t["name"] and t["content"].strip() for t in a)
    texts = [t["content"] for t in a]
    assert len(set(texts)) >= 0.9 * len(texts)
    assert len({t["name"] for t in a}) > 5
    assert len(scale.TEMPLATES) >= 40


def test_run_reports_a_point_per_size(tmp_path: Path) -> None:
    path = tmp_path / "scale.db"
    ticks: list[tuple[int, int]] = []
    result = scale.run(lambda: Memory(path, embedder=HashingEmbedder()), sizes=[100, 300],
                       queries=5, batch=50, progress=lambda d, t: ticks.append((d, t)))
    points = result["points"]
    assert [p["size"] for p in points] == [100, 300]
    for p in points:
        for key in ("ingest_turns_per_s", "search_p50_ms", "search_p95_ms", "search_max_ms",
                    "store_bytes", "bytes_per_memory", "beyond_text_bytes_per_memory"):
            assert p[key] > 0, key
        assert p["beyond_text_bytes_per_memory"] < p["bytes_per_memory"]
        assert p["memories"] >= p["size"]  # one turn memory per turn, plus segments
        assert p["search_p50_ms"] <= p["search_p95_ms"] <= p["search_max_ms"]
    assert points[1]["memories"] > points[0]["memories"]
    assert result["config"]["sizes"] == [100, 300]
    assert ticks and ticks[-1][0] == ticks[-1][1]
    assert "p95 ms" in scale.format_plain(result)

    turns = scale.synthetic_turns(300, seed=0)
    with Memory(path, embedder=HashingEmbedder()) as mem:
        assert sum(1 for m in mem.get_all(user_id="scale-0", limit=10_000) if m.type == "turn") == 300
        planted = turns[137]
        hits = mem.search(planted["content"], user_id="scale-0", limit=5)
        assert any("t137" in h.source_ids for h in hits)
        mem.add([{"role": "user", "name": "Ana", "id": "planted",
                  "content": "My axolotl Quetzalcoatl escaped into the aquarium filter."}],
                user_id="scale-0", session_id="extra")
        top = mem.search("axolotl Quetzalcoatl aquarium", user_id="scale-0", limit=3)
        assert top[0].source_ids == ("planted",)


def test_run_spreads_users_and_measures_scope_zero(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    result = scale.run(lambda: Memory(path, embedder=HashingEmbedder()), sizes=[60],
                       users=3, queries=2, batch=20)
    (point,) = result["points"]
    with Memory(path, embedder=HashingEmbedder()) as mem:
        counts = [mem.count(user_id=f"scale-{u}") for u in range(3)]
    assert point["memories"] == counts[0]
    assert point["total_memories"] == sum(counts)
    assert all(c >= 60 for c in counts)


@pytest.mark.parametrize("sizes", [[], [300, 100], [0, 10]])
def test_run_rejects_bad_sizes(tmp_path: Path, sizes: list[int]) -> None:
    with pytest.raises(ValueError):
        scale.run(lambda: Memory(tmp_path / "x.db", embedder=HashingEmbedder()), sizes=sizes)


def test_cli_scale_writes_json_and_png(tmp_path) -> None:  # noqa: ANN001
    from remem.cli import main

    out = tmp_path / "scale.json"
    assert main(["--embedder", "hashing", "bench", "scale", "--sizes", "50,120",
                 "--queries", "5", "--batch", "25", "--out", str(out)]) == 0
    import json

    result = json.loads(out.read_text())
    assert [p["size"] for p in result["points"]] == [50, 120]
    png = out.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
