"""Pure helpers: tokenising, FTS query building, rank fusion, benchmark metrics."""

from __future__ import annotations

import pytest

from remem._text import STOPWORDS, content_words, word_count, words
from remem.bench.metrics import percentile, recall_at_k, recall_by_turns, recall_within_words
from remem.search.fusion import order, rrf


# -- words / content_words --------------------------------------------------------------
def test_words_lowercases_and_keeps_inner_apostrophes() -> None:
    assert words("Ana's DOG can't swim!") == ["ana's", "dog", "can't", "swim"]


def test_words_normalises_curly_apostrophe_and_splits_underscores() -> None:
    assert words("Ana’s snake_case 2024") == ["ana's", "snake", "case", "2024"]
    assert word_count("Ana’s snake_case 2024") == 4


def test_words_unicode_letters() -> None:
    assert words("Café São-Paulo") == ["café", "são", "paulo"]


def test_content_words_drop_stopwords_and_deduplicate_in_order() -> None:
    assert content_words("The dog and the cat and THE dog") == ["dog", "cat"]
    assert content_words("what is it?") == []
    assert "the" in STOPWORDS and "dog" not in STOPWORDS


# -- rrf / order ------------------------------------------------------------------------
def test_rrf_contributions_use_one_based_ranks() -> None:
    parts = rrf({"lexical": ["a", "b"], "dense": ["b", "c"]}, k=60)
    assert parts == {
        "a": {"lexical": 1 / 61},
        "b": {"lexical": 1 / 62, "dense": 1 / 61},
        "c": {"dense": 1 / 62},
    }


def test_rrf_weights_scale_each_signal() -> None:
    parts = rrf({"lexical": ["a"], "dense": ["a"]}, {"lexical": 2.0, "dense": 0.5}, k=10)
    assert parts["a"]["lexical"] == pytest.approx(2.0 / 11)
    assert parts["a"]["dense"] == pytest.approx(0.5 / 11)


def test_rrf_missing_weight_defaults_to_one() -> None:
    parts = rrf({"lexical": ["a"], "dense": ["a"]}, {"lexical": 3.0}, k=1)
    assert parts["a"] == {"lexical": 1.5, "dense": 0.5}


def test_rrf_zero_weight_drops_the_signal() -> None:
    parts = rrf({"lexical": ["a", "b"], "dense": ["c"]}, {"lexical": 0.0, "dense": 1.0})
    assert set(parts) == {"c"}
    assert "lexical" not in parts["c"]


def test_order_sums_parts_and_breaks_ties_by_id() -> None:
    parts = rrf({"lexical": ["a", "b"], "dense": ["b", "a"]}, k=60)
    ranked = order(parts)
    # a and b have identical totals: tie broken by id
    assert [d for d, _ in ranked] == ["a", "b"]
    assert ranked[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_order_best_first() -> None:
    parts = rrf({"lexical": ["z", "y", "x"], "dense": ["z", "x"]})
    assert [d for d, _ in order(parts)] == ["z", "x", "y"]
    assert order({}) == []


# -- bench metrics ----------------------------------------------------------------------
RANKED = [
    ("first", ["t1"]),
    ("second", ["t2", "t3"]),
    ("third", ["t3"]),
    ("fourth", ["t4"]),
]


def test_recall_at_k() -> None:
    assert recall_at_k(RANKED, {"t1", "t4"}, 1) == 0.5
    assert recall_at_k(RANKED, {"t1", "t4"}, 3) == 0.5
    assert recall_at_k(RANKED, {"t1", "t4"}, 4) == 1.0
    assert recall_at_k(RANKED, {"t3"}, 2) == 1.0
    assert recall_at_k(RANKED, {"missing"}, 10) == 0.0
    assert recall_at_k(RANKED, set(), 10) == 0.0
    assert recall_at_k([], {"t1"}, 5) == 0.0


def test_recall_by_turns_counts_distinct_credited_turns() -> None:
    # turns credited in order: t1, t2, t3, t4 (t3 twice, counted once)
    assert recall_by_turns(RANKED, {"t3"}, 2) == 0.0
    assert recall_by_turns(RANKED, {"t3"}, 3) == 1.0
    assert recall_by_turns(RANKED, {"t4"}, 3) == 0.0
    assert recall_by_turns(RANKED, {"t4"}, 4) == 1.0
    assert recall_by_turns(RANKED, {"t1", "t4", "zz"}, 10) == pytest.approx(2 / 3)
    assert recall_by_turns(RANKED, set(), 10) == 0.0


def test_recall_within_words_charges_text_words() -> None:
    ranked = [("one two three", ["a"]), ("four five", ["b"])]
    assert recall_within_words(ranked, {"a", "b"}, 3, {}) == 0.5
    assert recall_within_words(ranked, {"a", "b"}, 5, {}) == 1.0
    assert recall_within_words(ranked, {"a", "b"}, 2, {}) == 0.0  # first hit already too big


def test_recall_within_words_a_hit_crediting_many_turns_pays_for_them() -> None:
    # a short text that credits three 10-word turns costs 30 words, not 2
    ranked = [("short text", ["t1", "t2", "t3"]), ("next", ["t4"])]
    turn_words = {"t1": 10, "t2": 10, "t3": 10, "t4": 10}
    assert recall_within_words(ranked, {"t1"}, 29, turn_words) == 0.0
    assert recall_within_words(ranked, {"t1", "t4"}, 30, turn_words) == 0.5
    assert recall_within_words(ranked, {"t1", "t4"}, 40, turn_words) == 1.0


def test_recall_within_words_turns_already_counted_are_free() -> None:
    ranked = [("a b c d e", ["t1"]), ("x", ["t1"]), ("y", ["t2"])]
    turn_words = {"t1": 5, "t2": 1}
    # second hit re-credits t1 (cost max(1 word, 0) = 1), third costs 1: 5 + 1 + 1 = 7
    assert recall_within_words(ranked, {"t2"}, 7, turn_words) == 1.0
    assert recall_within_words(ranked, {"t2"}, 6, turn_words) == 0.0
    assert recall_within_words(ranked, set(), 100, turn_words) == 0.0


def test_percentile_edges() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([7.0], 50) == 7.0
    assert percentile([3, 1, 2], 0) == 1.0
    assert percentile([3, 1, 2], 100) == 3.0
    assert percentile([5, 1, 4, 2, 3], 50) == 3.0


def test_percentile_is_nearest_rank() -> None:
    # nearest rank: the ceil(q/100 * n)-th smallest value
    assert percentile(list(range(1, 11)), 50) == 5.0
    assert percentile([1, 2], 50) == 1.0
    assert percentile(list(range(1, 21)), 95) == 19.0


# -- name mentions (speaker boost) ------------------------------------------------------
def test_mentioned_names_whole_words_case_insensitive() -> None:
    from remem.search.stages import mentioned_names

    names = ["Ana", "Max", "Ana Lima", "Bo"]
    assert mentioned_names("where does ana work?", names) == {"Ana", "Ana Lima"}
    assert mentioned_names("Did MAX call?", names) == {"Max"}
    assert mentioned_names("Banana bread", names) == set()  # not a whole word
    assert mentioned_names("nothing here", []) == set()


def test_mentioned_names_sees_possessives() -> None:
    from remem.search.stages import mentioned_names

    assert mentioned_names("What are Ana's hobbies?", ["Ana", "Max"]) == {"Ana"}
