"""Query terms and their pruning (``remem.search.terms``): pure, and over a fake store."""

from __future__ import annotations

from typing import Any, Sequence

from remem.search.terms import lexical_terms, prune_terms, query_terms, terms_of
from remem.store.protocol import QueryTerms
from remem.types import Scope


def test_query_terms_drop_stopwords_and_apostrophe_stubs() -> None:
    assert query_terms("Where does Dmitri's sister live?") == ["dmitri", "sister", "live"]
    assert query_terms("the and of") == ["the", "and", "of"]  # nothing else: keep them
    assert query_terms("?! ...") == []


def test_query_terms_are_stemmed_folded_deduplicated_and_capped() -> None:
    assert query_terms("Running runs in the Café, café!") == ["run", "cafe"]
    assert len(query_terms(" ".join(f"word{i}" for i in range(100)))) == 64


class _Stats:
    """A store's ``doc_freqs`` and nothing else: what pruning asks of the store."""

    def __init__(self, n: int, dfs: dict[str, int]) -> None:
        self.n, self.dfs, self.calls = n, dfs, 0

    def doc_freqs(self, scope: Scope, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        self.calls += 1
        return self.n, {t: self.dfs.get(t, 0) for t in terms}


def _terms(store: Any, query: str, **kw: Any) -> list[str]:
    kw = {"max_df": 0.25, "prune_min_rows": 100, "max_postings": None, **kw}
    return list(lexical_terms(store, Scope("u"), query, **kw).terms)


def test_the_words_of_the_kept_terms_go_with_them() -> None:
    """A store with its own analyser (PostgreSQL) searches the words the terms came from."""
    assert terms_of("Dmitri's dogs, the dog!") == QueryTerms(("dmitri", "dog"),
                                                          ("dmitri's", "dogs", "dog"))
    kept = lexical_terms(_Stats(1000, {"dog": 900, "dmitri": 2}), Scope("u"),
                         "Dmitri's dogs, the dog!", max_df=0.25, prune_min_rows=100,
                         max_postings=None)
    assert kept == QueryTerms(("dmitri",), ("dmitri's",))


def test_lexical_terms_prune_common_terms_only_in_large_indexes() -> None:
    dfs = {"common": 900, "zebra": 3}
    assert _terms(_Stats(1000, dfs), "common zebra") == ["zebra"]
    assert _terms(_Stats(99, dfs), "common zebra") == ["common", "zebra"]  # small index
    assert _terms(_Stats(1000, dfs), "common zebra", max_df=None) == ["common", "zebra"]
    assert _terms(_Stats(1000, dfs), "common zebra", max_postings=2) == ["zebra"]


def test_lexical_terms_ask_no_statistics_for_one_term_or_none() -> None:
    store = _Stats(1000, {"zebra": 900})
    assert _terms(store, "zebra") == ["zebra"] and _terms(store, "?!") == []
    assert store.calls == 0


class _NoStats(_Stats):
    def doc_freqs(self, scope: Scope, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        return 0, {}  # as PostgreSQL answers


def test_a_store_without_statistics_is_never_pruned() -> None:
    assert _terms(_NoStats(0, {}), "common zebra", prune_min_rows=0) == ["common", "zebra"]
    assert prune_terms({"a": 5, "b": 5}, 1, None) in (["a"], ["b"])  # never empty


def test_stems_come_from_libstemmer_and_equal_the_pure_python_porter_stemmer() -> None:
    """Stemming runs in C (PyStemmer, which snowballstemmer uses when installed): a
    user's first search stems every word of their memories, ~40 us a word in Python.
    The C stemmer must give the very stems the pure-Python one gives, or stores indexed
    with one would not match queries analysed with the other."""
    import json
    import re
    from pathlib import Path

    import Stemmer
    from snowballstemmer.porter_stemmer import PorterStemmer

    from remem import _text

    _text.stem("warm")
    assert isinstance(_text._STEMMER, Stemmer.Stemmer)
    vocab = json.loads((Path(_text.__file__).parent / "embed" / "model" / "tokenizer.json")
                       .read_text())["model"]["vocab"]
    words = sorted(w for w in vocab if re.fullmatch(r"[a-z0-9]+", w))
    words += [w + end for w in words[:3000] for end in ("s", "ing", "ed", "ly", "ational")]
    words += ["café", "поездка", "straße", "日本語", "x" * 300]
    python = PorterStemmer()
    assert [w for w in words if _text.stem(w) != python.stemWord(w)] == []
