"""Edge cases found by the server's fuzzing, checked at the engine."""

import pytest

from remem import HashingEmbedder, InvalidInput, Memory, NotFound


@pytest.fixture()
def m(tmp_path):
    with Memory(tmp_path / "e.db", embedder=HashingEmbedder()) as mem:
        yield mem


def test_time_offset_outside_representable_range_is_invalid_input(m):
    for bad in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        with pytest.raises(InvalidInput, match="out of range"):
            m.add("hello there", user_id="u", timestamp=bad)
    assert m.count(user_id="u") == 0


def test_lone_surrogates_are_invalid_input(m):
    with pytest.raises(InvalidInput, match="Unicode"):
        m.add("bad \ud800 text", user_id="u")
    with pytest.raises(InvalidInput, match="Unicode"):
        m.add("fine", user_id="u\udfff")
    with pytest.raises(InvalidInput, match="Unicode"):
        m.search("q \ud800", user_id="u")
    assert m.count(user_id="u") == 0


def test_filters_hold_against_graph_and_segment_credit(m):
    m.add([
        {"role": "user", "name": "Ana", "content": "My grandma in Sweden gave me a necklace."},
        {"role": "user", "name": "Max", "content": "Sweden sounds lovely, I went to Sweden too."},
        {"role": "user", "name": "Ana", "content": "Stockholm in Sweden is my favourite city."},
    ], user_id="u")
    hits = m.search("Sweden necklace grandma", user_id="u", filters={"speaker": "Max"})
    assert hits and {h.speaker for h in hits} == {"Max"}


def test_history_is_scoped_to_its_user(m):
    mid = m.add("I keep bees", user_id="ana").memory_ids[0]
    assert [h.event for h in m.history(mid, user_id="ana")] == ["ADD"]
    assert m.history(mid)[0].user_id == "ana"
    with pytest.raises(NotFound):
        m.history(mid, user_id="bob")
    m.delete(mid)
    assert [h.event for h in m.history(mid, user_id="ana")] == ["ADD", "DELETE"]


def test_delete_all_leaves_no_entity_names_behind(m):
    m.add("I flew to Reykjavik with Bjorn last May", user_id="ana")
    m.add("Bjorn lives in Oslo", user_id="bob")
    assert "reykjavik" in m.store.entity_stats("ana")
    m.delete_all(user_id="ana")
    import sqlite3

    with sqlite3.connect(m.store.path) as db:
        names = {r[0] for r in db.execute("SELECT key FROM entities WHERE user_id='ana'")}
        bob = {r[0] for r in db.execute("SELECT key FROM entities WHERE user_id='bob'")}
    assert names == set()
    assert "oslo" in bob


def test_common_terms_are_pruned_only_in_large_indexes(m):
    for i in range(30):
        m.add(f"common words everywhere number {i}", user_id="u")
    m.add("common words and a rare zebra", user_id="u")
    store = m.store
    # below the row threshold the query is untouched
    assert store._prune_terms('"common" OR "zebra"', 0.25, 10_000) == '"common" OR "zebra"'
    # above it, the term in most rows goes and the rare one stays
    assert store._prune_terms('"common" OR "zebra"', 0.25, 1) == '"zebra"'
    # never empty: the rarest term is kept even if all are common
    assert store._prune_terms('"common" OR "words"', 0.25, 1) in ('"common"', '"words"')
    hits = m.search("common zebra", user_id="u", limit=3)
    assert "zebra" in hits[0].text


def test_posting_budget_keeps_the_rarest_terms(m):
    for i in range(30):
        m.add(f"alpha beta number {i} {'gamma' if i < 10 else ''} {'delta' if i < 3 else ''}",
              user_id="u")
    store = m.store
    q = '"alpha" OR "gamma" OR "delta"'
    assert store._prune_terms(q, 1.0, 1) == q  # no budget: max_df 1.0 keeps every term
    # delta (3 rows) + gamma (10 rows) fit in 13; alpha (30 rows) does not
    assert store._prune_terms(q, 1.0, 1, max_postings=13) == '"gamma" OR "delta"'
    assert store._prune_terms(q, 1.0, 1, max_postings=12) == '"delta"'
    assert store._prune_terms(q, 1.0, 1, max_postings=1) == '"delta"'  # never empty
