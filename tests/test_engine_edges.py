"""Edge cases found by the server's fuzzing, checked at the engine."""

import pytest

from remem import HashingEmbedder, InvalidInput, Memory, NotFound
from remem.search.terms import lexical_terms, prune_terms
from remem.types import Scope


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


def test_common_terms_are_pruned_only_in_large_scopes(m):
    for i in range(30):
        m.add(f"common words everywhere number {i}", user_id="u")
    m.add("common words and a rare zebra", user_id="u")
    index = m.store._lexicon("u").index
    dfs = {t: index.doc_freq(t) for t in ("common", "zebra")}
    assert dfs == {"common": 31, "zebra": 1}
    assert prune_terms(dfs, 0.25 * 31, None) == ["zebra"]  # the term in most rows goes
    assert prune_terms(dfs, 31, None) == ["common", "zebra"]
    # never empty: the rarest term is kept even if all are common
    assert prune_terms({"common": 31, "words": 31}, 1, None) in (["common"], ["words"])
    # below prune_min_rows the query is untouched (both terms score), above it "common"
    # no longer counts: the zebra row's score is then zebra's alone
    def lexical(min_rows: int) -> dict[str, float]:
        terms = lexical_terms(m.store, Scope("u"), "common zebra", max_df=0.25,
                              prune_min_rows=min_rows, max_postings=None)
        return dict(m.store.lexical(Scope("u"), terms, 5))

    full, pruned = lexical(10_000), lexical(1)
    assert len(full) == 5 and len(pruned) == 1 and max(full.values()) > max(pruned.values())
    hits = m.search("common zebra", user_id="u", limit=3)
    assert "zebra" in hits[0].text


def test_posting_budget_keeps_the_rarest_terms():
    dfs = {"alpha": 30, "gamma": 10, "delta": 3}
    assert prune_terms(dfs, 30, None) == ["alpha", "gamma", "delta"]  # no budget
    # delta (3 rows) + gamma (10 rows) fit in 13; alpha (30 rows) does not
    assert prune_terms(dfs, 30, 13) == ["gamma", "delta"]
    assert prune_terms(dfs, 30, 12) == ["delta"]
    assert prune_terms(dfs, 30, 1) == ["delta"]  # never empty


def test_access_counts_are_written_off_the_search_path(m):
    ids = [m.add(f"note {i} about topic{i}zz", user_id="u").memory_ids[0] for i in range(300)]
    for i in range(300):  # each search returns one new memory: the batch fills at 256
        assert m.search(f"topic{i}zz", user_id="u", limit=1)[0].id == ids[i]
    flusher = m._flusher
    assert flusher is not None and flusher.name == "remem-access-flush"
    flusher.join(timeout=30)
    import sqlite3

    def counted() -> list[int]:
        with sqlite3.connect(m.store.path) as db:
            got = dict(db.execute("SELECT id, access_count FROM memories"))
        return [got[i] for i in ids]

    # the worker takes what is pending when it starts (at least the first 256 searches)
    before = counted()
    assert before[:256] == [1] * 256 and set(before) <= {0, 1}
    m.close()  # ... until close writes them
    assert counted() == [1] * 300
