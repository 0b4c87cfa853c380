"""Benchmark metrics as pure functions, and category 6 (knowledge update) in the LoCoMo
reader: ``stale`` turns are read and ``current_first`` is reported."""

from __future__ import annotations

import json
from pathlib import Path

from remem import HashingEmbedder, Memory
from remem.bench import locomo
from remem.bench.metrics import current_first


def test_current_first_counts_the_first_hit_that_credits_either() -> None:
    cur, stale = {"D3:1"}, {"D1:1", "D2:4"}
    assert current_first([("x", ["D9:9"]), ("now", ["D3:1"]), ("old", ["D1:1"])], cur, stale) == 1.0
    assert current_first([("old", ["D2:4"]), ("now", ["D3:1"])], cur, stale) == 0.0
    # a hit crediting both is a miss; a ranking crediting neither is a miss
    assert current_first([("both", ["D1:1", "D3:1"])], cur, stale) == 0.0
    assert current_first([("x", ["D9:9"])], cur, stale) == 0.0
    assert current_first([], cur, stale) == 0.0


def test_bench_reads_stale_and_reports_current_first(tmp_path: Path) -> None:
    story = {
        "speaker_a": "Priya", "speaker_b": "Assistant",
        "session_1": [{"speaker": "Priya", "dia_id": "D1:1", "text": "I work nights at Harland Bank."}],
        "session_1_date_time": "4:32 pm on 14 February, 2022",
        "session_2": [{"speaker": "Priya", "dia_id": "D2:1", "text": "First week at the bakery went well."}],
        "session_2_date_time": "4:32 pm on 14 February, 2023",
        "qa": [{"question": "Where does Priya work?", "answer": "bakery", "category": 6,
                "evidence": ["D2:1"], "stale": ["D1:1"]},
               {"question": "When did Priya start at the bakery?", "answer": "Feb 2023",
                "category": 2, "evidence": ["D2:1"]}],
    }
    f = tmp_path / "s01.json"
    f.write_text(json.dumps(story))
    [conv] = locomo.load(f)
    assert conv.questions[0].stale == frozenset({"D1:1"}) and not conv.questions[1].stale
    result = locomo.run(lambda: Memory(":memory:", embedder=HashingEmbedder()), [conv])
    cat6 = result["categories"]["6-knowledge-update"]
    assert cat6["n"] == 1 and cat6["n_current_first"] == 1
    assert cat6["current_first"] in (0.0, 1.0)
    assert result["overall"]["n"] == 2  # category 6 counts in the overall figures
    assert "current_first" in locomo.format_plain(result)
