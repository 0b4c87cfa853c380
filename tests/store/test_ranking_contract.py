"""Both stores rank alike: the same BM25 (tokenizer, stemmer, per-user statistics) and the
same term statistics for fusion, so a user who moves from SQLite to PostgreSQL gets the
same answers. A fixed corpus goes into a fresh store of each kind; rankings are compared."""

from __future__ import annotations

from typing import Any

from remem import HashingEmbedder, Memory
from remem.search.terms import terms_of
from remem.types import Scope

from .conftest import new_pg_database

PEOPLE = ["Ana", "Bruno", "Chiara", "Dmitri"]
THINGS = ["guitar lessons", "running shoes", "the marathon", "sourdough bread", "a trip to Lisbon",
          "the book club", "her dog Pimenta", "painting classes", "the new job", "a broken laptop"]
VERBS = ["talked about", "is worried about", "loves", "bought", "cancelled", "is planning"]
QUERIES = ["guitar", "Who is planning a trip to Lisbon?", "dog Pimenta", "running the marathon",
           "what did Chiara buy", "book club worries", "laptops broke", "new job painting",
           "zzz unknown words", "Ana's sourdough"]


def _corpus(user: int) -> list[dict[str, Any]]:
    out = []
    for i in range(60 + 15 * user):  # users of different sizes: per-user statistics differ
        who = PEOPLE[(i + user) % len(PEOPLE)]
        what = THINGS[(i * 3 + user) % len(THINGS)]
        verb = VERBS[(i * 7 + user) % len(VERBS)]
        extra = " and said it again" * (i % 3)  # lengths differ: BM25 length normalisation
        out.append({"role": "user", "name": who, "content": f"{who} {verb} {what}{extra}.",
                    "id": f"u{user}-{i}"})
    return out


def _fill(m: Memory) -> None:
    for u in range(3):
        turns = _corpus(u)
        for i in range(0, len(turns), 25):
            m.add(turns[i:i + 25], user_id=f"u{u}", session_id=f"s{i // 25}",
                  agent_id="a" if u == 1 and i else None)
    # changes after the adds: an update, a delete, an archive (the caches must follow)
    first = m.get_all(user_id="u0", limit=3)
    m.update(first[0].id, "Ana sold her guitar and bought running shoes.")
    m.delete(first[1].id)
    m.store.set_status([first[2].id], "archived")


def _ranked(m: Memory, scope: Scope, query: str, **kw: Any) -> list[tuple[str, float]]:
    hits = m.store.lexical(scope, terms_of(query), 20, **kw)
    texts = {r.id: r.text for r in m.store.fetch([i for i, _ in hits])}
    return [(texts[i], round(s, 4)) for i, s in hits]


def test_sqlite_and_postgresql_rank_alike(pg_server: Any, tmp_path: Any) -> None:
    stores = [Memory(str(tmp_path / "m.db"), embedder=HashingEmbedder()),
              Memory(new_pg_database(pg_server), embedder=HashingEmbedder())]
    try:
        for m in stores:
            _fill(m)
        for scope in (Scope("u0"), Scope("u1"), Scope("u1", agent_id="a"),
                      Scope("u2", session_id="s1")):
            for q in QUERIES:
                lite, pg = (_ranked(m, scope, q) for m in stores)
                assert lite == pg, (scope, q)
                assert lite or q.startswith("zzz"), (scope, q)
                no_keys = [_ranked(m, scope, q, keys_weight=0.0) for m in stores]
                assert no_keys[0] == no_keys[1], (scope, q)
                some = {t for t, _ in lite[::2]}  # every other hit, by text
                only = [_ranked(m, scope, q, allowed={r.id for r in m.get_all(
                    user_id=scope.user_id, limit=1000) if r.text in some}) for m in stores]
                assert only[0] == only[1] and {t for t, _ in only[0]} <= some, (scope, q)
                terms = list(terms_of(q).terms)
                assert stores[0].store.doc_freqs(scope, terms) == stores[1].store.doc_freqs(scope, terms)
        n, dfs = stores[1].store.doc_freqs(Scope("u0"), ["guitar", "zzz"])
        assert n > 0 and dfs["guitar"] > 0 and dfs["zzz"] == 0
        for q in QUERIES:  # and the whole search returns the same memories, alike scored
            a, b = ([(h.text, round(h.score, 4)) for h in m.search(q, user_id="u2", limit=8)]
                    for m in stores)
            assert a == b, q
    finally:
        for m in stores:
            m.close()


def test_an_empty_user_has_no_statistics(pg_server: Any) -> None:
    with Memory(new_pg_database(pg_server), embedder=HashingEmbedder()) as m:
        assert m.store.doc_freqs(Scope("nobody"), ["x"]) == (0, {"x": 0})
        assert m.store.lexical(Scope("nobody"), terms_of("x"), 5) == []
