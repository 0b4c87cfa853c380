from datetime import datetime, timezone

from remem.search.packing import dedupe, estimate_tokens, format_hit, pack
from remem.types import Hit


def hit(i: str, text: str, day: int, sources=None, session="s1", speaker="Ana", dates=()):
    t = datetime(2023, 5, day, tzinfo=timezone.utc)
    return Hit(id=i, text=text, score=1.0, source_ids=tuple(sources or [i]), type="turn",
               created_at=t, event_time=t, metadata={}, speaker=speaker, session_id=session,
               dates=dates)


def test_format_hit_has_date_speaker_and_resolved_dates():
    line = format_hit(hit("a", "I went yesterday", 8, dates=("7 May 2023",)))
    assert line == "[2023-05-08] Ana: I went yesterday (dates mentioned: 7 May 2023)"


def test_pack_is_chronological_within_budget():
    hits = [hit("c", "third thing happened", 9, session="s2"), hit("a", "first thing", 1),
            hit("b", "second thing " * 3, 5)]
    kept, context = pack(hits, 1000)
    assert [h.id for h in kept] == ["a", "b", "c"]
    assert context.index("first thing") < context.index("second thing") < context.index("third")
    assert "## session s1" in context and "## session s2" in context
    assert estimate_tokens(context) <= 1000


def test_pack_respects_budget_and_prefers_rank_order():
    long = hit("long", "word " * 200, 2)
    short = [hit(f"s{i}", f"short fact number {i}", 3 + i) for i in range(3)]
    kept, context = pack([short[0], long, short[1], short[2]], 60)
    ids = {h.id for h in kept}
    assert "long" not in ids and ids == {"s0", "s1", "s2"}
    assert estimate_tokens(context) <= 60
    kept, context = pack([long], 5)
    assert kept == [] and context == ""


def test_dedupe_drops_covered_and_repeated_hits():
    seg = hit("seg", "Ana: a\nMax: b", 1, sources=["t1", "t2"])
    t1 = hit("t1", "a", 1)
    again = hit("x", "Same  TEXT", 2)
    again2 = hit("y", "same text", 3)
    out = dedupe([seg, t1, again, again2, hit("t3", "new", 4)])
    assert [h.id for h in out] == ["seg", "x", "t3"]
